//! Throughput benchmarks: pcm-ring against rtrb 0.4, ringbuf 0.6 and plain
//! copies (the "floor": the same bytes copied into and out of a plain array).
//!
//! Groups (criterion ids are `group/variant/parameter`):
//!
//! - `one_thread`: write one chunk then read it back, ring of 4 × 1920 bytes
//!   (block 4), chunks of 4, 64, 480, 1920 and 7680 bytes; pcm-ring's copy
//!   API and zero-copy API under each overrun policy (SilenceFill on), rtrb
//!   chunks with `CopyToUninit`, ringbuf `push_slice`/`pop_slice`, the floor,
//!   and `claim_bound`: rtrb's round trip plus the claim that a sound
//!   `OverwriteOldest` read through split handles needs (see [`ClaimWord`]).
//! - `two_threads`: stream 256 MiB (32 MiB in quick mode) in 1920-byte chunks
//!   through a 7680-byte ring, producer and consumer on their own threads.
//! - `silence`: read an empty ring with SilenceFill into 1920 bytes, against
//!   a plain fill of the same pattern (zero, and unsigned 16-bit).
//! - `overwrite`: OverwriteOldest with a producer that always overruns (write
//!   1920 bytes into a full ring, read 480), against the floor for the same
//!   bytes and ringbuf's `push_slice_overwrite` (unsplit ring only).
//! - `cyclic`: `read_cyclic` into a DMA-like destination where both the ring
//!   and the destination wrap, against two plain `copy_from_slice`.
//!
//! Every ring's storage starts on a page (see [`PageAligned`]) and every
//! source and destination buffer at the same offset within a page as the
//! storage it is copied to or from (see [`PageBuf`]), so that all variants
//! see the same address pattern.
//!
//! `PCM_RING_BENCH_QUICK=1` shortens warm-up and measurement. See
//! `docs/performance.md` for the commands and `benches/report.py` for the
//! table of ratios.

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, SamplingMode, Throughput};
use pcm_ring::{Config, Overrun, Silence};
use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
use rtrb::CopyToUninit;

/// 48 kHz 16-bit stereo.
const BLOCK: usize = 4;
/// 10 ms of 48 kHz 16-bit stereo.
const PERIOD: usize = 1920;
/// The ring of the one-thread and two-thread groups: 40 ms.
const RING: usize = 4 * PERIOD;
/// Chunk sizes of the one-thread group.
const CHUNKS: [usize; 5] = [4, 64, 480, 1920, 7680];

use common::{criterion_config, quick, PageBuf, PAGE};

#[global_allocator]
static ALLOCATOR: common::PageAligned = common::PageAligned;

/// The three overrun policies, with the names used in benchmark ids.
const POLICIES: [(&str, Overrun); 3] = [
    ("reject", Overrun::Reject),
    ("truncate", Overrun::Truncate),
    ("overwrite", Overrun::OverwriteOldest),
];

/// The page offset of a ring's storage, found through a write grant at
/// position 0 (dropped uncommitted).
fn pcm_phase(tx: &mut pcm_ring::Producer<'_>) -> usize {
    let mut grant = tx.grant(BLOCK).unwrap();
    grant.as_mut_slices().0.as_ptr() as usize % PAGE
}

fn rtrb_phase(tx: &mut rtrb::Producer<u8>) -> usize {
    let mut chunk = tx.write_chunk_uninit(1).unwrap();
    chunk.as_mut_slices().0.as_ptr() as usize % PAGE
}

fn ringbuf_phase<P: ringbuf::traits::Producer<Item = u8>>(tx: &P) -> usize {
    tx.vacant_slices().0.as_ptr() as usize % PAGE
}

// ---------------------------------------------------------------------------
// One thread: write then read.

fn one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_thread");
    for n in CHUNKS {
        group.throughput(Throughput::Bytes(n as u64));

        for (name, policy) in POLICIES {
            let config = Config::raw(BLOCK, RING).overrun(policy);
            group.bench_with_input(
                BenchmarkId::new(format!("pcm_plain_{name}"), n),
                &n,
                |b, _| {
                    // What a user writes first: plain buffers from the
                    // allocator, `?`, every outcome checked.
                    let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
                    let src: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
                    let mut dst = vec![0u8; n];
                    b.iter(|| {
                        plain_round_trip(&mut tx, &mut rx, black_box(&src), &mut dst).unwrap()
                    });
                    assert_eq!(dst, src);
                },
            );
            group.bench_with_input(
                BenchmarkId::new(format!("pcm_copy_{name}"), n),
                &n,
                |b, _| {
                    let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
                    let phase = pcm_phase(&mut tx);
                    let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
                    b.iter(|| {
                        let _ = tx.write(black_box(&src[..])).unwrap();
                        let _ = rx.read(black_box(&mut dst[..])).unwrap();
                    });
                    assert_eq!(dst[..], src[..]);
                },
            );
            group.bench_with_input(BenchmarkId::new(format!("pcm_zc_{name}"), n), &n, |b, _| {
                let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
                let phase = pcm_phase(&mut tx);
                let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
                b.iter(|| {
                    let src = black_box(&src[..]);
                    let mut grant = tx.grant(src.len()).unwrap();
                    let (w0, w1) = grant.as_mut_slices();
                    let (s0, s1) = src.split_at(w0.len());
                    w0.copy_from_slice(s0);
                    w1.copy_from_slice(s1);
                    grant.commit(src.len()).unwrap();

                    let dst = black_box(&mut dst[..]);
                    let grant = rx.read_grant(dst.len());
                    let (r0, r1) = grant.as_slices();
                    let (d0, d1) = dst.split_at_mut(r0.len());
                    d0.copy_from_slice(r0);
                    d1.copy_from_slice(r1);
                    let _ = grant.release(dst.len()).unwrap();
                });
                assert_eq!(dst[..], src[..]);
            });
        }

        group.bench_with_input(BenchmarkId::new("rtrb", n), &n, |b, _| {
            let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new(RING);
            let phase = rtrb_phase(&mut tx);
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
            b.iter(|| rtrb_round_trip(&mut tx, &mut rx, &src, &mut dst, None));
            assert_eq!(dst[..], src[..]);
        });

        // Not a peer: rtrb plus the claim that a sound OverwriteOldest read
        // through split handles takes (see `ClaimWord`).
        group.bench_with_input(BenchmarkId::new("claim_bound", n), &n, |b, _| {
            let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new(RING);
            let phase = rtrb_phase(&mut tx);
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
            let claim = Box::new(ClaimWord::default());
            b.iter(|| rtrb_round_trip(&mut tx, &mut rx, &src, &mut dst, Some(&claim)));
            assert_eq!(dst[..], src[..]);
            assert_eq!(claim.0.load(Ordering::Relaxed) & ClaimWord::BUSY, 0);
        });

        group.bench_with_input(BenchmarkId::new("ringbuf", n), &n, |b, _| {
            let (mut tx, mut rx) = ringbuf::HeapRb::<u8>::new(RING).split();
            let phase = ringbuf_phase(&tx);
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
            b.iter(|| {
                let pushed = tx.push_slice(black_box(&src[..]));
                let popped = rx.pop_slice(black_box(&mut dst[..]));
                black_box((pushed, popped));
            });
            assert_eq!(dst[..], src[..]);
        });

        group.bench_with_input(BenchmarkId::new("floor", n), &n, |b, _| {
            let mut store = PageBuf::new(RING, 0);
            let (src, mut dst) = (PageBuf::pattern(n, 0), PageBuf::new(n, 0));
            b.iter(|| {
                store[..n].copy_from_slice(black_box(&src[..]));
                let store = black_box(&store[..n]);
                black_box(&mut dst[..]).copy_from_slice(store);
            });
            assert_eq!(dst[..], src[..]);
        });
    }
    group.finish();
}

/// One write and one read through the copy API, as the harness
/// times them: `?` on both, and the outcomes checked.
#[inline(always)]
fn plain_round_trip(
    tx: &mut pcm_ring::Producer<'_>,
    rx: &mut pcm_ring::Consumer<'_>,
    src: &[u8],
    dst: &mut [u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let put = tx.write(src)?;
    let got = rx.read(dst)?;
    if put.written != src.len() || got.data != dst.len() {
        return Err("short".into());
    }
    Ok(())
}

/// The least a sound `OverwriteOldest` read through split handles pays on top
/// of an ordinary SPSC read: the producer may move the read position to
/// discard the oldest blocks, so before copying them the consumer claims the
/// position word with a compare-and-swap (a locked instruction on x86), which
/// the producer then leaves alone, and releases it with the new position.
/// pcm-ring's consumer does this on every `OverwriteOldest` read; without
/// the claim the producer could overwrite bytes the consumer is copying.
/// `claim_bound` is rtrb's round trip with this claim added on a word of its
/// own line: what the claim alone adds to an SPSC round trip, the part of
/// an `OverwriteOldest` read's cost that no sound design through split
/// handles avoids.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct ClaimWord(AtomicU32);

impl ClaimWord {
    /// The claim bit, as pcm-ring's (bit 31 of the read position).
    const BUSY: u32 = 1 << 31;

    /// Claims the word: one load and one compare-and-swap.
    #[inline(always)]
    fn claim(&self) -> u32 {
        let position = self.0.load(Ordering::Acquire);
        let claimed = self.0.compare_exchange(
            position,
            position | Self::BUSY,
            Ordering::Acquire,
            Ordering::Relaxed,
        );
        black_box(claimed.is_ok());
        position
    }

    /// Releases the claim with the position moved on by `n`.
    #[inline(always)]
    fn release(&self, position: u32, n: usize) {
        let next = position.wrapping_add(n as u32) & !Self::BUSY;
        self.0.store(next, Ordering::Release);
    }
}

/// One write and one read through rtrb's chunks (`CopyToUninit` in, plain
/// copies out), as its documentation shows; with `claim`, the read is
/// bracketed by [`ClaimWord`]'s claim and release.
#[inline(always)]
fn rtrb_round_trip(
    tx: &mut rtrb::Producer<u8>,
    rx: &mut rtrb::Consumer<u8>,
    src: &PageBuf,
    dst: &mut PageBuf,
    claim: Option<&ClaimWord>,
) {
    let src = black_box(&src[..]);
    let mut chunk = tx.write_chunk_uninit(src.len()).unwrap();
    let (w0, w1) = chunk.as_mut_slices();
    let (s0, s1) = src.split_at(w0.len());
    s0.copy_to_uninit(w0);
    s1.copy_to_uninit(w1);
    // SAFETY: both slices of the chunk were just initialised.
    unsafe { chunk.commit_all() };

    let dst = black_box(&mut dst[..]);
    let position = claim.map(ClaimWord::claim);
    let chunk = rx.read_chunk(dst.len()).unwrap();
    let (r0, r1) = chunk.as_slices();
    let (d0, d1) = dst.split_at_mut(r0.len());
    d0.copy_from_slice(r0);
    d1.copy_from_slice(r1);
    chunk.commit_all();
    if let (Some(claim), Some(position)) = (claim, position) {
        claim.release(position, dst.len());
    }
}

// ---------------------------------------------------------------------------
// Two threads: stream through a 7680-byte ring.

/// Spins a little, then yields the core: both sides wait this way, so that a
/// side whose peer was descheduled gives the core back (two cores only).
/// It also counts how often its side had to wait: the side that waits less
/// is the one that sets the pace.
struct Backoff {
    step: u32,
    waits: usize,
}

impl Backoff {
    fn new() -> Self {
        Backoff { step: 0, waits: 0 }
    }

    fn reset(&mut self) {
        self.step = 0;
    }

    fn snooze(&mut self) {
        self.waits += 1;
        if self.step < 6 {
            for _ in 0..1u32 << self.step {
                std::hint::spin_loop();
            }
            self.step += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

/// Bytes streamed per iteration: 256 MiB, or 32 MiB in quick mode, as whole
/// chunks.
fn stream_chunks() -> usize {
    let total = if quick() { 32 << 20 } else { 256 << 20 };
    total / PERIOD
}

fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("two_threads");
    let chunks = stream_chunks();
    group.throughput(Throughput::Bytes((chunks * PERIOD) as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(if quick() { 200 } else { 500 }));
    group.measurement_time(Duration::from_secs(if quick() { 1 } else { 5 }));
    // The same variants, loops and pinning as the interleaved comparison
    // (`PCM_RING_TWO_THREADS=1`, see `benches/ring/threads.rs`).
    for variant in &threads::variants() {
        group.bench_function(BenchmarkId::new(&variant.name, PERIOD), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| threads::stream(variant, chunks, None).0)
                    .sum()
            })
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// Silence fill of an empty ring.

fn silence(c: &mut Criterion) {
    /// Unsigned 16-bit little-endian silence, as a plain loop would write it.
    const U16_LE: [u8; 2] = [0x00, 0x80];

    let mut group = c.benchmark_group("silence");
    group.throughput(Throughput::Bytes(PERIOD as u64));
    let cases = [("zero", Silence::ZERO), ("u16le", Silence::U16_LE)];
    for (name, silence) in cases {
        let param = format!("{name}-{PERIOD}");
        let config = Config::raw(BLOCK, RING).silence(silence);
        group.bench_function(BenchmarkId::new("pcm_empty_read", &param), |b| {
            let (_tx, mut rx) = pcm_ring::heap(&config).unwrap();
            let mut dst = PageBuf::new(PERIOD, 0);
            b.iter(|| {
                let got = rx.read(black_box(&mut dst[..])).unwrap();
                let _ = black_box(got);
            });
            assert_eq!(dst[..2], silence.pattern().repeat(2)[..2]);
        });
        group.bench_function(BenchmarkId::new("floor", &param), |b| {
            let mut dst = PageBuf::new(PERIOD, 0);
            if silence == Silence::ZERO {
                b.iter(|| black_box(&mut dst[..]).fill(black_box(0)));
            } else {
                b.iter(|| {
                    for frame in black_box(&mut dst[..]).chunks_exact_mut(U16_LE.len()) {
                        frame.copy_from_slice(&U16_LE);
                    }
                });
            }
            assert_eq!(dst[..2], silence.pattern().repeat(2)[..2]);
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// OverwriteOldest under a producer that always overruns.

fn overwrite(c: &mut Criterion) {
    const READ: usize = PERIOD / 4;
    let mut group = c.benchmark_group("overwrite");
    // Bytes moved per iteration: one chunk in and a quarter of one out.
    group.throughput(Throughput::Bytes((PERIOD + READ) as u64));
    let param = format!("{PERIOD}+{READ}");

    group.bench_function(BenchmarkId::new("pcm_copy_overwrite", &param), |b| {
        let config = Config::raw(BLOCK, RING).overrun(Overrun::OverwriteOldest);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let phase = pcm_phase(&mut tx);
        let (src, mut dst) = (PageBuf::pattern(PERIOD, phase), PageBuf::new(READ, phase));
        let _ = tx.write(&PageBuf::pattern(RING, 0)).unwrap();
        b.iter(|| {
            let put = tx.write(black_box(&src[..])).unwrap();
            let got = rx.read(black_box(&mut dst[..])).unwrap();
            let _ = black_box((put, got));
        });
        let c = rx.counters();
        assert!(c.overruns > 0 && c.overwritten > 0 && c.dropped == 0);
    });

    group.bench_function(BenchmarkId::new("ringbuf_unsplit", &param), |b| {
        let mut rb = ringbuf::HeapRb::<u8>::new(RING);
        let phase = rb.vacant_slices().0.as_ptr() as usize % PAGE;
        let (src, mut dst) = (PageBuf::pattern(PERIOD, phase), PageBuf::new(READ, phase));
        rb.push_slice(&PageBuf::pattern(RING, 0));
        b.iter(|| {
            rb.push_slice_overwrite(black_box(&src[..]));
            let popped = rb.pop_slice(black_box(&mut dst[..]));
            black_box(popped);
        });
    });

    group.bench_function(BenchmarkId::new("floor", &param), |b| {
        let mut store = PageBuf::new(RING, 0);
        let (src, mut dst) = (PageBuf::pattern(PERIOD, 0), PageBuf::new(READ, 0));
        b.iter(|| {
            store[..PERIOD].copy_from_slice(black_box(&src[..]));
            let store = black_box(&store[..READ]);
            black_box(&mut dst[..]).copy_from_slice(store);
        });
    });
    group.finish();
}

// ---------------------------------------------------------------------------
// Reading into a cyclic destination where both the ring and it wrap.

fn cyclic(c: &mut Criterion) {
    // A one-period ring whose positions sit half a period before its end, so
    // that every write and every read wraps there; a two-period destination
    // read at a quarter period before its end, so that it wraps at another
    // place: the read is three copies (480 + 480 + 960 bytes).
    const DMA: usize = 2 * PERIOD;
    const OFFSET: usize = DMA - PERIOD / 4;
    let mut group = c.benchmark_group("cyclic");
    group.throughput(Throughput::Bytes(PERIOD as u64));

    group.bench_function(BenchmarkId::new("pcm_read_cyclic", PERIOD), |b| {
        let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(BLOCK, PERIOD)).unwrap();
        let phase = pcm_phase(&mut tx);
        let (src, mut dma) = (PageBuf::pattern(PERIOD, phase), PageBuf::new(DMA, phase));
        let _ = tx.write(&src[..PERIOD / 2]).unwrap();
        let _ = rx.read(&mut [0; PERIOD / 2]).unwrap();
        b.iter(|| {
            let _ = tx.write(black_box(&src[..])).unwrap();
            let got = rx
                .read_cyclic(black_box(&mut dma[..]), black_box(OFFSET), PERIOD)
                .unwrap();
            let _ = black_box(got);
        });
        assert_eq!(dma[OFFSET..], src[..DMA - OFFSET]);
        assert_eq!(dma[..PERIOD - (DMA - OFFSET)], src[DMA - OFFSET..]);
    });

    group.bench_function(BenchmarkId::new("floor", PERIOD), |b| {
        let mut store = PageBuf::new(PERIOD, 0);
        let (src, mut dma) = (PageBuf::pattern(PERIOD, 0), PageBuf::new(DMA, 0));
        b.iter(|| {
            store.copy_from_slice(black_box(&src[..]));
            let store = black_box(&store[..]);
            black_box(&mut dma[..])[..PERIOD].copy_from_slice(store);
        });
    });

    group.bench_function(BenchmarkId::new("floor_split", PERIOD), |b| {
        // The same pieces pcm-ring copies: in at the ring's wrap, out at the
        // ring's and the destination's.
        let (half, tail) = (PERIOD / 2, DMA - OFFSET);
        let mut store = PageBuf::new(PERIOD, 0);
        let (src, mut dma) = (PageBuf::pattern(PERIOD, 0), PageBuf::new(DMA, 0));
        b.iter(|| {
            let src = black_box(&src[..]);
            store[half..].copy_from_slice(&src[..half]);
            store[..half].copy_from_slice(&src[half..]);
            let store = black_box(&store[..]);
            let dma = black_box(&mut dma[..]);
            dma[OFFSET..].copy_from_slice(&store[half..half + tail]);
            dma[..half - tail].copy_from_slice(&store[half + tail..]);
            dma[half - tail..PERIOD - tail].copy_from_slice(&store[..half]);
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = one_thread, two_threads, silence, overwrite, cyclic
}
#[path = "common/mod.rs"]
mod common;
#[path = "ring/count.rs"]
mod count;
#[path = "ring/interleaved.rs"]
mod interleaved;
#[path = "ring/threads.rs"]
mod threads;

/// Criterion's groups, or, with `PCM_RING_COUNT` set, one operation in a
/// loop for callgrind (`benches/count.sh`), or, with `PCM_RING_TWO_THREADS`
/// set, the interleaved two-thread comparison (`benches/ring/threads.rs`),
/// or, with `PCM_RING_INTERLEAVED` set, the per-call comparison in
/// interleaved batches (`benches/ring/interleaved.rs`).
fn main() {
    if let Ok(op) = std::env::var("PCM_RING_COUNT") {
        count::run(&op);
        return;
    }
    if std::env::var_os("PCM_RING_TWO_THREADS").is_some() {
        threads::run();
        return;
    }
    if std::env::var_os("PCM_RING_INTERLEAVED").is_some() {
        interleaved::run();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
