//! A hardened shared-memory producer and consumer (`pcm_ring::shm`) attached
//! to one region, driven by an arbitrary sequence that interleaves producer
//! calls, consumer calls and *corruption*: words and bytes written anywhere
//! in the header (the positions, the flags and the counter generations above
//! all) and in the data, between calls, as an untrusted peer could.
//!
//! The region is allocated with exactly `shm::region_size` bytes, so
//! AddressSanitizer reports a copy that runs one byte past the data. After
//! every operation, corrupted or not:
//!
//! - a read's outcome is whole blocks, `data + silence <= len` (`==` under
//!   `SilenceFill` and for cyclic reads), the data is the ring's bytes at the
//!   consumer's own position, the silence is the pattern, and every other
//!   destination byte is untouched; a protocol error delivers no data;
//! - `available`, `fill`, `free` and `bytes_to_reach` are whole blocks, at
//!   most the capacity, and exactly what the header's peer position says
//!   under the documented validation (a broken one reads as an empty or full
//!   ring and is counted once);
//! - a write's outcome accounts for every byte; what it stores lands at the
//!   producer's own position; a refused write stores nothing;
//! - each side stores only to its own header fields (and the producer to the
//!   data), publishes its own position as its outcomes say, and its own
//!   counters equal the totals of its outcomes; `protocol_errors` never goes
//!   down, and goes up when an outcome reports a protocol error;
//! - re-attaching a side succeeds, or fails with exactly the `AttachError`
//!   the header predicts.
//!
//! While no corruption has touched a position word since `init`, both sides
//! count no protocol error; while nothing has touched a live field, the
//! reference model (`tests/support/reference.rs`, the model of `ops`) runs in
//! lockstep and every outcome, error, counter and delivered byte matches it
//! (the peak fill included).
//! Writes to the header's reserved bytes, to its identity after attach and to
//! the discard count must change nothing at all.

#![no_main]

use std::alloc::{self, Layout};
use std::ops::Range;
use std::ptr::NonNull;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pcm_ring::shm::{self, ShmConsumer, ShmProducer};
use pcm_ring::{
    AttachError, Config, Counters, Overrun, ReArm, ReadError, ReadOutcome, Silence, Underrun,
    WriteError, WriteOutcome,
};

#[path = "../../tests/support/reference.rs"]
mod reference;

use reference::{Params, Reference};

/// Operations per input, to keep each run short.
const MAX_OPS: usize = 256;

// The header layout (docs/shared-memory.md), in bytes from the region start.
const HEADER: usize = 640;
const MAGIC: u32 = u32::from_le_bytes(*b"PCMR");
const MAGIC_AT: usize = 0;
const VERSION_AT: usize = 4;
const HEADER_SIZE_AT: usize = 8;
const CAPACITY_AT: usize = 12;
const BLOCK_AT: usize = 16;
const RING_FLAGS_AT: usize = 20;
const WRITE_AT: usize = 128;
const PRODUCER_FLAGS_AT: usize = 132;
const PRODUCER_GEN_AT: usize = 144;
const PRODUCER_COUNTERS: Range<usize> = 144..248;
const READ_AT: usize = 384;
const CONSUMER_FLAGS_AT: usize = 388;
const CONSUMER_GEN_AT: usize = 392;
const CONSUMER_COUNTERS: Range<usize> = 392..480;
const FINISHED: u32 = 1;
const GONE: u32 = 2;
/// Header bytes a hardened producer may store to: its position and flags
/// (not the discard count, which only `OverwriteOldest` uses) and its
/// counters.
const PRODUCER_OWNS: [Range<usize>; 2] = [128..136, 144..248];
/// Header bytes a hardened consumer may store to.
const CONSUMER_OWNS: Range<usize> = 384..480;

#[derive(Arbitrary, Debug)]
struct Input {
    block: u8,
    blocks: u8,
    /// 0: `Reject`, 1: `Truncate`, 2: `OverwriteOldest`, which a hardened
    /// attach must refuse (the run then uses `Truncate`).
    overrun: u8,
    partial: bool,
    silence: u8,
    start_threshold: u16,
    restart: Option<u16>,
    low_watermark: u16,
    /// Bit 7 clear: this many (mod 4) blocks before the positions wrap;
    /// set: the low bits as a number of blocks.
    start: u8,
    ops: Vec<FuzzOp>,
}

/// Lengths: an even raw value counts whole blocks, an odd one bytes.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum FuzzOp {
    Write(u16),
    WriteStream(u16),
    /// `u8` samples, or `u16` ones (refused on odd blocks); a sample count.
    WriteSamples(bool, u8),
    Fill,
    Free,
    /// A target; `u16::MAX` is `usize::MAX`.
    BytesToReach(u16),
    Finish,
    DiscardPartial,
    ProducerCounters,
    Read(u16),
    ReadSamples(bool, u8),
    /// Destination size, offset, length.
    ReadCyclic(u16, u16, u16),
    Available,
    IsEndOfStream,
    ConsumerCounters,
    /// A 32-bit word of the header.
    Corrupt(Field, Value),
    /// One byte of the header (offset mod 640).
    CorruptByte(u16, u8),
    /// Bytes of the data: offset, length, first value.
    CorruptData(u16, u8, u8),
    /// Drops the producer (`true`) or the consumer and attaches it again to
    /// the region as it is.
    Reattach(bool),
    /// Drops both, initialises the region again and attaches both.
    Reinit,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Field {
    WritePosition,
    ReadPosition,
    ProducerGeneration,
    ConsumerGeneration,
    ProducerFlags,
    ConsumerFlags,
    /// One of the six identity words.
    Identity(u8),
    /// Any (unaligned) offset in the header.
    Any(u16),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Value {
    Raw(u32),
    /// The current value plus this.
    Delta(i16),
    /// This many blocks (a plausible position, in range or not).
    Blocks(u16),
    /// The current value with this bit (mod 32) flipped.
    FlipBit(u8),
}

/// Where a failure happened.
#[derive(Clone, Copy)]
struct Ctx<'o> {
    step: usize,
    op: Option<&'o FuzzOp>,
}

impl std::fmt::Display for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.op {
            Some(op) => write!(f, "step {}: {op:?}", self.step),
            None => write!(f, "setup/close"),
        }
    }
}

/// Distinct-looking data: a running counter, folded so that neighbouring
/// bytes and bytes 256 apart differ (as `tests/support/harness.rs`).
#[derive(Default)]
struct Gen(u64);

impl Gen {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                let v = self.0;
                self.0 += 1;
                (v ^ (v >> 8) ^ (v >> 16)) as u8
            })
            .collect()
    }
}

/// A destination buffer's initial contents, so untouched bytes are checked.
fn sentinel(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 37 + 11) as u8 ^ 0x5A).collect()
}

/// A region of exactly `len` bytes at a 4-byte aligned address, zeroed, that
/// stands for a mapping shared with the peer. Its address is taken once, at
/// allocation; the handles and the corrupting writes all go through that
/// raw pointer, as two processes' mappings would.
struct Region {
    base: NonNull<u8>,
    layout: Layout,
}

impl Region {
    fn new(len: usize) -> Region {
        let layout = Layout::from_size_align(len, shm::REGION_ALIGN).expect("region layout");
        // SAFETY: `layout` has a non-zero size (the header alone is 640 bytes).
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let base = NonNull::new(ptr).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        Region { base, layout }
    }

    fn len(&self) -> usize {
        self.layout.size()
    }

    /// A copy of every byte of the region.
    fn snapshot(&self) -> Vec<u8> {
        let mut copy = vec![0u8; self.len()];
        // SAFETY: the source is the whole allocation, alive while `self` is;
        // `copy` is a distinct allocation of the same length. No handle is
        // inside a call (one thread, between calls), so nothing writes the
        // region meanwhile, and the handles hold no reference into it that
        // a read could conflict with (see `put`).
        unsafe { std::ptr::copy_nonoverlapping(self.base.as_ptr(), copy.as_mut_ptr(), self.len()) };
        copy
    }

    fn u32_at(&self, at: usize) -> u32 {
        assert!(at + 4 <= self.len());
        // SAFETY: the four bytes are inside the allocation (asserted); an
        // unaligned read of initialised bytes, with no call of the library
        // under way (as for `snapshot`).
        unsafe { self.base.as_ptr().add(at).cast::<u32>().read_unaligned() }
    }

    /// Writes `bytes` at byte `at`, as the peer would.
    fn put(&self, at: usize, bytes: &[u8]) {
        assert!(at + bytes.len() <= self.len());
        // SAFETY: the range is inside the allocation (asserted), which lives
        // as long as `self`. The handles attached to the region hold only
        // raw pointers derived from `base` (the same allocation, the same
        // provenance) and access its bytes through atomics and `UnsafeCell`s
        // (every byte of the header is interior mutable; hardened handles
        // copy data with atomic loads and stores through raw pointers). The
        // references they form into the region live only during their own
        // method calls, and this thread, the only one, is not inside one
        // now: so this plain write races with nothing and invalidates no
        // live reference. `bytes` is a separate allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.as_ptr().add(at), bytes.len())
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; every handle borrowed
        // the region (`World<'r>`), so none is left.
        unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// The ring's shape, and the raw lengths mapped onto it.
#[derive(Clone, Copy)]
struct Shape {
    block: usize,
    capacity: usize,
    span: usize,
}

impl Shape {
    /// A length up to `limit`: whole blocks for even `raw`, any bytes for odd.
    fn within(&self, raw: u16, limit: usize) -> usize {
        let v = usize::from(raw >> 1);
        if raw & 1 == 0 {
            v % (limit / self.block + 1) * self.block
        } else {
            v % (limit + 1)
        }
    }

    fn len(&self, raw: u16) -> usize {
        self.within(raw, 2 * self.capacity + 2 * self.block)
    }

    /// A sample count of `size`-byte samples.
    fn samples(&self, size: usize, raw: u8) -> usize {
        usize::from(raw) % (2 * self.capacity / size + 3)
    }

    fn offset(&self, pos: usize) -> usize {
        if pos >= self.capacity {
            pos - self.capacity
        } else {
            pos
        }
    }

    fn advance(&self, pos: usize, n: usize) -> usize {
        (pos + n) % self.span
    }

    /// From `from` to `to` in position space (both in range).
    fn distance(&self, from: usize, to: usize) -> usize {
        (to + self.span - from) % self.span
    }
}

/// The producer and what its outcomes add up to.
struct Tx<'r> {
    h: ShmProducer<'r>,
    /// Its write position, from attach and its outcomes.
    pos: usize,
    /// Bytes of a partial block it holds (the last outcome's `held`).
    held: usize,
    finished: bool,
    written: u64,
    dropped: u64,
    refused: u64,
    /// Writes whose outcome dropped bytes: at least the overruns.
    lossy: u64,
    errors: u64,
}

/// The consumer and what its outcomes add up to.
struct Rx<'r> {
    h: ShmConsumer<'r>,
    /// Its read position, from attach and its outcomes.
    pos: usize,
    read: u64,
    silence: u64,
    underruns: u64,
    errors: u64,
}

/// How a side's protocol-error count must change over an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Errors {
    /// By exactly this many.
    Exactly(u64),
    /// By this many at most.
    AtMost(u64),
}

impl Errors {
    /// Checks a side's protocol-error count `now` against the one `seen`
    /// before the operation (and against 0 while the positions are
    /// honest), then records it.
    fn check(self, ctx: Ctx<'_>, side: &str, seen: &mut u64, now: u64, honest: bool) {
        match self {
            Errors::Exactly(n) => assert_eq!(now, *seen + n, "{ctx}: {side} protocol errors"),
            Errors::AtMost(n) => assert!(
                now >= *seen && now - *seen <= n,
                "{ctx}: {side} protocol errors {seen} -> {now}"
            ),
        }
        *seen = now;
        if honest {
            assert_eq!(
                now, 0,
                "{ctx}: {side} protocol errors with honest positions"
            );
        }
    }
}

/// What an operation of a side may store to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stores {
    Nothing,
    Producer,
    Consumer,
}

struct World<'r> {
    region: &'r Region,
    config: Config,
    params: Params,
    shape: Shape,
    pattern: Vec<u8>,
    tx: Option<Tx<'r>>,
    rx: Option<Rx<'r>>,
    /// The reference model, while it still describes the ring: no live
    /// header field was corrupted and no side re-attached since `init`.
    model: Option<Reference>,
    /// The data holds only what the producer wrote.
    data_intact: bool,
    /// Neither position word was corrupted since `init`.
    positions_intact: bool,
    /// The producer's (consumer's) counter snapshot holds only what the
    /// current producer (consumer) published.
    producer_counters_intact: bool,
    consumer_counters_intact: bool,
    gen: Gen,
}

fn changed(before: &[u8], after: &[u8], range: Range<usize>) -> bool {
    before[range.clone()] != after[range]
}

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

/// The producer's fields of the counters (the peak fill is compared on its own).
fn producer_fields(c: &Counters) -> [u64; 5] {
    [c.written, c.dropped, c.overwritten, c.overruns, c.refused]
}

fn consumer_fields(c: &Counters) -> [u64; 5] {
    [
        c.read,
        c.silence_priming,
        c.silence_underrun,
        c.silence_end,
        c.underruns,
    ]
}

/// `u16` samples whose native-endian bytes are `bytes`.
fn u16s(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_ne_bytes([c[0], c[1]]))
        .collect()
}

impl<'r> World<'r> {
    fn base(&self) -> NonNull<u8> {
        self.region.base
    }

    fn start(&self) -> usize {
        let span_blocks = self.shape.span / self.shape.block;
        self.params.start_blocks % span_blocks * self.shape.block
    }

    /// What attaching a side to the region as it is must give: its own
    /// position, or the error, checked in the documented order.
    fn expected_attach(&self, producer: bool) -> Result<usize, AttachError> {
        let r = self.region;
        let magic = r.u32_at(MAGIC_AT);
        if magic != MAGIC {
            return Err(AttachError::Magic { found: magic });
        }
        let version = r.u32_at(VERSION_AT);
        if version != shm::LAYOUT_VERSION {
            return Err(AttachError::Version {
                found: version,
                supported: shm::LAYOUT_VERSION,
            });
        }
        let found = (
            r.u32_at(HEADER_SIZE_AT),
            r.u32_at(CAPACITY_AT),
            r.u32_at(BLOCK_AT),
        );
        let expected = (
            HEADER as u32,
            self.shape.capacity as u32,
            self.shape.block as u32,
        );
        if found != expected {
            return Err(AttachError::Geometry { found, expected });
        }
        // Ring flags: no unknown bits, and not made for `OverwriteOldest`.
        let ring_flags = r.u32_at(RING_FLAGS_AT);
        if ring_flags & !1 != 0 {
            return Err(AttachError::RingFlags { found: ring_flags });
        }
        if ring_flags & 1 != 0 {
            return Err(AttachError::OverwriteAcrossTrustBoundary);
        }
        // A side whose earlier handle finished or detached is refused.
        let flags = r.u32_at(if producer {
            PRODUCER_FLAGS_AT
        } else {
            CONSUMER_FLAGS_AT
        });
        if flags != 0 {
            return Err(AttachError::SideDetached { flags });
        }
        // No claim bit on a hardened ring: bit 31 is out of range.
        let raw = r.u32_at(if producer { WRITE_AT } else { READ_AT });
        let pos = raw as usize;
        if pos >= self.shape.span || pos % self.shape.block != 0 {
            return Err(AttachError::Position { found: raw });
        }
        Ok(pos)
    }

    /// The free space from `write` that the header's read position gives,
    /// validated as a hardened producer of a non-overwrite ring must: in
    /// range (bit 31 is no claim here, so it makes the position out of
    /// range), at most the capacity behind `write`, whole blocks.
    fn room(&self, write: usize) -> Option<usize> {
        let s = self.shape;
        let read = self.region.u32_at(READ_AT) as usize;
        if read >= s.span {
            return None;
        }
        let used = s.distance(read, write);
        (used <= s.capacity && used % s.block == 0).then(|| s.capacity - used)
    }

    /// The bytes available from `read` that the header's write position
    /// gives, validated as a hardened consumer must.
    fn available(&self, read: usize) -> Option<usize> {
        let s = self.shape;
        let write = self.region.u32_at(WRITE_AT) as usize;
        if write >= s.span {
            return None;
        }
        let available = s.distance(read, write);
        (available <= s.capacity && available % s.block == 0).then_some(available)
    }

    fn attach_producer(&mut self, ctx: Ctx<'_>) {
        // The previous producer detaches first: one producer at a time.
        self.tx = None;
        let expected = self.expected_attach(true);
        // SAFETY: the region is valid for reads and writes of its whole
        // length for `'r`, which the handle's lifetime is tied to (it cannot
        // outlive the borrow of the region), and no other producer is
        // attached (dropped just above). The corruption this target does is
        // what the hardening is for.
        let got = unsafe { shm::attach_producer(&self.config, self.base(), self.region.len()) };
        match (got, expected) {
            (Ok(h), Ok(pos)) => {
                let errors = h.counters().protocol_errors;
                // Attaching loads the read position once.
                let expected_errors = u64::from(self.room(pos).is_none());
                assert_eq!(errors, expected_errors, "{ctx}: attach's protocol errors");
                assert!(!h.is_finished(), "{ctx}: a new producer is not finished");
                assert_eq!(
                    (h.capacity(), h.block_align()),
                    (self.shape.capacity, self.shape.block)
                );
                self.tx = Some(Tx {
                    h,
                    pos,
                    held: 0,
                    finished: false,
                    written: 0,
                    dropped: 0,
                    refused: 0,
                    lossy: 0,
                    errors,
                });
            }
            (Err(e), Err(x)) => assert_eq!(e, x, "{ctx}: attach producer error"),
            (got, expected) => panic!(
                "{ctx}: attach producer: got {:?}, expected {expected:?}",
                got.map(|_| ())
            ),
        }
    }

    fn attach_consumer(&mut self, ctx: Ctx<'_>) {
        self.rx = None;
        let expected = self.expected_attach(false);
        // SAFETY: as in `attach_producer`, with "consumer".
        let got = unsafe { shm::attach_consumer(&self.config, self.base(), self.region.len()) };
        match (got, expected) {
            (Ok(h), Ok(pos)) => {
                let errors = h.counters().protocol_errors;
                assert_eq!(
                    errors, 0,
                    "{ctx}: a consumer's attach loads no peer position"
                );
                assert!(!h.is_streaming(), "{ctx}: a new consumer is priming");
                assert_eq!(
                    (h.capacity(), h.block_align()),
                    (self.shape.capacity, self.shape.block)
                );
                self.rx = Some(Rx {
                    h,
                    pos,
                    read: 0,
                    silence: 0,
                    underruns: 0,
                    errors,
                });
            }
            (Err(e), Err(x)) => assert_eq!(e, x, "{ctx}: attach consumer error"),
            (got, expected) => panic!(
                "{ctx}: attach consumer: got {:?}, expected {expected:?}",
                got.map(|_| ())
            ),
        }
    }

    /// Drops both sides, initialises the region and attaches both; the
    /// model starts again.
    fn reinit(&mut self, ctx: Ctx<'_>) {
        self.tx = None;
        self.rx = None;
        let data_before = self.region.snapshot()[HEADER..].to_vec();
        // SAFETY: the region is valid for reads and writes of its whole
        // length, and nothing is attached (both dropped just above).
        let init = unsafe { shm::init(&self.config, self.base(), self.region.len()) };
        assert_eq!(init, Ok(()), "{ctx}: init");
        // The header is exactly the documented fresh one; the data is left.
        let after = self.region.snapshot();
        let start = self.start() as u32;
        let mut expected = vec![0u8; HEADER];
        for (at, v) in [
            (MAGIC_AT, MAGIC),
            (VERSION_AT, shm::LAYOUT_VERSION),
            (HEADER_SIZE_AT, HEADER as u32),
            (CAPACITY_AT, self.shape.capacity as u32),
            (BLOCK_AT, self.shape.block as u32),
            (WRITE_AT, start),
            (READ_AT, start),
        ] {
            expected[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        }
        assert!(after[..HEADER] == expected[..], "{ctx}: init's header");
        assert!(
            after[HEADER..] == data_before[..],
            "{ctx}: init left the data"
        );
        self.model = Some(Reference::new(self.params));
        self.data_intact = true;
        self.positions_intact = true;
        self.producer_counters_intact = true;
        self.consumer_counters_intact = true;
        self.attach_producer(ctx);
        self.attach_consumer(ctx);
        assert!(
            self.tx.is_some() && self.rx.is_some(),
            "{ctx}: attach after init"
        );
    }

    /// Which parts of the region an operation may have changed.
    fn check_stores(&self, ctx: Ctx<'_>, before: &[u8], after: &[u8], stores: Stores) {
        let owned = |at: usize| match stores {
            Stores::Nothing => false,
            Stores::Producer => PRODUCER_OWNS.iter().any(|r| r.contains(&at)),
            Stores::Consumer => CONSUMER_OWNS.contains(&at),
        };
        for at in 0..HEADER {
            if before[at] != after[at] && !owned(at) {
                panic!(
                    "{ctx}: header byte {at} changed ({:#04x} -> {:#04x}), not the operation's to store",
                    before[at], after[at]
                );
            }
        }
        if stores != Stores::Producer {
            assert!(
                before[HEADER..] == after[HEADER..],
                "{ctx}: the data changed, but only the producer writes it"
            );
        }
    }

    /// The producer's counters and error count after an operation.
    fn check_producer(&mut self, ctx: Ctx<'_>, errors: Errors) {
        let Some(tx) = self.tx.as_mut() else { return };
        let c = tx.h.counters();
        let e = c.protocol_errors;
        errors.check(ctx, "producer", &mut tx.errors, e, self.positions_intact);
        assert_eq!(
            (c.written, c.dropped, c.refused, c.overwritten),
            (tx.written, tx.dropped, tx.refused, 0),
            "{ctx}: producer counters (written, dropped, refused, overwritten) vs its outcomes"
        );
        assert!(
            c.overruns <= tx.lossy,
            "{ctx}: more overruns than lossy writes"
        );
        assert!(
            c.peak_fill <= self.shape.capacity as u64,
            "{ctx}: peak fill"
        );
        assert_eq!(tx.h.is_finished(), tx.finished, "{ctx}: is_finished");
        if let Some(rx) = &self.rx {
            if self.consumer_counters_intact {
                assert_eq!(
                    consumer_fields(&c),
                    consumer_fields(&rx.h.counters()),
                    "{ctx}: the consumer's counters as the producer reads them"
                );
            }
        }
        if let Some(m) = &self.model {
            let x = m.counters();
            assert_eq!(
                producer_fields(&c),
                producer_fields(&x),
                "{ctx}: producer counters vs model"
            );
            assert_eq!(c.peak_fill, x.peak_fill, "{ctx}: peak fill vs model");
            if self.consumer_counters_intact {
                assert_eq!(
                    consumer_fields(&c),
                    consumer_fields(&x),
                    "{ctx}: consumer counters (producer's view) vs model"
                );
            }
            assert_eq!(
                tx.h.is_finished(),
                m.is_finished(),
                "{ctx}: is_finished vs model"
            );
        }
    }

    /// The consumer's counters and error count after an operation.
    fn check_consumer(&mut self, ctx: Ctx<'_>, errors: Errors) {
        let Some(rx) = self.rx.as_mut() else { return };
        let c = rx.h.counters();
        let e = c.protocol_errors;
        errors.check(ctx, "consumer", &mut rx.errors, e, self.positions_intact);
        assert_eq!(
            (
                c.read,
                c.silence_priming + c.silence_underrun + c.silence_end,
                c.underruns
            ),
            (rx.read, rx.silence, rx.underruns),
            "{ctx}: consumer counters (read, silence, underruns) vs its outcomes"
        );
        if let Some(tx) = &self.tx {
            if self.producer_counters_intact {
                let p = tx.h.counters();
                assert_eq!(
                    (producer_fields(&c), c.peak_fill),
                    (producer_fields(&p), p.peak_fill),
                    "{ctx}: the producer's counters as the consumer reads them"
                );
            }
        }
        if let Some(m) = &self.model {
            let x = m.counters();
            assert_eq!(
                consumer_fields(&c),
                consumer_fields(&x),
                "{ctx}: consumer counters vs model"
            );
            if self.producer_counters_intact {
                assert_eq!(
                    producer_fields(&c),
                    producer_fields(&x),
                    "{ctx}: producer counters (consumer's view) vs model"
                );
                assert!(x.peak_fill <= c.peak_fill, "{ctx}: peak fill vs model");
            }
            assert_eq!(
                rx.h.is_streaming(),
                m.is_streaming(),
                "{ctx}: is_streaming vs model"
            );
        }
    }

    /// A producer write of `src`: `write` (strict), `write_stream`, or
    /// `write_samples` of `sample`-byte samples.
    fn producer_write(&mut self, ctx: Ctx<'_>, src: &[u8], kind: WriteKind) {
        let s = self.shape;
        let before = self.region.snapshot();
        let tx = self.tx.as_mut().expect("a producer");
        let real = match kind {
            WriteKind::Write => tx.h.write(src),
            WriteKind::Stream => tx.h.write_stream(src),
            WriteKind::Samples(1) => tx.h.write_samples(src),
            WriteKind::Samples(_) => tx.h.write_samples(&u16s(src)),
        };
        let after = self.region.snapshot();
        self.check_stores(ctx, &before, &after, Stores::Producer);
        let (finished, held) = {
            let tx = self.tx.as_ref().expect("a producer");
            (tx.finished, tx.held)
        };
        let strict = kind != WriteKind::Stream;
        let sample_mismatch = matches!(kind, WriteKind::Samples(n) if s.block % n != 0);
        if finished && !sample_mismatch {
            assert_eq!(
                real,
                Err(WriteError::Finished),
                "{ctx}: a write after finish"
            );
        }
        // A hardened side loads the peer's position at most once per
        // operation, so a write counts at most one protocol error.
        let mut errors = Errors::AtMost(1);
        match real {
            Ok(out) => self.wrote(ctx, &before, &after, src, strict, out),
            Err(e) => {
                errors = Errors::Exactly(0);
                assert!(
                    before[WRITE_AT..WRITE_AT + 4] == after[WRITE_AT..WRITE_AT + 4]
                        && before[HEADER..] == after[HEADER..],
                    "{ctx}: a refused write ({e:?}) stored data or moved the position"
                );
                match e {
                    WriteError::Finished => assert!(finished, "{ctx}: Finished"),
                    WriteError::Full { needed, free } => {
                        assert_eq!(self.params.overrun, Overrun::Reject, "{ctx}: Full");
                        assert!(needed > free && free <= s.capacity, "{ctx}: {e:?}");
                        self.tx.as_mut().expect("a producer").refused += 1;
                    }
                    WriteError::Protocol => errors = Errors::Exactly(1),
                    WriteError::PartialBlockHeld { held: h } => {
                        assert!(strict && h > 0 && h == held, "{ctx}: {e:?}")
                    }
                    WriteError::DiscardingPartialBlock { remaining } => {
                        assert!(
                            strict && remaining > 0 && remaining < s.block,
                            "{ctx}: {e:?}"
                        )
                    }
                    WriteError::NotWholeBlocks { len, block_align } => assert!(
                        strict && len == src.len() && len % s.block != 0 && block_align == s.block,
                        "{ctx}: {e:?}"
                    ),
                    WriteError::SampleSize { .. } => assert!(sample_mismatch, "{ctx}: {e:?}"),
                    _ => panic!("{ctx}: unexpected {e:?}"),
                }
            }
        }
        if let Some(m) = &mut self.model {
            let expected = match kind {
                WriteKind::Write => m.write(src),
                WriteKind::Stream => m.write_stream(src),
                WriteKind::Samples(n) => m.write_samples(n, src),
            };
            assert_eq!(real, expected, "{ctx}: write vs model");
        }
        self.check_producer(ctx, errors);
    }

    /// The checks of a write that succeeded.
    fn wrote(
        &mut self,
        ctx: Ctx<'_>,
        before: &[u8],
        after: &[u8],
        src: &[u8],
        strict: bool,
        out: WriteOutcome,
    ) {
        let s = self.shape;
        let tx = self.tx.as_mut().expect("a producer");
        assert!(!tx.finished, "{ctx}: a write succeeded after finish");
        assert!(
            out.written % s.block == 0 && out.written <= s.capacity,
            "{ctx}: written {out:?}"
        );
        assert_eq!(
            out.overwritten, 0,
            "{ctx}: overwritten without OverwriteOldest"
        );
        assert!(out.held < s.block, "{ctx}: held {out:?}");
        assert_eq!(
            src.len() + tx.held,
            out.written + out.dropped + out.held,
            "{ctx}: every byte given (and held before) is written, dropped or held: {out:?}"
        );
        if strict {
            assert_eq!(out.held, 0, "{ctx}: a whole-block write holds nothing");
        }
        // It stores at its own position: the blocks it wrote and the block
        // its partial block is held in, nowhere else.
        let start = s.offset(tx.pos);
        let window = (out.written + s.block).min(s.capacity);
        for d in 0..s.capacity {
            if before[HEADER + d] != after[HEADER + d] {
                let from_start = (d + s.capacity - start) % s.capacity;
                assert!(
                    from_start < window,
                    "{ctx}: data byte {d} changed, outside the {window} bytes from the write offset {start}"
                );
            }
        }
        // With nothing held before and nothing dropped, the input went in
        // as it came: the written blocks, then the held bytes.
        if tx.held == 0 && (strict || out.dropped == 0) {
            for (i, &b) in src.iter().enumerate().take(out.written + out.held) {
                let d = (start + i) % s.capacity;
                assert_eq!(
                    after[HEADER + d],
                    b,
                    "{ctx}: input byte {i} at data offset {d}"
                );
            }
        }
        tx.pos = s.advance(tx.pos, out.written);
        tx.held = out.held;
        tx.written += out.written as u64;
        tx.dropped += out.dropped as u64;
        if out.dropped > 0 {
            tx.lossy += 1;
        }
        if out.written > 0 {
            assert_eq!(
                word(after, WRITE_AT) as usize,
                tx.pos,
                "{ctx}: the published write position"
            );
        } else {
            // It may store its own position again (an empty write does),
            // but nothing else.
            let now = word(after, WRITE_AT);
            assert!(
                now == word(before, WRITE_AT) || now as usize == tx.pos,
                "{ctx}: nothing written, yet the write position became {now}"
            );
        }
    }

    /// The checks of a delivered read: `map(i)` is the destination index of
    /// the `i`th byte the read produces, `want` how many it was asked for.
    #[allow(clippy::too_many_arguments)]
    fn delivered(
        &mut self,
        ctx: Ctx<'_>,
        before: &[u8],
        after: &[u8],
        init: &[u8],
        dst: &[u8],
        map: &dyn Fn(usize) -> usize,
        want: usize,
        fill: bool,
        out: ReadOutcome,
    ) {
        let s = self.shape;
        let rx = self.rx.as_mut().expect("a consumer");
        let (data, silence) = (out.data, out.silence);
        assert!(
            data % s.block == 0 && silence % s.block == 0,
            "{ctx}: partial blocks {out:?}"
        );
        assert!(data + silence <= want, "{ctx}: {out:?} for {want} bytes");
        if fill {
            assert_eq!(
                data + silence,
                want,
                "{ctx}: a silence-filled read: {out:?}"
            );
        } else {
            assert_eq!(silence, 0, "{ctx}: silence from a partial read: {out:?}");
        }
        assert!(
            data <= s.capacity,
            "{ctx}: more data than the capacity: {out:?}"
        );
        if out.protocol_error {
            assert_eq!(data, 0, "{ctx}: a protocol error reads as an empty ring");
        }
        if out.underrun {
            assert!(data < want, "{ctx}: an underrun that was not short");
        }
        if out.priming {
            assert!(
                data == 0 || out.underrun,
                "{ctx}: data while priming: {out:?}"
            );
        }
        if out.end_of_stream {
            assert!(
                word(before, PRODUCER_FLAGS_AT) & FINISHED != 0,
                "{ctx}: end of stream without the finished flag"
            );
        }
        let start = s.offset(rx.pos);
        for i in 0..data {
            let d = (start + i) % s.capacity;
            assert_eq!(
                dst[map(i)],
                before[HEADER + d],
                "{ctx}: delivered byte {i} is not the ring's byte at the read offset {start} + {i}"
            );
        }
        let p = &self.pattern;
        for i in data..data + silence {
            assert_eq!(dst[map(i)], p[i % p.len()], "{ctx}: silence byte {i}");
        }
        let mut covered = vec![false; dst.len()];
        for i in 0..data + silence {
            covered[map(i)] = true;
        }
        for (j, (&got, &was)) in dst.iter().zip(init).enumerate() {
            assert!(
                covered[j] || got == was,
                "{ctx}: destination byte {j} touched"
            );
        }
        rx.pos = s.advance(rx.pos, data);
        if data > 0 {
            assert_eq!(
                word(after, READ_AT) as usize,
                rx.pos,
                "{ctx}: the published read position"
            );
        } else {
            let now = word(after, READ_AT);
            assert!(
                now == word(before, READ_AT) || now as usize == rx.pos,
                "{ctx}: nothing read, yet the read position became {now}"
            );
        }
        rx.read += data as u64;
        rx.silence += silence as u64;
        if out.underrun {
            rx.underruns += 1;
        }
    }

    /// `read` (or `read_samples` of `sample`-byte samples) of `len` bytes.
    fn read(&mut self, ctx: Ctx<'_>, len: usize, sample: Option<usize>) {
        let s = self.shape;
        let init = sentinel(len);
        let before = self.region.snapshot();
        let rx = self.rx.as_mut().expect("a consumer");
        let (real, dst) = match sample {
            None => {
                let mut dst = init.clone();
                (rx.h.read(&mut dst), dst)
            }
            Some(1) => {
                let mut dst = init.clone();
                (rx.h.read_samples(&mut dst), dst)
            }
            Some(_) => {
                let mut dst = u16s(&init);
                let real = rx.h.read_samples(&mut dst);
                (real, bytemuck::cast_slice::<u16, u8>(&dst).to_vec())
            }
        };
        let after = self.region.snapshot();
        self.check_stores(ctx, &before, &after, Stores::Consumer);
        let sample_mismatch = matches!(sample, Some(n) if s.block % n != 0);
        let expected_error = if sample_mismatch {
            Some(ReadError::SampleSize {
                sample: sample.unwrap_or(0),
                block_align: s.block,
            })
        } else if len % s.block != 0 {
            Some(ReadError::NotWholeBlocks {
                len,
                block_align: s.block,
            })
        } else {
            None
        };
        let mut errors = Errors::Exactly(0);
        match real {
            Ok(out) => {
                assert_eq!(
                    expected_error, None,
                    "{ctx}: a read that should fail: {out:?}"
                );
                let fill = self.params.underrun == Underrun::SilenceFill;
                self.delivered(ctx, &before, &after, &init, &dst, &|i| i, len, fill, out);
                // A read that counts a protocol error reports it.
                errors = Errors::Exactly(u64::from(out.protocol_error));
            }
            Err(e) => {
                assert_eq!(Some(e), expected_error, "{ctx}: read error");
                assert!(
                    before == after && dst == init,
                    "{ctx}: a failed read changed something"
                );
            }
        }
        if let Some(m) = &mut self.model {
            let mut expected_dst = init.clone();
            let expected = match sample {
                None => m.read(&mut expected_dst),
                Some(n) => m.read_samples(n, &mut expected_dst),
            };
            assert_eq!(real, expected, "{ctx}: read vs model");
            if self.data_intact {
                assert!(dst == expected_dst, "{ctx}: bytes read vs model");
            }
        }
        self.check_consumer(ctx, errors);
    }

    fn read_cyclic(&mut self, ctx: Ctx<'_>, size: usize, offset: usize, len: usize) {
        let s = self.shape;
        let init = sentinel(size);
        let mut dst = init.clone();
        let before = self.region.snapshot();
        let rx = self.rx.as_mut().expect("a consumer");
        let real = rx.h.read_cyclic(&mut dst, offset, len);
        let after = self.region.snapshot();
        self.check_stores(ctx, &before, &after, Stores::Consumer);
        let not_whole = [size, offset, len].into_iter().find(|n| n % s.block != 0);
        let expected_error = if let Some(n) = not_whole {
            Some(ReadError::NotWholeBlocks {
                len: n,
                block_align: s.block,
            })
        } else if offset > size || (offset == size && size > 0) {
            Some(ReadError::OutOfRange {
                value: offset,
                len: size,
            })
        } else if len > size {
            Some(ReadError::OutOfRange {
                value: len,
                len: size,
            })
        } else {
            None
        };
        let mut errors = Errors::Exactly(0);
        match real {
            Ok(out) => {
                assert_eq!(
                    expected_error, None,
                    "{ctx}: a read that should fail: {out:?}"
                );
                let map = |i: usize| (offset + i) % size;
                self.delivered(ctx, &before, &after, &init, &dst, &map, len, true, out);
                // A read that counts a protocol error reports it.
                errors = Errors::Exactly(u64::from(out.protocol_error));
            }
            Err(e) => {
                assert_eq!(Some(e), expected_error, "{ctx}: read_cyclic error");
                assert!(
                    before == after && dst == init,
                    "{ctx}: a failed read changed something"
                );
            }
        }
        if let Some(m) = &mut self.model {
            let mut expected_dst = init.clone();
            let expected = m.read_cyclic(&mut expected_dst, offset, len);
            assert_eq!(real, expected, "{ctx}: read_cyclic vs model");
            if self.data_intact {
                assert!(dst == expected_dst, "{ctx}: cyclic destination vs model");
            }
        }
        self.check_consumer(ctx, errors);
    }

    /// `fill`, `free` or `bytes_to_reach`: exactly what the header's read
    /// position says, a broken one read as a full ring and counted.
    fn producer_observe(&mut self, ctx: Ctx<'_>, op: &FuzzOp) {
        let s = self.shape;
        let Some(tx) = &self.tx else { return };
        let room = self.room(tx.pos);
        let fill = s.capacity - room.unwrap_or(0);
        let reserved = if tx.held > 0 { s.block } else { 0 };
        let (got, expected, modelled) = match *op {
            FuzzOp::Fill => (tx.h.fill(), fill, self.model.as_ref().map(|m| m.fill())),
            FuzzOp::Free => (
                tx.h.free(),
                room.unwrap_or(0).saturating_sub(reserved),
                self.model.as_ref().map(|m| m.free()),
            ),
            FuzzOp::BytesToReach(raw) => {
                let target = if raw == u16::MAX {
                    usize::MAX
                } else {
                    usize::from(raw) % (s.capacity + 2 * s.block + 1)
                };
                let goal = target.min(s.capacity);
                let expected = if fill >= goal {
                    0
                } else {
                    (goal - fill)
                        .div_ceil(s.block)
                        .saturating_mul(s.block)
                        .min(s.capacity.saturating_sub(fill + reserved))
                };
                (
                    tx.h.bytes_to_reach(target),
                    expected,
                    self.model.as_ref().map(|m| m.bytes_to_reach(target)),
                )
            }
            _ => unreachable!(),
        };
        assert!(got <= s.capacity && got % s.block == 0, "{ctx}: {got}");
        assert_eq!(got, expected, "{ctx}: from the header's read position");
        if let Some(modelled) = modelled {
            assert_eq!(got, modelled, "{ctx}: vs model");
        }
        self.check_producer(ctx, Errors::Exactly(u64::from(room.is_none())));
    }

    /// `available` and `is_end_of_stream`: what the header's write position
    /// and flags say, a broken position read as an empty ring and counted.
    fn consumer_observe(&mut self, ctx: Ctx<'_>, op: &FuzzOp) {
        let s = self.shape;
        let Some(rx) = &self.rx else { return };
        let available = self.available(rx.pos);
        let finished = self.region.u32_at(PRODUCER_FLAGS_AT) & FINISHED != 0;
        let errors = match op {
            FuzzOp::Available => {
                let got = rx.h.available();
                assert!(
                    got <= s.capacity && got % s.block == 0,
                    "{ctx}: available = {got}"
                );
                assert_eq!(
                    got,
                    available.unwrap_or(0),
                    "{ctx}: available from the header"
                );
                if let Some(m) = &self.model {
                    assert_eq!(got, m.fill(), "{ctx}: available vs model");
                }
                u64::from(available.is_none())
            }
            FuzzOp::IsEndOfStream => {
                let got = rx.h.is_end_of_stream();
                // The flag first; the position only if the flag is set.
                assert_eq!(
                    got,
                    finished && available.unwrap_or(0) == 0,
                    "{ctx}: is_end_of_stream from the header"
                );
                if let Some(m) = &self.model {
                    assert_eq!(
                        got,
                        m.is_end_of_stream(),
                        "{ctx}: is_end_of_stream vs model"
                    );
                }
                u64::from(finished && available.is_none())
            }
            _ => unreachable!(),
        };
        self.check_consumer(ctx, Errors::Exactly(errors));
    }

    /// Applies a corruption (already written) to what the checks expect.
    fn corrupted(&mut self, before: &[u8], after: &[u8]) {
        if changed(before, after, WRITE_AT..WRITE_AT + 4)
            || changed(before, after, READ_AT..READ_AT + 4)
        {
            self.positions_intact = false;
            self.model = None;
        }
        // The consumer believes the producer's finished bit; the other
        // flag bits (and the consumer's flags) only feed `is_abandoned`,
        // which is checked against the header itself.
        if (word(before, PRODUCER_FLAGS_AT) ^ word(after, PRODUCER_FLAGS_AT)) & FINISHED != 0 {
            self.model = None;
        }
        if changed(before, after, PRODUCER_COUNTERS) {
            self.producer_counters_intact = false;
        }
        if changed(before, after, CONSUMER_COUNTERS) {
            self.consumer_counters_intact = false;
        }
        if before[HEADER..] != after[HEADER..] {
            self.data_intact = false;
        }
        // Anything else (identity, discard count, reserved bytes) is
        // nobody's business after attach: the model stays valid.
    }

    fn step(&mut self, ctx: Ctx<'_>, op: &FuzzOp) {
        let s = self.shape;
        match *op {
            FuzzOp::Write(raw) | FuzzOp::WriteStream(raw) => {
                if self.tx.is_none() {
                    return;
                }
                let src = self.gen.bytes(s.len(raw));
                let kind = if matches!(op, FuzzOp::Write(_)) {
                    WriteKind::Write
                } else {
                    WriteKind::Stream
                };
                self.producer_write(ctx, &src, kind);
            }
            FuzzOp::WriteSamples(wide, count) => {
                if self.tx.is_none() {
                    return;
                }
                let size = if wide { 2 } else { 1 };
                let src = self.gen.bytes(size * s.samples(size, count));
                self.producer_write(ctx, &src, WriteKind::Samples(size));
            }
            FuzzOp::Fill | FuzzOp::Free | FuzzOp::BytesToReach(_) => {
                let before = self.region.snapshot();
                self.producer_observe(ctx, op);
                let after = self.region.snapshot();
                self.check_stores(ctx, &before, &after, Stores::Nothing);
            }
            FuzzOp::Finish | FuzzOp::DiscardPartial => {
                let before = self.region.snapshot();
                let Some(tx) = self.tx.as_mut() else { return };
                let was_finished = tx.finished;
                let got = if matches!(op, FuzzOp::Finish) {
                    tx.h.finish()
                } else {
                    tx.h.discard_partial()
                };
                let expected = if matches!(op, FuzzOp::Finish) && was_finished {
                    0
                } else {
                    tx.held
                };
                assert_eq!(got, expected, "{ctx}: the held bytes discarded");
                tx.dropped += got as u64;
                tx.held = 0;
                if matches!(op, FuzzOp::Finish) {
                    tx.finished = true;
                }
                let after = self.region.snapshot();
                self.check_stores(ctx, &before, &after, Stores::Producer);
                assert!(
                    before[HEADER..] == after[HEADER..]
                        && word(&before, WRITE_AT) == word(&after, WRITE_AT),
                    "{ctx}: finishing or discarding wrote data or moved the position"
                );
                if matches!(op, FuzzOp::Finish) && !was_finished {
                    assert_eq!(
                        word(&after, PRODUCER_FLAGS_AT),
                        FINISHED,
                        "{ctx}: the finished flag"
                    );
                }
                if let Some(m) = &mut self.model {
                    let expected = if matches!(op, FuzzOp::Finish) {
                        m.finish()
                    } else {
                        m.discard_partial()
                    };
                    assert_eq!(got, expected, "{ctx}: vs model");
                }
                self.check_producer(ctx, Errors::Exactly(0));
            }
            FuzzOp::ProducerCounters => {
                let before = self.region.snapshot();
                let Some(tx) = &self.tx else { return };
                let gone = word(&before, CONSUMER_FLAGS_AT) & GONE != 0;
                assert_eq!(tx.h.is_abandoned(), gone, "{ctx}: is_abandoned");
                self.check_producer(ctx, Errors::Exactly(0));
                let after = self.region.snapshot();
                self.check_stores(ctx, &before, &after, Stores::Nothing);
            }
            FuzzOp::Read(raw) => {
                if self.rx.is_some() {
                    self.read(ctx, s.len(raw), None);
                }
            }
            FuzzOp::ReadSamples(wide, count) => {
                if self.rx.is_some() {
                    let size = if wide { 2 } else { 1 };
                    self.read(ctx, size * s.samples(size, count), Some(size));
                }
            }
            FuzzOp::ReadCyclic(size, offset, len) => {
                if self.rx.is_some() {
                    let size = s.len(size);
                    let offset = s.within(offset, size + s.block);
                    let len = s.within(len, size + s.block);
                    self.read_cyclic(ctx, size, offset, len);
                }
            }
            FuzzOp::Available | FuzzOp::IsEndOfStream => {
                let before = self.region.snapshot();
                self.consumer_observe(ctx, op);
                let after = self.region.snapshot();
                self.check_stores(ctx, &before, &after, Stores::Nothing);
            }
            FuzzOp::ConsumerCounters => {
                let before = self.region.snapshot();
                let Some(rx) = &self.rx else { return };
                let gone = word(&before, PRODUCER_FLAGS_AT) & GONE != 0;
                assert_eq!(rx.h.is_abandoned(), gone, "{ctx}: is_abandoned");
                self.check_consumer(ctx, Errors::Exactly(0));
                let after = self.region.snapshot();
                self.check_stores(ctx, &before, &after, Stores::Nothing);
            }
            FuzzOp::Corrupt(field, value) => {
                let at = match field {
                    Field::WritePosition => WRITE_AT,
                    Field::ReadPosition => READ_AT,
                    Field::ProducerGeneration => PRODUCER_GEN_AT,
                    Field::ConsumerGeneration => CONSUMER_GEN_AT,
                    Field::ProducerFlags => PRODUCER_FLAGS_AT,
                    Field::ConsumerFlags => CONSUMER_FLAGS_AT,
                    Field::Identity(i) => usize::from(i % 6) * 4,
                    Field::Any(at) => usize::from(at) % (HEADER - 3),
                };
                let old = self.region.u32_at(at);
                let new = match value {
                    Value::Raw(v) => v,
                    Value::Delta(d) => old.wrapping_add(d as i32 as u32),
                    Value::Blocks(k) => u32::from(k).wrapping_mul(s.block as u32),
                    Value::FlipBit(b) => old ^ (1 << (b % 32)),
                };
                let before = self.region.snapshot();
                self.region.put(at, &new.to_ne_bytes());
                self.corrupted(&before, &self.region.snapshot());
            }
            FuzzOp::CorruptByte(at, v) => {
                let before = self.region.snapshot();
                self.region.put(usize::from(at) % HEADER, &[v]);
                self.corrupted(&before, &self.region.snapshot());
            }
            FuzzOp::CorruptData(at, len, v) => {
                let at = usize::from(at) % s.capacity;
                let len = (usize::from(len) % s.capacity + 1).min(s.capacity - at);
                let bytes: Vec<u8> = (0..len)
                    .map(|i| v.wrapping_add((i as u8).wrapping_mul(7)))
                    .collect();
                let before = self.region.snapshot();
                self.region.put(HEADER + at, &bytes);
                self.corrupted(&before, &self.region.snapshot());
            }
            FuzzOp::Reattach(producer) => {
                // A side that detaches and attaches again is not what the
                // model describes (the old producer's drop finishes the
                // stream; a new consumer primes again), and its counters
                // start again under the peer's old snapshot.
                self.model = None;
                let before = self.region.snapshot();
                if producer {
                    if let Some(tx) = self.tx.take() {
                        drop(tx);
                        let after = self.region.snapshot();
                        self.check_stores(ctx, &before, &after, Stores::Producer);
                        assert_eq!(
                            word(&after, PRODUCER_FLAGS_AT),
                            FINISHED | GONE,
                            "{ctx}: a dropped producer's flags"
                        );
                    }
                    self.producer_counters_intact = false;
                    self.attach_producer(ctx);
                } else {
                    if let Some(rx) = self.rx.take() {
                        drop(rx);
                        let after = self.region.snapshot();
                        self.check_stores(ctx, &before, &after, Stores::Consumer);
                        assert_eq!(
                            word(&after, CONSUMER_FLAGS_AT),
                            GONE,
                            "{ctx}: a dropped consumer's flags"
                        );
                    }
                    self.consumer_counters_intact = false;
                    self.attach_consumer(ctx);
                }
            }
            FuzzOp::Reinit => self.reinit(ctx),
        }
    }

    /// While the model holds: drops the producer, which finishes the
    /// stream, and drains the consumer against the model.
    fn close(&mut self) {
        let ctx = Ctx { step: 0, op: None };
        if self.model.is_none() || self.rx.is_none() {
            return;
        }
        if let Some(tx) = self.tx.take() {
            drop(tx);
            if let Some(m) = &mut self.model {
                let _ = m.finish();
            }
        }
        self.read(ctx, self.shape.capacity, None);
        let rx = self.rx.as_ref().expect("a consumer");
        assert!(rx.h.is_abandoned(), "{ctx}: the producer was dropped");
        assert!(
            rx.h.is_end_of_stream(),
            "{ctx}: drained after the producer was dropped"
        );
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    Write,
    Stream,
    /// `write_samples` of samples of this many bytes (1 or 2).
    Samples(usize),
}

fn params(input: &Input) -> Params {
    let block = 1 + usize::from(input.block) % 24;
    let blocks = 1 + usize::from(input.blocks) % 16;
    let capacity = block * blocks;
    let span_blocks = 2 * blocks;
    let silence = match input.silence % 5 {
        1 => Silence::U8,
        2 if block % 2 == 0 => Silence::U16_LE,
        3 if block % 3 == 0 => Silence::U24_LE,
        4 if block % 4 == 0 => Silence::U32_LE,
        _ => Silence::ZERO,
    };
    Params {
        block_align: block,
        capacity,
        overrun: match input.overrun % 3 {
            0 => Overrun::Reject,
            1 => Overrun::Truncate,
            _ => Overrun::OverwriteOldest,
        },
        underrun: if input.partial {
            Underrun::Partial
        } else {
            Underrun::SilenceFill
        },
        silence,
        start_threshold: usize::from(input.start_threshold) % (capacity + 1),
        rearm: match input.restart {
            None => ReArm::Immediate,
            Some(r) => ReArm::Prime {
                restart_threshold: usize::from(r) % (capacity + 1),
            },
        },
        low_watermark: usize::from(input.low_watermark) % (capacity + 1),
        start_blocks: if input.start & 0x80 == 0 {
            span_blocks.saturating_sub(usize::from(input.start & 3))
        } else {
            usize::from(input.start & 0x7f)
        },
    }
}

/// The attach and init failures that need no header: a short or misaligned
/// region, an uninitialised one, and `OverwriteOldest` across the boundary.
fn check_refusals(region: &Region, config: &Config, overwrite: &Config) {
    let (base, len) = (region.base, region.len());
    let ctx = Ctx { step: 0, op: None };
    let too_small = Err(AttachError::TooSmall {
        needed: len,
        available: len - 1,
    });
    // Not 4-byte aligned: one byte in, one byte shorter.
    // SAFETY: `len >= 640`, so one byte in is inside the allocation.
    let off = unsafe { base.add(1) };
    let misaligned = Err(AttachError::Misaligned {
        offset: 1,
        align: shm::REGION_ALIGN,
    });
    // SAFETY: for every call below, the range is inside the region, valid
    // for reads and writes while `region` lives, and nothing is attached
    // (a handle an attach might wrongly return is dropped at once). All but
    // the `OverwriteOldest` init are expected to fail before they touch the
    // memory; the header that init writes is replaced by `reinit`'s.
    unsafe {
        assert_eq!(
            shm::attach_consumer(config, base, len).map(|_| ()),
            Err(AttachError::Magic { found: 0 }),
            "{ctx}: attach before init"
        );
        assert_eq!(shm::init(config, base, len - 1), too_small, "{ctx}");
        assert_eq!(shm::init(config, off, len - 1), misaligned, "{ctx}");
        assert_eq!(
            shm::attach_producer(config, base, len - 1).map(|_| ()),
            too_small
        );
        assert_eq!(
            shm::attach_consumer(config, off, len - 1).map(|_| ()),
            misaligned
        );
        assert!(
            region.snapshot().iter().all(|&b| b == 0),
            "{ctx}: a failed init wrote"
        );
        assert_eq!(shm::init(overwrite, base, len), Ok(()), "{ctx}");
        assert_eq!(
            shm::attach_producer(overwrite, base, len).map(|_| ()),
            Err(AttachError::OverwriteAcrossTrustBoundary),
            "{ctx}: hardened OverwriteOldest producer"
        );
        assert_eq!(
            shm::attach_consumer(overwrite, base, len).map(|_| ()),
            Err(AttachError::OverwriteAcrossTrustBoundary),
            "{ctx}: hardened OverwriteOldest consumer"
        );
    }
}

fuzz_target!(|input: Input| {
    let mut params = params(&input);
    let overwrite = Params {
        overrun: Overrun::OverwriteOldest,
        ..params
    }
    .config();
    if params.overrun == Overrun::OverwriteOldest {
        params.overrun = Overrun::Truncate;
    }
    let config = params.config();
    assert_eq!(config.validate(), params.expected_check(), "{params:?}");
    let size = shm::region_size(&config).expect("a valid configuration");
    assert_eq!(size, shm::HEADER_BYTES + params.capacity);
    assert_eq!(shm::HEADER_BYTES, HEADER);
    // Exactly `region_size` bytes: a copy one byte past the data is an
    // AddressSanitizer report.
    let region = Region::new(size);
    check_refusals(&region, &config, &overwrite);

    let mut world = World {
        region: &region,
        config,
        params,
        shape: Shape {
            block: params.block_align,
            capacity: params.capacity,
            span: 2 * params.capacity,
        },
        pattern: params.silence.pattern().to_vec(),
        tx: None,
        rx: None,
        model: None,
        data_intact: true,
        positions_intact: true,
        producer_counters_intact: true,
        consumer_counters_intact: true,
        gen: Gen::default(),
    };
    world.reinit(Ctx { step: 0, op: None });
    for (step, op) in input.ops.iter().take(MAX_OPS).enumerate() {
        world.step(Ctx { step, op: Some(op) }, op);
    }
    world.close();
    // The handles go before the region (they borrow it).
    drop(world);
    drop(region);
});
