//! Two threads, measured so that a reader can trust the comparison on a
//! noisy machine: `PCM_RING_TWO_THREADS=1 <bench executable>`.
//!
//! - Every variant streams the same bytes (`PCM_RING_TWO_THREADS_MIB`,
//!   default 256 MiB) in 1920-byte chunks through a 7680-byte ring; the
//!   consumer checks each chunk's sequence byte.
//! - Rounds (`PCM_RING_TWO_THREADS_ROUNDS`, default 21): each round runs
//!   every variant once, starting at a different variant each round, so
//!   that slow stretches of the machine fall on every variant alike.
//! - The producer thread is pinned to CPU 0 and the consumer thread to CPU
//!   1 with `sched_setaffinity` where the system allows it (the output says
//!   whether it did); `PCM_RING_TWO_THREADS_PIN=0` leaves them to the
//!   scheduler (better when other work shares the machine: a pinned thread
//!   then waits for its own CPU while the other may be idle).
//! - It prints each variant's median throughput with its 25th and 75th
//!   percentiles, and the ratio of pcm-ring's time to the best peer's: the
//!   ratio of the medians, and the median (with the 10th and 90th
//!   percentiles) of the ratios taken within each round, which cancels
//!   slow stretches that last a round. And how often each side had to wait
//!   per chunk (a full ring for the producer, an empty one for the
//!   consumer): the side that waits less sets the pace.
//! - `PCM_RING_TWO_THREADS_RTRB_EXTRA=n` adds a calibration variant,
//!   `rtrb+n`: rtrb with `n` iterations of an empty loop after each chunk on
//!   both sides, to see what that much more work per call costs here.
//! - `twin_rtrb` (on unless `PCM_RING_TWO_THREADS_TWIN=0`) is rtrb again
//!   under another name and not a peer: an A/A control. Its ratios are what
//!   the statistics give for code exactly as fast as a peer (the per-round
//!   ratio is to the faster of two peers, so it leans above 1), so a
//!   pcm-ring ratio means something only beyond the twin's.
//! - `PCM_RING_TWO_THREADS_MIXED=1` adds two pcm-ring variants whose sides
//!   use different APIs (`write` with `read_grant`, `grant` with `read`),
//!   which tell which side a difference between the copy and the zero-copy
//!   rows comes from. `PCM_RING_TWO_THREADS_ONLY=a,b` runs only the named
//!   variants (and the peers).
//! - Each side reads the clock itself, after the start barrier and when it
//!   is done; a stream's time runs from the earlier start to the later end.
//! - Each round places every variant anew (`PCM_RING_TWO_THREADS_REPLACE`,
//!   default 1; 0 keeps the allocator's placement): its ring lands behind
//!   a spacer allocation of 0 to 16 KiB, and each side runs 0 to 4 KiB
//!   deeper on its stack, where it keeps its handle. Without it, one
//!   process keeps one placement for every round, and the same build of
//!   pcm-ring measured about 1.05 × the best peer in some processes and
//!   1.13 × in others; with it, the per-round ratios average over
//!   placements.
//!
//! How each side waits: on a full or empty ring it spins a little, then
//! yields (two cores: a side whose peer was descheduled gives the core
//! back). Each crate is driven the way its API is meant to be used: the
//! producer tries to write and backs off when refused (rtrb's
//! `write_chunk_uninit`, ringbuf's `push_slice` of what is left, pcm-ring's
//! `write` under `Reject` or `grant`); under `OverwriteOldest`, where a
//! write never fails, pcm-ring's producer waits for `free()` so that
//! nothing is overwritten. The consumer takes what is there (ringbuf's
//! `pop_slice`, pcm-ring's `read` with `Underrun::Partial`) or waits for a
//! whole chunk (rtrb's `read_chunk`, pcm-ring's `read_grant`).

use super::*;
use pcm_ring::{Underrun, WriteError};

/// Pins the calling thread to `cpu`; whether it worked.
#[cfg(target_os = "linux")]
pub fn pin(cpu: usize) -> bool {
    if std::env::var_os("PCM_RING_TWO_THREADS_PIN").is_some_and(|v| v == "0") {
        return false;
    }
    extern "C" {
        fn sched_setaffinity(pid: i32, size: usize, mask: *const u64) -> i32;
    }
    if cpu >= 64 {
        return false;
    }
    let mask = 1u64 << cpu;
    // SAFETY: `mask` is a valid CPU set of `size_of::<u64>()` bytes for the
    // duration of the call; pid 0 is the calling thread.
    unsafe { sched_setaffinity(0, core::mem::size_of::<u64>(), &mask) == 0 }
}

#[cfg(not(target_os = "linux"))]
pub fn pin(_cpu: usize) -> bool {
    false
}

/// One side of a stream: moves `chunks` chunks; returns how often it had
/// to wait (see `Backoff`).
type Side = Box<dyn FnOnce(usize) -> usize + Send>;

/// A variant: makes a fresh ring and its two sides.
pub struct Variant {
    /// The benchmark id.
    pub name: String,
    make: Box<dyn Fn() -> (Side, Side)>,
}

/// Which of pcm-ring's APIs a side uses.
#[derive(Clone, Copy)]
enum Api {
    /// `write` (refused when full), `read` (takes what is there).
    Copy,
    /// `grant` + `commit`, `read_grant` of a whole chunk + `release`.
    ZeroCopy,
}

/// pcm-ring's two sides, each with its own API (the mixed variants pair
/// different ones, to tell which side a difference comes from).
fn pcm_sides(policy: Overrun, underrun: Underrun, producer: Api, consumer: Api) -> (Side, Side) {
    let config = Config::raw(BLOCK, RING).overrun(policy).underrun(underrun);
    let (mut tx, rx) = pcm_ring::heap(&config).unwrap();
    let phase = pcm_phase(&mut tx);
    let produce: Side = match producer {
        Api::Copy => Box::new(move |chunks| pcm_write(tx, policy, phase, chunks)),
        Api::ZeroCopy => Box::new(move |chunks| pcm_grant(tx, policy, phase, chunks)),
    };
    let consume: Side = match consumer {
        Api::Copy => Box::new(move |chunks| pcm_read(rx, phase, chunks)),
        Api::ZeroCopy => Box::new(move |chunks| pcm_read_grant(rx, phase, chunks)),
    };
    (produce, consume)
}

fn pcm_copy(policy: Overrun) -> (Side, Side) {
    pcm_sides(policy, Underrun::Partial, Api::Copy, Api::Copy)
}

fn pcm_zc(policy: Overrun) -> (Side, Side) {
    pcm_sides(policy, Underrun::SilenceFill, Api::ZeroCopy, Api::ZeroCopy)
}

/// Under `OverwriteOldest`, where a write never fails, waits until a chunk
/// fits so that nothing is overwritten.
fn wait_for_room(tx: &pcm_ring::Producer<'_>, policy: Overrun, backoff: &mut Backoff) {
    if policy == Overrun::OverwriteOldest {
        while tx.free() < PERIOD {
            backoff.snooze();
        }
    }
}

/// The copy API's producer: `write` each chunk, and back off while refused.
fn pcm_write(
    mut tx: pcm_ring::Producer<'_>,
    policy: Overrun,
    phase: usize,
    chunks: usize,
) -> usize {
    let mut src = PageBuf::pattern(PERIOD, phase);
    let mut backoff = Backoff::new();
    for i in 0..chunks {
        src[0] = i as u8;
        wait_for_room(&tx, policy, &mut backoff);
        loop {
            match tx.write(black_box(&src[..])) {
                Ok(out) => {
                    assert_eq!(out.written, PERIOD);
                    break;
                }
                Err(WriteError::Full { .. }) => backoff.snooze(),
                Err(e) => panic!("{e:?}"),
            }
        }
        backoff.reset();
    }
    backoff.waits
}

/// The zero-copy producer: `grant` a chunk (backing off while refused),
/// copy into its slices, `commit`.
fn pcm_grant(
    mut tx: pcm_ring::Producer<'_>,
    policy: Overrun,
    phase: usize,
    chunks: usize,
) -> usize {
    let mut src = PageBuf::pattern(PERIOD, phase);
    let mut backoff = Backoff::new();
    for i in 0..chunks {
        src[0] = i as u8;
        wait_for_room(&tx, policy, &mut backoff);
        let mut grant = loop {
            match tx.grant(PERIOD) {
                Ok(grant) => break grant,
                Err(WriteError::Full { .. }) => backoff.snooze(),
                Err(e) => panic!("{e:?}"),
            }
        };
        backoff.reset();
        let src = black_box(&src[..]);
        let (w0, w1) = grant.as_mut_slices();
        let (s0, s1) = src.split_at(w0.len());
        w0.copy_from_slice(s0);
        w1.copy_from_slice(s1);
        grant.commit(PERIOD).unwrap();
    }
    backoff.waits
}

/// The copy API's consumer: `read` what is there (`Underrun::Partial`) until
/// the chunk is complete, backing off while the ring is empty.
fn pcm_read(mut rx: pcm_ring::Consumer<'_>, phase: usize, chunks: usize) -> usize {
    let mut dst = PageBuf::new(PERIOD, phase);
    let mut backoff = Backoff::new();
    for i in 0..chunks {
        let mut filled = 0;
        while filled < PERIOD {
            let got = rx.read(black_box(&mut dst[filled..])).unwrap();
            if got.data == 0 {
                backoff.snooze();
            } else {
                backoff.reset();
            }
            filled += got.data;
        }
        assert_eq!(black_box(&dst[..])[0], i as u8);
    }
    backoff.waits
}

/// The zero-copy consumer: wait for a `read_grant` of the whole chunk, copy
/// out of its slices, `release`.
fn pcm_read_grant(mut rx: pcm_ring::Consumer<'_>, phase: usize, chunks: usize) -> usize {
    let mut dst = PageBuf::new(PERIOD, phase);
    let mut backoff = Backoff::new();
    for i in 0..chunks {
        loop {
            let grant = rx.read_grant(PERIOD);
            if grant.len() == PERIOD {
                let (r0, r1) = grant.as_slices();
                let (d0, d1) = dst.split_at_mut(r0.len());
                d0.copy_from_slice(r0);
                d1.copy_from_slice(r1);
                let _ = grant.release(PERIOD).unwrap();
                break;
            }
            drop(grant);
            backoff.snooze();
        }
        backoff.reset();
        assert_eq!(black_box(&dst[..])[0], i as u8);
    }
    backoff.waits
}

/// Extra work per chunk and side for the calibration variant: `extra`
/// iterations of an empty loop that the optimiser must keep.
#[inline(always)]
fn extra_work(extra: u32) {
    for k in 0..extra {
        black_box(k);
    }
}

/// rtrb's sides; `extra` adds [`extra_work`] after each chunk on both sides
/// (0 for the peer itself).
fn rtrb_sides(extra: u32) -> (Side, Side) {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new(RING);
    let phase = rtrb_phase(&mut tx);
    let produce = move |chunks: usize| {
        let mut src = PageBuf::pattern(PERIOD, phase);
        let mut backoff = Backoff::new();
        for i in 0..chunks {
            src[0] = i as u8;
            let mut chunk = loop {
                match tx.write_chunk_uninit(PERIOD) {
                    Ok(chunk) => break chunk,
                    Err(_) => backoff.snooze(),
                }
            };
            backoff.reset();
            let src = black_box(&src[..]);
            let (w0, w1) = chunk.as_mut_slices();
            let (s0, s1) = src.split_at(w0.len());
            s0.copy_to_uninit(w0);
            s1.copy_to_uninit(w1);
            // SAFETY: both slices of the chunk were just initialised.
            unsafe { chunk.commit_all() };
            extra_work(extra);
        }
        backoff.waits
    };
    let consume = move |chunks: usize| {
        let mut dst = PageBuf::new(PERIOD, phase);
        let mut backoff = Backoff::new();
        for i in 0..chunks {
            let chunk = loop {
                match rx.read_chunk(PERIOD) {
                    Ok(chunk) => break chunk,
                    Err(_) => backoff.snooze(),
                }
            };
            backoff.reset();
            let (r0, r1) = chunk.as_slices();
            let (d0, d1) = dst.split_at_mut(r0.len());
            d0.copy_from_slice(r0);
            d1.copy_from_slice(r1);
            chunk.commit_all();
            extra_work(extra);
            assert_eq!(black_box(&dst[..])[0], i as u8);
        }
        backoff.waits
    };
    (Box::new(produce), Box::new(consume))
}

fn ringbuf_sides() -> (Side, Side) {
    let (mut tx, mut rx) = ringbuf::HeapRb::<u8>::new(RING).split();
    let phase = ringbuf_phase(&tx);
    let produce = move |chunks: usize| {
        let mut src = PageBuf::pattern(PERIOD, phase);
        let mut backoff = Backoff::new();
        for i in 0..chunks {
            src[0] = i as u8;
            let mut sent = 0;
            while sent < PERIOD {
                let pushed = tx.push_slice(black_box(&src[sent..]));
                if pushed == 0 {
                    backoff.snooze();
                } else {
                    backoff.reset();
                }
                sent += pushed;
            }
        }
        backoff.waits
    };
    let consume = move |chunks: usize| {
        let mut dst = PageBuf::new(PERIOD, phase);
        let mut backoff = Backoff::new();
        for i in 0..chunks {
            let mut filled = 0;
            while filled < PERIOD {
                let popped = rx.pop_slice(black_box(&mut dst[filled..]));
                if popped == 0 {
                    backoff.snooze();
                } else {
                    backoff.reset();
                }
                filled += popped;
            }
            assert_eq!(black_box(&dst[..])[0], i as u8);
        }
        backoff.waits
    };
    (Box::new(produce), Box::new(consume))
}

/// Every variant, pcm-ring's first, then the two peers; with
/// `PCM_RING_TWO_THREADS_RTRB_EXTRA=n`, also rtrb with `n` iterations of
/// extra work per chunk and side (`rtrb+n`, not a peer): a calibration of
/// what a few more instructions per call cost across threads.
pub fn variants() -> Vec<Variant> {
    fn variant(name: &str, make: impl Fn() -> (Side, Side) + 'static) -> Variant {
        Variant {
            name: name.to_string(),
            make: Box::new(make),
        }
    }
    let mut v = vec![
        variant("pcm_copy_reject", || pcm_copy(Overrun::Reject)),
        variant("pcm_copy_overwrite", || pcm_copy(Overrun::OverwriteOldest)),
        variant("pcm_zc_reject", || pcm_zc(Overrun::Reject)),
        variant("pcm_zc_overwrite", || pcm_zc(Overrun::OverwriteOldest)),
        variant("rtrb", || rtrb_sides(0)),
        variant("ringbuf", ringbuf_sides),
    ];
    if env_usize("PCM_RING_TWO_THREADS_TWIN", 1) > 0 {
        v.push(variant("twin_rtrb", || rtrb_sides(0)));
    }
    if env_usize("PCM_RING_TWO_THREADS_MIXED", 0) > 0 {
        v.push(variant("pcm_mixed_write_readgrant", || {
            pcm_sides(Overrun::Reject, Underrun::Partial, Api::Copy, Api::ZeroCopy)
        }));
        v.push(variant("pcm_mixed_grant_read", || {
            pcm_sides(Overrun::Reject, Underrun::Partial, Api::ZeroCopy, Api::Copy)
        }));
    }
    if let Ok(only) = std::env::var("PCM_RING_TWO_THREADS_ONLY") {
        let keep: Vec<&str> = only.split(',').map(str::trim).collect();
        v.retain(|x| is_peer(&x.name) || keep.contains(&x.name.as_str()));
    }
    let extra = env_usize("PCM_RING_TWO_THREADS_RTRB_EXTRA", 0) as u32;
    if extra > 0 {
        v.push(variant(&format!("rtrb+{extra}"), move || rtrb_sides(extra)));
    }
    v
}

/// The peers, against which pcm-ring's times are compared.
fn is_peer(name: &str) -> bool {
    name == "rtrb" || name == "ringbuf"
}

/// One stream of `chunks` chunks: its time, whether both threads were
/// pinned, and how often the producer and the consumer had to wait.
/// `place` is a random seed for a new placement (see [`run`]), `None` for
/// the allocator's.
///
/// The time runs from the first side's start to the last side's end, each
/// read by the side's own thread: the thread that spawns them is not
/// pinned, and on two cores taken by the two sides it may run only after
/// a scheduler tick, so a clock it read would start late by a random part
/// of the stream (a short stream could even seem to take no time).
pub fn stream(
    variant: &Variant,
    chunks: usize,
    place: Option<u64>,
) -> (Duration, bool, [usize; 2]) {
    // A new placement (see `run`): the ring behind a spacer of 0 to 16 KiB,
    // each side 0 to 4 KiB deeper on its stack.
    let seed = place.unwrap_or(0);
    let spacer = Placement::spacer(seed);
    let (produce, consume) = (variant.make)();
    let depths = [Placement::depth(seed, 0), Placement::depth(seed, 1)];
    let ready = std::sync::Barrier::new(2);
    let side = |cpu: usize, work: Side| {
        let ready = &ready;
        let depth = depths[cpu];
        move || {
            let pinned = pin(cpu);
            ready.wait();
            let start = Instant::now();
            let waits = at_depth(depth, || work(chunks));
            (start, Instant::now(), waits, pinned)
        }
    };
    let ((p_start, p_end, p_waits, p_pinned), (c_start, c_end, c_waits, c_pinned)) =
        std::thread::scope(|s| {
            let consumer = s.spawn(side(1, consume));
            let producer = s.spawn(side(0, produce));
            (producer.join().unwrap(), consumer.join().unwrap())
        });
    drop(black_box(spacer));
    let elapsed = p_end.max(c_end) - p_start.min(c_start);
    (elapsed, p_pinned && c_pinned, [p_waits, c_waits])
}

/// Where the next variant lands: a seed stepped for every variant and
/// round (xorshift), which gives a spacer allocation of 0 to 16 KiB (in
/// 64-byte steps) to make before the variant's buffers and stack depths
/// of 0 to 4 KiB to run it at. Shared by this driver and the per-call one
/// (`interleaved.rs`): a process that kept one placement for every round
/// measured the same build differently from one process to the next.
pub struct Placement(u64);

impl Placement {
    /// A seed from the clock.
    pub fn new() -> Placement {
        Placement(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1,
        )
    }

    /// Steps to the next placement and returns its seed.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The spacer to keep alive while the variant runs.
    pub fn spacer(seed: u64) -> Vec<u8> {
        vec![1u8; (seed % 256) as usize * 64]
    }

    /// Stack depth `k` of a placement (one per side), in 64-byte frames.
    pub fn depth(seed: u64, k: usize) -> usize {
        (seed >> (8 * (k + 1))) as usize % 64
    }
}

/// Runs `f` `depth` frames of 64 bytes deeper on the stack: the code keeps
/// its handles and loop state there, and a stack at one offset in a page
/// for a whole run could collide with the buffers every round.
#[inline(never)]
pub fn at_depth<R>(depth: usize, f: impl FnOnce() -> R) -> R {
    let pad = [0u8; 64];
    let r = if depth == 0 {
        f()
    } else {
        at_depth(depth - 1, f)
    };
    // After the call, so that each frame stays on the stack.
    black_box(&pad);
    r
}

/// The `q`-quantile of sorted `v` (nearest rank).
pub fn quantile(v: &[f64], q: f64) -> f64 {
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

/// The median of `v` (sorted here).
pub fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs the rounds and prints the table.
pub fn run() {
    let mib = env_usize("PCM_RING_TWO_THREADS_MIB", 256);
    let rounds = env_usize("PCM_RING_TWO_THREADS_ROUNDS", 21).max(1);
    let chunks = (mib << 20) / PERIOD;
    let bytes = (chunks * PERIOD) as f64;
    let variants = variants();
    // Warm-up: one short stream of each.
    for v in &variants {
        let _ = stream(v, chunks / 16 + 1, None);
    }
    // Each round places every variant anew (`PCM_RING_TWO_THREADS_REPLACE`,
    // default 1; 0 keeps one placement, the allocator's, for every round).
    let replace = env_usize("PCM_RING_TWO_THREADS_REPLACE", 1) != 0;
    let mut placement = Placement::new();
    let mut secs = vec![Vec::new(); variants.len()];
    // Waits per chunk, producer and consumer, per round.
    let mut waits = vec![[Vec::new(), Vec::new()]; variants.len()];
    let mut all_pinned = true;
    for round in 0..rounds {
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            let seed = placement.next();
            let (t, pinned, w) = stream(&variants[i], chunks, replace.then_some(seed));
            all_pinned &= pinned;
            secs[i].push(t.as_secs_f64());
            for side in 0..2 {
                waits[i][side].push(w[side] as f64 / chunks as f64);
            }
        }
    }
    let peers: Vec<usize> = (0..variants.len())
        .filter(|&i| is_peer(&variants[i].name))
        .collect();
    let median = |i: usize| median_of(secs[i].clone());
    let best_peer = peers
        .iter()
        .map(|&i| median(i))
        .fold(f64::INFINITY, f64::min);
    println!(
        "two threads: {mib} MiB in {PERIOD}-byte chunks through a {RING}-byte ring, \
         {rounds} interleaved rounds, threads pinned: {}",
        if all_pinned {
            "yes (CPU 0 and 1)"
        } else {
            "no"
        }
    );
    println!();
    println!("| variant | median GB/s | p25–p75 GB/s | time / best peer (medians) | per-round time / best peer: median (p10–p90) | waits per chunk: producer / consumer (medians) |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, v) in variants.iter().enumerate() {
        let mut rate: Vec<f64> = secs[i].iter().map(|s| bytes / s / 1e9).collect();
        rate.sort_by(f64::total_cmp);
        let mut per_round: Vec<f64> = (0..rounds)
            .map(|r| {
                let peer = peers
                    .iter()
                    .map(|&p| secs[p][r])
                    .fold(f64::INFINITY, f64::min);
                secs[i][r] / peer
            })
            .collect();
        per_round.sort_by(f64::total_cmp);
        println!(
            "| {} | {:.1} | {:.1}–{:.1} | {:.2} | {:.2} ({:.2}–{:.2}) | {:.2} / {:.2} |",
            v.name,
            quantile(&rate, 0.5),
            quantile(&rate, 0.25),
            quantile(&rate, 0.75),
            median(i) / best_peer,
            quantile(&per_round, 0.5),
            quantile(&per_round, 0.1),
            quantile(&per_round, 0.9),
            median_of(waits[i][0].clone()),
            median_of(waits[i][1].clone()),
        );
    }
}
