//! loom models of the cached positions: each handle keeps the other side's
//! position as it last loaded it, and loads it again only when the cached
//! value is not enough.
//!
//! Run them with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --test loom_cache
//! ```
//!
//! Each model fails when a cache is used wrongly; `docs/loom.md` and
//! `docs/performance.md` list which `--cfg pcm_ring_weaken="<name>"` each
//! one catches:
//!
//! - `producer_cache`: the producer trusts its cached free space when it
//!   says there is not enough;
//! - `consumer_cache`: the consumer trusts its cached fill when it says
//!   there is not enough;
//! - `cache_edges`: the consumer takes its cached fast path even when the
//!   outcome depends on the fresh fill (the low-watermark edge, the end of
//!   the stream);
//! - `peak_from_cache`: the producer raises the peak fill from its cached
//!   (stale) read position;
//! - `overwrite_own_read`: under `OverwriteOldest` the consumer trusts its
//!   own read position, which the producer moves.

#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use loom::model::Builder;
use loom::sync::atomic::AtomicBool;
use loom::thread;
use pcm_ring::{Config, Consumer, Overrun, ReadOutcome, Underrun};

/// Runs `f` under loom, exhaustively (`None`) or with a preemption bound,
/// and prints how many executions it explored (shown with `--nocapture`).
fn check<F>(preemption_bound: Option<usize>, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let executions = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&executions);
    let mut builder = Builder::new();
    builder.preemption_bound =
        preemption_bound.map(|bound| builder.preemption_bound.unwrap_or(bound));
    builder.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let name = std::thread::current().name().unwrap_or("model").to_owned();
    println!("{name}: {} executions", executions.load(Ordering::Relaxed));
}

/// One-byte frames: frame `seq` is the byte `seq`.
fn frames(seqs: &[u8]) -> Vec<u8> {
    seqs.to_vec()
}

/// Reads one-byte frames one at a time (with a read grant if `grants`)
/// until `n` arrived, yielding while none is there; returns them and the
/// largest fill seen.
fn read_frames(rx: &mut Consumer<'_>, n: usize, grants: bool) -> (Vec<u8>, usize) {
    let mut got = Vec::new();
    let mut most = 0;
    while got.len() < n {
        most = most.max(rx.available());
        let (out, byte) = read_one(rx, grants);
        if out.data == 1 {
            got.push(byte);
        } else {
            thread::yield_now();
        }
    }
    (got, most)
}

/// One read of one byte: its outcome and the byte (0 if none).
fn read_one(rx: &mut Consumer<'_>, grants: bool) -> (ReadOutcome, u8) {
    if grants {
        let grant = rx.read_grant(1);
        let byte = grant.as_slices().0.first().copied().unwrap_or(0);
        let len = grant.len();
        (grant.release(len).unwrap(), byte)
    } else {
        let mut dst = [0u8; 1];
        let out = rx.read(&mut dst).unwrap();
        (out, if out.data == 1 { dst[0] } else { 0 })
    }
}

/// The producer's cached free space says the ring is full after it filled
/// it; once the consumer has drained it (and said so), a write must see the
/// room. `Reject`: a stale cache trusted would refuse it. The producer's
/// second write also races the drain, so its outcome may go either way.
///
/// Exhaustive. Catches `producer_cache`.
#[test]
fn producer_cache_refreshes_when_short() {
    check(None, || {
        let config = Config::raw(1, 2).underrun(Underrun::Partial);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let drained = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&drained);
        let producer = thread::spawn(move || {
            assert_eq!(tx.write(&frames(&[1, 2])).unwrap().written, 2);
            // Races the consumer: refused (nothing read yet) or written.
            let early = tx.write(&frames(&[3])).is_ok();
            while !seen.load(Ordering::Acquire) {
                thread::yield_now();
            }
            // Everything written so far was read: there is room.
            let late = if early { 4 } else { 3 };
            let out = tx.write(&frames(&[late]));
            assert!(out.is_ok(), "a drained ring refused a write: {out:?}");
            early
        });
        let (got, _) = read_frames(&mut rx, 2, false);
        assert_eq!(got, [1, 2]);
        let third = if rx.available() == 1 {
            read_frames(&mut rx, 1, false).0
        } else {
            Vec::new()
        };
        // Everything the producer wrote before it looks at this is read: a
        // write it made after `available` said 0 leaves a byte free.
        drained.store(true, Ordering::Release);
        let early = producer.join().unwrap();
        let rest = read_frames(
            &mut rx,
            if early && third.is_empty() { 2 } else { 1 },
            false,
        )
        .0;
        let all: Vec<u8> = got.iter().chain(&third).chain(&rest).copied().collect();
        let expected: &[u8] = if early { &[1, 2, 3, 4] } else { &[1, 2, 3] };
        assert_eq!(all, expected);
        let c = rx.counters();
        assert_eq!(c.written, c.read);
        assert!(c.peak_fill <= 2, "{c:?}");
    });
}

/// The consumer's cached fill says the ring is empty; once the producer
/// has written (and said so), a read must find the data. A stale cache
/// trusted would deliver nothing.
///
/// Exhaustive. Catches `consumer_cache`.
#[test]
fn consumer_cache_refreshes_when_short() {
    for grants in [false, true] {
        check(None, move || {
            let config = Config::raw(1, 2).underrun(Underrun::Partial);
            let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
            let written = Arc::new(AtomicBool::new(false));
            let seen = Arc::clone(&written);
            let producer = thread::spawn(move || {
                let _ = tx.write(&frames(&[1])).unwrap();
                let _ = tx.write(&frames(&[2])).unwrap();
                seen.store(true, Ordering::Release);
                tx
            });
            // Races the writes: reads nothing, frame 1, or both.
            let mut got = Vec::new();
            for _ in 0..2 {
                let (out, byte) = read_one(&mut rx, grants);
                if out.data == 1 {
                    got.push(byte);
                }
            }
            while !written.load(Ordering::Acquire) {
                thread::yield_now();
            }
            // Both frames are published: every read now finds one.
            while got.len() < 2 {
                let (out, byte) = read_one(&mut rx, grants);
                assert_eq!(out.data, 1, "published data not found: {out:?}");
                got.push(byte);
            }
            assert_eq!(got, [1, 2]);
            let _tx = producer.join().unwrap();
        });
    }
}

/// The cached fast path must give the outcome a fresh look would give: the
/// low-watermark edge (watermark 1 byte) and the end of the stream. The
/// consumer reads one frame while the producer writes two pairs and
/// finishes (its cached fill is then 1 or 3); afterwards three frames are
/// left, and the reads that take them must report the edge and the end
/// exactly on the last one. A stale cache trusted reports the edge one read
/// early (cached 1: "0 left") and misses the end.
///
/// Exhaustive. Catches `cache_edges`.
#[test]
fn cache_keeps_edges_exact() {
    for grants in [false, true] {
        check(None, move || {
            let config = Config::raw(1, 4)
                .underrun(Underrun::Partial)
                .low_watermark(1);
            let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
            let producer = thread::spawn(move || {
                let _ = tx.write(&frames(&[1, 2])).unwrap();
                let _ = tx.write(&frames(&[3, 4])).unwrap();
                // Dropping the producer finishes the stream.
            });
            let (first, _) = read_frames(&mut rx, 1, grants);
            assert_eq!(first, [1]);
            producer.join().unwrap();
            let mut got = Vec::new();
            let mut edges = Vec::new();
            for _ in 0..3 {
                let (out, byte) = read_one(&mut rx, grants);
                assert_eq!(out.data, 1, "{out:?}");
                got.push(byte);
                edges.push((out.low_watermark, out.end_of_stream));
            }
            assert_eq!(got, [2, 3, 4]);
            assert_eq!(
                edges,
                [(false, false), (false, false), (true, true)],
                "(low watermark, end of stream) per read"
            );
        });
    }
}

/// The peak fill is a fill the ring had: the producer fills two of four
/// bytes, the consumer drains them, then one more byte goes in. Its cached
/// free space still says two bytes are buffered, so the peak computed from
/// it would be 3; the peak must stay 2. While both run, the peak is at
/// least every fill the consumer saw.
///
/// Exhaustive. Catches `peak_from_cache`.
#[test]
fn peak_fill_is_a_fill_the_ring_had() {
    check(None, || {
        let config = Config::raw(1, 4).underrun(Underrun::Partial);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            let _ = tx.write(&frames(&[1, 2])).unwrap();
            tx
        });
        let (got, most) = read_frames(&mut rx, 2, false);
        assert_eq!(got, [1, 2]);
        let mut tx = producer.join().unwrap();
        assert!(rx.counters().peak_fill >= most as u64);
        let _ = tx.write(&frames(&[3])).unwrap();
        let c = rx.counters();
        assert_eq!(c.peak_fill, 2, "{c:?}");
    });
}

/// `OverwriteOldest`: the producer moves the read position, so the
/// consumer's own copy is not authoritative and its cached fill is not
/// either. The consumer is streaming and has read frame 1; the producer
/// writes frames 2 and 3 into the two-byte ring, then frame 4, which
/// discards the oldest unless the consumer holds its claim. The consumer
/// reads one frame at a time: it must never copy a block the producer is
/// overwriting (a loom causality violation on the block), receive a frame
/// out of order, or unbalance the counters.
///
/// Preemption bound 3: exhaustive ran for over ten minutes once streaming
/// reads took their fast path under `OverwriteOldest` (a read that finds
/// too little tries it, then the general path). Catches
/// `overwrite_own_read`.
#[test]
fn overwrite_consumer_starts_from_the_shared_read_position() {
    check(Some(3), || {
        let config = Config::raw(1, 2)
            .overrun(Overrun::OverwriteOldest)
            .underrun(Underrun::Partial);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let _ = tx.write(&frames(&[1])).unwrap();
        let mut dst = [0u8; 1];
        assert_eq!(rx.read(&mut dst).unwrap().data, 1);
        let producer = thread::spawn(move || {
            let mut overwritten = 0;
            for seqs in [&[2u8, 3][..], &[4]] {
                let out = tx.write(&frames(seqs)).unwrap();
                overwritten += out.overwritten;
            }
            overwritten
        });
        let mut got = vec![dst[0]];
        loop {
            let (out, byte) = read_one(&mut rx, false);
            if out.data == 1 {
                got.push(byte);
            }
            if out.end_of_stream {
                break;
            }
            if out.data == 0 {
                thread::yield_now();
            }
        }
        let overwritten = producer.join().unwrap();
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "frames out of order: {got:?}"
        );
        let c = rx.counters();
        assert_eq!(c.overwritten, overwritten as u64, "{c:?}");
        assert_eq!(
            c.written,
            c.read + c.overwritten + rx.available() as u64,
            "{c:?}"
        );
        assert_eq!(c.read, got.len() as u64, "{c:?}");
    });
}
