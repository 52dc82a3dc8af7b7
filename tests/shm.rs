//! Shared-memory rings in one process: attach validation, the hardened
//! sides against a corrupted header, recovery, and the trusted attach.
//! (Two processes: `tests/shm_process.rs`.)

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use pcm_ring::shm::{self, ShmConsumer, ShmProducer};
use pcm_ring::{
    AttachError, Config, ConfigError, Format, Overrun, SampleFormat, Underrun, WriteError,
};

/// Byte offsets of the header words the tests corrupt (the layout document).
const WRITE: usize = 128;
const READ: usize = 384;
const PRODUCER_GEN: usize = 144;

/// A 4-byte aligned region of exactly `region_size` bytes (rounded up to 4).
/// Its address is taken once: the handles and the test's pokes all go
/// through that one raw pointer, as two processes' mappings would.
struct Region {
    words: Vec<u32>,
    base: NonNull<u8>,
    len: usize,
}

impl Region {
    fn new(config: &Config) -> Region {
        let len = shm::region_size(config).unwrap();
        let mut words = vec![0u32; len.div_ceil(4)];
        // `as_mut_ptr` makes no reference to the elements, so later uses of
        // the pointer stay valid.
        let base = NonNull::new(words.as_mut_ptr().cast::<u8>()).unwrap();
        Region { words, base, len }
    }

    fn base(&mut self) -> NonNull<u8> {
        debug_assert!(!self.words.is_empty());
        self.base
    }

    /// The header word at byte `offset`, as the peer would write it.
    fn word(&mut self, offset: usize) -> &AtomicU32 {
        // SAFETY: `offset` is 4-byte aligned and inside the region, which
        // lives as long as the returned reference's borrow of `self`; the
        // library accesses header words only atomically.
        unsafe { AtomicU32::from_ptr(self.base().as_ptr().add(offset).cast()) }
    }

    fn poke(&mut self, offset: usize, value: u32) {
        self.word(offset).store(value, Ordering::Release);
    }

    fn peek(&mut self, offset: usize) -> u32 {
        self.word(offset).load(Ordering::Acquire)
    }

    fn init(&mut self, config: &Config) {
        let (base, len) = (self.base(), self.len);
        // SAFETY: the region is ours and nothing is attached.
        unsafe { shm::init(config, base, len) }.unwrap();
    }

    /// Both hardened sides. The handles must not outlive the region: each
    /// test keeps the region alive until the end.
    fn hardened(&mut self, config: &Config) -> (ShmProducer<'static>, ShmConsumer<'static>) {
        self.init(config);
        let (base, len) = (self.base(), self.len);
        // SAFETY: the region outlives the handles in every test (it is
        // declared first and dropped last).
        unsafe {
            (
                shm::attach_producer(config, base, len).unwrap(),
                shm::attach_consumer(config, base, len).unwrap(),
            )
        }
    }
}

#[test]
fn attach_checks_alignment_size_magic_version_and_geometry() {
    let config = Config::raw(4, 64);
    let needed = shm::region_size(&config).unwrap();
    let mut region = Region::new(&config);
    let (base, len) = (region.base(), region.len);
    // SAFETY (every call below): the region is valid for `len` bytes and
    // outlives the attempts; none of them succeeds in attaching.
    unsafe {
        let odd = NonNull::new(base.as_ptr().add(1)).unwrap();
        assert_eq!(
            shm::init(&config, odd, len - 1),
            Err(AttachError::Misaligned {
                offset: 1,
                align: 4
            })
        );
        assert_eq!(
            shm::init(&config, base, needed - 1),
            Err(AttachError::TooSmall {
                needed,
                available: needed - 1
            })
        );
        assert_eq!(
            shm::init(&Config::raw(0, 64), base, len),
            Err(AttachError::Config(ConfigError::ZeroBlockAlign))
        );
        // Never initialised: the failed `init`s above wrote nothing.
        assert_eq!(
            shm::attach_consumer(&config, base, len).unwrap_err(),
            AttachError::Magic { found: 0 }
        );
        shm::init(&config, base, len).unwrap();
        assert_eq!(
            shm::attach_producer(&Config::raw(4, 32), base, len).unwrap_err(),
            AttachError::Geometry {
                found: (640, 64, 4),
                expected: (640, 32, 4)
            }
        );
        assert_eq!(
            shm::attach_producer(&Config::raw(2, 64), base, len).unwrap_err(),
            AttachError::Geometry {
                found: (640, 64, 4),
                expected: (640, 64, 2)
            }
        );
        assert_eq!(
            shm::attach_consumer(&config.overrun(Overrun::OverwriteOldest), base, len).unwrap_err(),
            AttachError::OverwriteAcrossTrustBoundary
        );
        assert_eq!(
            shm::attach_trusted_consumer(&config.overrun(Overrun::OverwriteOldest), base, len)
                .unwrap_err(),
            AttachError::OverrunMismatch
        );
    }
    region.poke(4, 99);
    // SAFETY: as above.
    let err = unsafe { shm::attach_consumer(&config, base, len) }.unwrap_err();
    assert_eq!(
        err,
        AttachError::Version {
            found: 99,
            supported: shm::LAYOUT_VERSION
        }
    );
    assert!(err.to_string().contains("version 99"));
    region.init(&config);
    region.poke(READ, 130); // past 2 * capacity
                            // SAFETY: as above.
    let err = unsafe { shm::attach_consumer(&config, base, len) }.unwrap_err();
    assert_eq!(err, AttachError::Position { found: 130 });
    region.poke(WRITE, 6); // not on a 4-byte block boundary
                           // SAFETY: as above.
    let err = unsafe { shm::attach_producer(&config, base, len) }.unwrap_err();
    assert_eq!(err, AttachError::Position { found: 6 });
}

#[test]
fn hardened_sides_stream_odd_frames_across_the_wrap() {
    // 3-byte frames and unaligned offsets exercise the word copies' head
    // and tail bytes.
    let config = Config::raw(3, 3 * 37);
    let mut region = Region::new(&config);
    let (mut tx, mut rx) = region.hardened(&config);
    let mut next = 0u8;
    let mut expect = 0u8;
    for round in 0..500usize {
        let frames = 1 + round % 29;
        let chunk: Vec<u8> = (0..3 * frames)
            .map(|_| {
                next = next.wrapping_add(1);
                next
            })
            .collect();
        assert_eq!(tx.write(&chunk).unwrap().written, chunk.len());
        let mut out = vec![0u8; chunk.len()];
        let got = rx.read(&mut out).unwrap();
        assert_eq!((got.data, got.protocol_error), (chunk.len(), false));
        for b in out {
            expect = expect.wrapping_add(1);
            assert_eq!(b, expect);
        }
    }
    let c = rx.counters();
    assert_eq!(
        (c.written, c.read, c.protocol_errors),
        (c.read, c.written, 0)
    );
    drop(tx);
    assert!(rx.is_end_of_stream() && rx.is_abandoned());
}

#[test]
fn a_broken_write_position_reads_as_silence_and_is_counted() {
    let config = Config::new(Format::new(SampleFormat::U8, 1), 64);
    let mut region = Region::new(&config);
    let (mut tx, mut rx) = region.hardened(&config);
    let _ = tx.write(&[7; 16]).unwrap();
    let mut out = [0u8; 8];
    assert_eq!(rx.read(&mut out).unwrap().data, 8);

    // Out of position space, too far ahead, behind the reader: each is one
    // protocol error, and the read delivers format-correct silence (0x80).
    for bad in [u32::MAX, 128, 8 + 65, 4] {
        region.poke(WRITE, bad);
        let before = rx.counters().protocol_errors;
        let got = rx.read(&mut out).unwrap();
        assert!(got.protocol_error, "write position {bad}");
        assert_eq!((got.data, got.silence), (0, 8), "write position {bad}");
        assert_eq!(out, [0x80; 8]);
        assert_eq!(rx.counters().protocol_errors, before + 1);
        assert_eq!(rx.available(), 0);
    }
    // The peer behaves again: the stream resumes where the consumer was.
    region.poke(WRITE, 16);
    let got = rx.read(&mut out).unwrap();
    assert!(!got.protocol_error);
    assert_eq!((got.data, out), (8, [7; 8]));
    assert_eq!(rx.counters().protocol_errors, 8); // 4 reads and 4 `available`s
}

#[test]
fn a_write_position_off_the_block_grid_is_refused() {
    let config = Config::raw(6, 60);
    let mut region = Region::new(&config);
    let (mut tx, mut rx) = region.hardened(&config);
    let _ = tx.write(&[1; 12]).unwrap();
    region.poke(WRITE, 13); // 13 bytes: two frames and a byte
    let mut out = [0u8; 12];
    let got = rx.read(&mut out).unwrap();
    assert!(got.protocol_error);
    assert_eq!(got.data, 0);
    region.poke(WRITE, 12);
    assert_eq!(rx.read(&mut out).unwrap().data, 12);
}

#[test]
fn a_broken_read_position_refuses_writes_and_is_counted() {
    let config = Config::raw(4, 64);
    let mut region = Region::new(&config);
    let (mut tx, mut rx) = region.hardened(&config);
    let _ = tx.write(&[1; 64]).unwrap(); // full: the next write must load the read position
    let mut out = [0u8; 32];
    assert_eq!(rx.read(&mut out).unwrap().data, 32);
    for bad in [u32::MAX, 1 << 31, 200, 2] {
        region.poke(READ, bad);
        assert_eq!(tx.write(&[2; 4]), Err(WriteError::Protocol), "read {bad}");
        assert_eq!(tx.write_stream(&[2; 4]), Err(WriteError::Protocol));
        assert_eq!(tx.fill(), 64, "a broken position reads as a full ring");
        assert_eq!(tx.free(), 0);
    }
    assert_eq!(tx.counters().protocol_errors, 16); // each of the 4 calls loaded it once
    assert_eq!(tx.counters().written, 64, "nothing was written");
    // Truncate drops instead (and counts it).
    let truncating = Config::raw(4, 64).overrun(Overrun::Truncate);
    let mut region2 = Region::new(&truncating);
    let (mut tx2, _rx2) = region2.hardened(&truncating);
    let _ = tx2.write(&[1; 64]).unwrap();
    region2.poke(READ, 3);
    let out2 = tx2.write_stream(&[2; 8]).unwrap();
    assert_eq!((out2.written, out2.dropped), (0, 8));
    assert_eq!(tx2.counters().protocol_errors, 1);
    // Recovery: the consumer's own position is private, so it rewrites the
    // true one on its next read.
    region.poke(READ, 32);
    assert_eq!(tx.write(&[2; 4]).unwrap().written, 4);
    assert_eq!(rx.read(&mut out).unwrap().data, 32);
    assert_eq!(out, [1; 32]);
    let mut last = [0u8; 4];
    assert_eq!(rx.read(&mut last).unwrap().data, 4);
    assert_eq!(last, [2; 4]);
}

#[test]
fn a_hardened_side_never_reads_its_own_position_back() {
    let config = Config::raw(2, 32);
    let mut region = Region::new(&config);
    let (mut tx, mut rx) = region.hardened(&config);
    let _ = tx.write(&[1, 2, 3, 4]).unwrap();
    // The peer rewinds the consumer's published read position: the
    // consumer keeps its own, so data is neither repeated nor skipped.
    let mut out = [0u8; 2];
    assert_eq!(rx.read(&mut out).unwrap().data, 2);
    region.poke(READ, 0);
    assert_eq!(rx.read(&mut out).unwrap().data, 2);
    assert_eq!(out, [3, 4]);
    // And the producer's write position: its next write goes where it was
    // (offset 4), whatever the header says meanwhile.
    region.poke(WRITE, 30);
    let _ = tx.write(&[5, 6]).unwrap();
    assert_eq!(region.peek(WRITE), 6);
    assert_eq!(rx.read(&mut out).unwrap().data, 2);
    assert_eq!(out, [5, 6]);
}

#[test]
fn peer_counters_that_never_settle_do_not_hang_a_hardened_side() {
    let config = Config::raw(4, 64);
    let mut region = Region::new(&config);
    let (mut tx, rx) = region.hardened(&config);
    let _ = tx.write(&[0; 8]).unwrap();
    let gen = region.word(PRODUCER_GEN);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut g = 0u32;
            while !stop.load(Ordering::Relaxed) {
                g = g.wrapping_add(3);
                gen.store(g, Ordering::Release);
            }
        });
        for _ in 0..if cfg!(miri) { 5 } else { 2000 } {
            let c = rx.counters();
            // The consumer's own counters come from its private totals.
            assert_eq!(c.read, 0);
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn scribbling_anywhere_in_the_header_never_breaks_a_hardened_side() {
    // Every byte offset of the header, every kind of value, between
    // operations of both sides: no panic, no out-of-range result, every
    // read fully accounted for.
    let config = Config::raw(6, 6 * 20).underrun(Underrun::SilenceFill);
    let mut region = Region::new(&config);
    let (mut tx, mut rx) = region.hardened(&config);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for step in 0..if cfg!(miri) { 300 } else { 100_000 } {
        let r = rand();
        // Half the time one of the two positions, else any header word.
        let offset = match r & 3 {
            0 => WRITE,
            1 => READ,
            _ => (r as usize >> 2) % 160 * 4,
        };
        let value = match r >> 60 {
            0 => u32::MAX,
            1 => 0,
            2..=5 => (r >> 8) as u32 % 300,
            _ => (r >> 16) as u32,
        };
        // Leave the identity line alone: attach validated it and a
        // hardened side never reads it again, but keep the test about
        // what the sides do read.
        let scribble = step % 3 == 0 && offset >= 128;
        // Before the producer's calls, or between them and the consumer's
        // (a producer's write publishes its own position over a scribbled
        // one, and a read the consumer's).
        if scribble && r & 4 == 0 {
            region.poke(offset, value);
        }
        let n = 6 * (1 + (r >> 32) as usize % 12);
        let _ = tx.write(&vec![1u8; n]);
        let _ = tx.write_stream(&vec![2u8; n + 1]);
        if scribble && r & 4 != 0 {
            region.poke(offset, value);
        }
        assert!(tx.fill() <= 120 && tx.free() <= 120);
        let mut out = vec![0u8; n];
        let got = rx.read(&mut out).unwrap();
        assert_eq!(got.data + got.silence, n);
        assert!(rx.available() <= 120);
        let mut dma = [0u8; 60];
        let got = rx.read_cyclic(&mut dma, 54, 12).unwrap();
        assert_eq!(got.data + got.silence, 12);
    }
    assert!(rx.counters().protocol_errors > 0);
    assert!(tx.counters().protocol_errors > 0);
}

#[test]
fn trusted_attach_has_the_full_api_and_overwrite_oldest() {
    let config = Config::raw(4, 16).overrun(Overrun::OverwriteOldest);
    let mut region = Region::new(&config);
    region.init(&config);
    let (base, len) = (region.base(), region.len);
    // SAFETY: the region outlives both handles, which follow the protocol.
    let (mut tx, mut rx) = unsafe {
        (
            shm::attach_trusted_producer(&config, base, len).unwrap(),
            shm::attach_trusted_consumer(&config, base, len).unwrap(),
        )
    };
    let _ = tx.write(&[1; 16]).unwrap();
    let out = tx.write(&[2; 8]).unwrap();
    assert_eq!(out.overwritten, 8);
    let grant = rx.read_grant(16);
    let (a, b) = grant.as_slices();
    assert_eq!([a, b].concat(), [[1; 8], [2; 8]].concat());
    let _ = grant.release(16).unwrap();
    // A hardened attach to the same region is refused for OverwriteOldest.
    // SAFETY: as above; the attach fails.
    let err = unsafe { shm::attach_consumer(&config, base, len) }.unwrap_err();
    assert_eq!(err, AttachError::OverwriteAcrossTrustBoundary);
}

#[test]
fn a_consumer_attaching_late_starts_where_the_ring_is() {
    let config = Config::raw(2, 32);
    let mut region = Region::new(&config);
    region.init(&config);
    let (base, len) = (region.base(), region.len);
    // SAFETY: the region outlives both handles.
    let mut tx = unsafe { shm::attach_producer(&config, base, len) }.unwrap();
    let _ = tx.write(&[9; 10]).unwrap();
    // SAFETY: as above.
    let mut rx = unsafe { shm::attach_consumer(&config, base, len) }.unwrap();
    assert_eq!(rx.available(), 10);
    let mut out = [0u8; 10];
    assert_eq!(rx.read(&mut out).unwrap().data, 10);
}

#[test]
fn a_producer_attaching_to_a_ring_with_data_sees_its_fill() {
    let config = Config::raw(2, 32);
    let mut region = Region::new(&config);
    region.init(&config);
    region.poke(WRITE, 10); // as if written before this producer attached
    let (base, len) = (region.base(), region.len);
    // SAFETY: the region outlives the handle.
    let mut tx = unsafe { shm::attach_producer(&config, base, len) }.unwrap();
    assert_eq!((tx.fill(), tx.free()), (10, 22));
    assert_eq!(
        tx.write(&[1; 24]),
        Err(WriteError::Full {
            needed: 24,
            free: 22
        })
    );
    assert_eq!(tx.write(&[1; 22]).unwrap().written, 22);
}

#[test]
fn a_hardened_producer_counts_one_protocol_error_per_operation() {
    let config = Config::raw(4, 16).overrun(Overrun::Truncate);
    let mut region = Region::new(&config);
    let (mut tx, _rx) = region.hardened(&config);
    let out = tx.write_stream(&[1; 6]).unwrap();
    assert_eq!((out.written, out.held), (4, 2));
    region.poke(READ, 1000);
    assert_eq!(tx.fill(), 16);
    assert_eq!(tx.counters().protocol_errors, 1);
    // Completing the held block and then the rest would load twice.
    let out = tx.write_stream(&[2; 10]).unwrap();
    // The 2 bytes held before complete a block and count in `written`.
    assert_eq!(out.written + out.dropped + out.held, 2 + 10);
    assert_eq!(tx.counters().protocol_errors, 2);
    // A strict write that does not fit the cached room, then the policy.
    let out = tx.write(&[3; 8]);
    assert!(out.is_err() || out.unwrap().written == 0);
    assert_eq!(tx.counters().protocol_errors, 3);
}

#[test]
fn attach_refuses_a_set_claim_bit_and_a_side_that_already_ended() {
    let config = Config::raw(4, 64);
    let mut region = Region::new(&config);
    region.init(&config);
    let (base, len) = (region.base(), region.len);
    region.poke(READ, 1 << 31);
    // SAFETY: the region outlives every handle here.
    let err = unsafe { shm::attach_consumer(&config, base, len) }.unwrap_err();
    assert_eq!(err, AttachError::Position { found: 1 << 31 });
    region.poke(READ, 0);
    // SAFETY: as above.
    let tx = unsafe { shm::attach_producer(&config, base, len) }.unwrap();
    drop(tx); // finished and gone
              // SAFETY: as above.
    let err = unsafe { shm::attach_producer(&config, base, len) }.unwrap_err();
    assert_eq!(err, AttachError::SideDetached { flags: 3 });
    region.init(&config);
    // SAFETY: as above.
    assert!(unsafe { shm::attach_producer(&config, base, len) }.is_ok());
}

#[test]
fn a_hardened_side_refuses_a_region_made_for_overwrite_oldest_or_unknown_flags() {
    let overwrite = Config::raw(4, 16).overrun(Overrun::OverwriteOldest);
    let reject = Config::raw(4, 16);
    let mut region = Region::new(&overwrite);
    region.init(&overwrite);
    let (base, len) = (region.base(), region.len);
    // SAFETY: the region outlives the attempts, which all fail.
    unsafe {
        assert_eq!(
            shm::attach_consumer(&reject, base, len).unwrap_err(),
            AttachError::OverwriteAcrossTrustBoundary
        );
        assert_eq!(
            shm::attach_producer(&reject, base, len).unwrap_err(),
            AttachError::OverwriteAcrossTrustBoundary
        );
    }
    region.init(&reject);
    region.poke(20, 0x10);
    // SAFETY: as above.
    let err = unsafe { shm::attach_consumer(&reject, base, len) }.unwrap_err();
    assert_eq!(err, AttachError::RingFlags { found: 0x10 });
}

#[test]
fn a_trusted_overwrite_consumer_checks_positions_too() {
    let config = Config::raw(4, 16).overrun(Overrun::OverwriteOldest);
    let mut region = Region::new(&config);
    region.init(&config);
    let (base, len) = (region.base(), region.len);
    // SAFETY: the region outlives both handles.
    let (mut tx, mut rx) = unsafe {
        (
            shm::attach_trusted_producer(&config, base, len).unwrap(),
            shm::attach_trusted_consumer(&config, base, len).unwrap(),
        )
    };
    let _ = tx.write(&[1; 8]).unwrap();
    let mut out = [0u8; 8];
    // Out of range, too far apart, off the block grid: an empty ring,
    // counted, never an index, never a hang.
    for (read, write) in [(1000, 1008), (0, 24), (0, 40), (2, 8), (0, 5)] {
        region.poke(READ, read);
        region.poke(WRITE, write);
        let before = rx.counters().protocol_errors;
        let got = rx.read(&mut out).unwrap();
        assert!(got.protocol_error, "({read}, {write})");
        assert_eq!(got.data, 0, "({read}, {write})");
        assert_eq!(rx.available(), 0);
        assert!(rx.counters().protocol_errors >= before + 2);
        let grant = rx.read_grant(16);
        assert!(grant.is_empty());
        drop(grant);
    }
    region.poke(READ, 0);
    region.poke(WRITE, 8);
    assert_eq!(rx.read(&mut out).unwrap().data, 8);
    assert_eq!(out, [1; 8]);
}

#[test]
fn a_hardened_producer_reports_the_true_peak_fill() {
    let config = Config::raw(4, 64);
    let mut region = Region::new(&config);
    let (mut tx, mut rx) = region.hardened(&config);
    let mut out = [0u8; 4];
    for _ in 0..1000 {
        let _ = tx.write(&[1; 4]).unwrap();
        assert_eq!(rx.read(&mut out).unwrap().data, 4);
    }
    assert_eq!(tx.counters().peak_fill, 4);
    let _ = tx.write(&[1; 12]).unwrap();
    assert_eq!(tx.counters().peak_fill, 12);
}
