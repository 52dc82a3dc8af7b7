//! loom models of the ring's concurrent protocol.
//!
//! Run them with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --test loom
//! ```
//!
//! Each model runs a producer thread against the consumer (the model's main
//! thread) on a tiny heap ring, over every interleaving loom explores. Under
//! loom the heap ring records every access to its data bytes in one loom
//! cell per block, so a block the consumer reads while the producer writes it
//! (or that the producer overwrites while the consumer copies it) fails the
//! model as a causality violation, even when the bytes happen to look right.
//! On top of that every model checks the bytes it received (each frame
//! carries its sequence number in every byte, so a torn or stale block shows)
//! and the counters at the end.
//!
//! Every model states whether loom explores it exhaustively or with a
//! preemption bound. `docs/loom.md` lists which deliberately weakened
//! ordering (`--cfg pcm_ring_weaken="<name>"`) each model catches.

#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use loom::model::Builder;
use loom::thread;
use pcm_ring::{
    Config, Consumer, Counters, Overrun, Producer, ReArm, ReadOutcome, Underrun, WriteError,
    WriteOutcome,
};

/// Runs `f` under loom, exhaustively (`None`) or with a preemption bound,
/// and prints how many executions it explored (shown with `--nocapture`).
/// `LOOM_MAX_PREEMPTIONS` replaces the bound of the bounded models (to check
/// them deeper); the exhaustive ones ignore it.
fn check<F>(preemption_bound: Option<usize>, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let executions = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&executions);
    let mut builder = Builder::new();
    // `Builder::new` read `LOOM_MAX_PREEMPTIONS` into the bound.
    builder.preemption_bound =
        preemption_bound.map(|bound| builder.preemption_bound.unwrap_or(bound));
    builder.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let name = thread_name();
    println!("{name}: {} executions", executions.load(Ordering::Relaxed));
}

/// The running test's name.
fn thread_name() -> String {
    std::thread::current().name().unwrap_or("model").to_owned()
}

/// The bytes of frame `seq` (`1..64`): byte `j` is `seq << 2 | j`, so an
/// unwritten (zero) block, a block mixing two frames, or a block shifted by
/// a partial frame never decodes.
fn frame(seq: u8, block: usize) -> Vec<u8> {
    assert!((1..64).contains(&seq) && block <= 4);
    (0..block).map(|j| seq << 2 | j as u8).collect()
}

/// The frames `seqs`, back to back.
fn frames(seqs: &[u8], block: usize) -> Vec<u8> {
    seqs.iter().flat_map(|&seq| frame(seq, block)).collect()
}

/// The sequence numbers of the whole frames in `bytes`; panics on a torn,
/// stale or misaligned block.
fn decode(bytes: &[u8], block: usize) -> Vec<u8> {
    assert_eq!(bytes.len() % block, 0, "not whole blocks: {bytes:?}");
    bytes
        .chunks(block)
        .map(|chunk| {
            let seq = chunk[0] >> 2;
            assert_eq!(chunk, &frame(seq.max(1), block)[..], "torn block {bytes:?}");
            seq
        })
        .collect()
}

/// Asserts that `seqs` strictly increases (no frame twice, none out of order).
fn assert_increasing(seqs: &[u8]) {
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "frames out of order: {seqs:?}"
    );
}

/// Writes `bytes` with `write` (or `write_stream`) under `Overrun::Reject`,
/// retrying while the ring is full, and counts the rejections.
fn retry(
    tx: &mut Producer<'static>,
    bytes: &[u8],
    rejected: &mut u64,
    write: fn(&mut Producer<'static>, &[u8]) -> Result<WriteOutcome, WriteError>,
) -> WriteOutcome {
    loop {
        match write(tx, bytes) {
            Ok(out) => return out,
            Err(WriteError::Full { needed, free }) => {
                assert!(free < needed);
                *rejected += 1;
                thread::yield_now();
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

/// Reads until the end of the stream with `dst_len`-byte reads, checking
/// each outcome's byte count, and returns the frames received.
fn drain(rx: &mut Consumer<'_>, dst_len: usize) -> (Vec<u8>, Vec<ReadOutcome>) {
    let block = rx.block_align();
    let mut seqs = Vec::new();
    let mut outcomes = Vec::new();
    loop {
        let mut dst = vec![0xEE; dst_len];
        let out = rx.read(&mut dst).unwrap();
        assert_eq!(out.data % block, 0);
        assert!(out.data + out.silence <= dst_len);
        seqs.extend(decode(&dst[..out.data], block));
        assert!(
            dst[out.data..out.data + out.silence]
                .iter()
                .all(|&b| b == 0),
            "silence is not silent: {dst:?}"
        );
        outcomes.push(out);
        if out.end_of_stream {
            return (seqs, outcomes);
        }
        if out.data == 0 {
            thread::yield_now();
        }
    }
}

/// Sum of the producer's write outcomes.
fn total(outcomes: &[WriteOutcome]) -> (u64, u64, u64) {
    outcomes.iter().fold((0, 0, 0), |(w, d, o), out| {
        (
            w + out.written as u64,
            d + out.dropped as u64,
            o + out.overwritten as u64,
        )
    })
}

/// The counter identity that holds when both sides are idle, and the peak
/// fill's bound.
fn assert_balanced(c: &Counters, rx: &Consumer<'_>) {
    assert_eq!(
        c.written,
        c.read + c.overwritten + rx.available() as u64,
        "written != read + overwritten + buffered: {c:?}"
    );
    assert!(c.peak_fill <= rx.capacity() as u64, "{c:?}");
}

/// (a) Whole-block writes and reads across the storage wrap and the wrap of
/// the position space: positions start one block before both wrap, the ring
/// holds two blocks, and three frames go through it (so the producer reuses
/// the block the consumer read first). `Overrun::Reject`, retried.
///
/// Exhaustive.
#[test]
fn wrap_write_read() {
    check(None, || {
        let block = 2;
        let config = Config::raw(block, 2 * block)
            .underrun(Underrun::Partial)
            .start_position_blocks(3);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            let mut rejected = 0;
            // Two frames at once: the copy wraps the storage.
            for bytes in [frames(&[1, 2], block), frame(3, block)] {
                let out = retry(&mut tx, &bytes, &mut rejected, Producer::write);
                assert_eq!(out.written, bytes.len());
            }
            rejected
        });
        let (seqs, outcomes) = drain(&mut rx, 2 * block);
        let rejected = producer.join().unwrap();
        assert_eq!(seqs, [1, 2, 3]);
        assert!(outcomes.iter().all(|o| o.silence == 0));
        let c = rx.counters();
        assert_eq!((c.written, c.read, c.overwritten), (6, 6, 0));
        // A refused write drops nothing (the caller keeps its bytes), so it
        // is counted as refused, not as an overrun.
        assert_eq!((c.refused, c.overruns, c.dropped), (rejected, 0, 0));
        assert_balanced(&c, &rx);
    });
}

/// (a) Zero-copy on both sides across the wraps: the producer fills grants
/// (two slices when the space wraps) and commits them, the consumer reads
/// read grants and releases them, on a ring of three one-byte blocks starting
/// one block before the position space wraps.
///
/// Exhaustive.
#[test]
fn wrap_grants() {
    check(None, || {
        let config = Config::raw(1, 3).start_position_blocks(5);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            let mut next = 1;
            let mut rejected = 0;
            for len in [2, 2] {
                let mut grant = loop {
                    match tx.grant(len) {
                        Ok(grant) => break grant,
                        Err(WriteError::Full { needed, free }) => {
                            assert!(free < needed && needed == len);
                            rejected += 1;
                            thread::yield_now();
                        }
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                };
                let (a, b) = grant.as_mut_slices();
                assert_eq!(a.len() + b.len(), len);
                for byte in a.iter_mut().chain(b.iter_mut()) {
                    *byte = frame(next, 1)[0];
                    next += 1;
                }
                assert_eq!(grant.commit(len), Ok(len));
            }
            rejected
        });
        let mut seqs = Vec::new();
        loop {
            let grant = rx.read_grant(usize::MAX);
            let (a, b) = grant.as_slices();
            assert_eq!(a.len() + b.len(), grant.len());
            seqs.extend(decode(a, 1));
            seqs.extend(decode(b, 1));
            let n = grant.len();
            let out = grant.release(n).unwrap();
            assert_eq!((out.data, out.silence), (n, 0));
            if out.end_of_stream {
                break;
            }
            if n == 0 {
                thread::yield_now();
            }
        }
        let rejected = producer.join().unwrap();
        assert_eq!(seqs, [1, 2, 3, 4]);
        let c = rx.counters();
        assert_eq!((c.written, c.read, c.overwritten), (4, 4, 0));
        // A refused grant drops nothing: refused, not an overrun.
        assert_eq!((c.refused, c.overruns, c.dropped), (rejected, 0, 0));
        assert_balanced(&c, &rx);
    });
}

/// (b) Stream writes in pieces that split frames race the reads: three
/// 3-byte frames arrive as pieces of 2, 2, 2 and 3 bytes, then a piece that
/// leaves a partial fourth frame, which `finish` discards. The ring holds two
/// blocks and starts before the wrap, so a held partial block also wraps.
/// The consumer must never see a partial block: `available()` is always whole
/// blocks, every block it reads is whole, and reading a held block would be a
/// data race on its cell.
///
/// Preemption bound 3.
#[test]
fn stream_partial_blocks() {
    check(Some(3), || {
        let block = 3;
        let config = Config::raw(block, 2 * block)
            .underrun(Underrun::Partial)
            .start_position_blocks(3);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            let mut stream = frames(&[1, 2, 3], block);
            stream.extend_from_slice(&frame(4, block)[..2]);
            let mut rejected = 0;
            let mut outcomes = Vec::new();
            for piece in stream
                .chunks(2)
                .take(3)
                .chain([&stream[6..9], &stream[9..]])
            {
                outcomes.push(retry(&mut tx, piece, &mut rejected, Producer::write_stream));
            }
            assert_eq!(outcomes[4].held, 2);
            assert_eq!(tx.held_partial(), &stream[9..]);
            assert_eq!(tx.finish(), 2);
            (outcomes, rejected)
        });
        let mut seqs = Vec::new();
        loop {
            assert_eq!(rx.available() % block, 0);
            let mut dst = [0u8; 3];
            let out = rx.read(&mut dst).unwrap();
            seqs.extend(decode(&dst[..out.data], block));
            if out.end_of_stream {
                break;
            }
            if out.data == 0 {
                thread::yield_now();
            }
        }
        let (outcomes, rejected) = producer.join().unwrap();
        assert_eq!(seqs, [1, 2, 3]);
        let (written, dropped, _) = total(&outcomes);
        assert_eq!((written, dropped), (9, 0));
        let c = rx.counters();
        assert_eq!((c.written, c.read), (9, 9));
        // Only the partial fourth frame `finish` discarded is dropped;
        // refused pieces count as refused.
        assert_eq!((c.dropped, c.overruns, c.refused), (2, 0, rejected));
        assert_balanced(&c, &rx);
    });
}

/// (c) `OverwriteOldest` racing copying reads: the producer fills a ring of
/// two 2-byte blocks, then writes two more frames one at a time, each of
/// which must discard the oldest unread block, while the consumer reads one
/// block, then two, then one at a time. The consumer must never return a
/// block that was overwritten while it copied it (its cell would race) nor a
/// torn or stale one, frames arrive in order, and the counters account for
/// every frame: received, overwritten, or dropped (the fallback when the
/// consumer's claim was held).
///
/// Preemption bound 3 (exhaustive, it ran over 15 minutes once the
/// consumer checked its positions as a pair).
#[test]
fn overwrite_oldest_racing_read() {
    check(Some(3), || {
        let block = 2;
        let config = Config::raw(block, 2 * block)
            .overrun(Overrun::OverwriteOldest)
            .underrun(Underrun::Partial);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            [frames(&[1, 2], block), frame(3, block), frame(4, block)]
                .map(|bytes| tx.write(&bytes).unwrap())
        });
        let mut seqs = Vec::new();
        for dst_len in [block, 2 * block] {
            let mut dst = vec![0u8; dst_len];
            let out = rx.read(&mut dst).unwrap();
            seqs.extend(decode(&dst[..out.data], block));
        }
        let outcomes = producer.join().unwrap();
        let (rest, _) = drain(&mut rx, block);
        seqs.extend(rest);
        assert_increasing(&seqs);
        assert!(seqs.iter().all(|s| (1..=4).contains(s)));
        let (written, dropped, overwritten) = total(&outcomes);
        assert_eq!(written + dropped, 8);
        let c = rx.counters();
        assert_eq!(
            (c.written, c.dropped, c.overwritten),
            (written, dropped, overwritten)
        );
        assert_eq!(c.read, 2 * seqs.len() as u64);
        assert_balanced(&c, &rx);
        // Nothing is lost silently: every frame was received, overwritten,
        // or dropped.
        assert_eq!(c.read + c.overwritten + c.dropped, 8);
    });
}

/// (c) `OverwriteOldest` against zero-copy reads, including a write longer
/// than the ring: while a read grant is alive it holds the consumer's claim,
/// so the producer must drop the newest data instead of discarding the
/// blocks being read. One-byte blocks, a ring of two.
///
/// Exhaustive.
#[test]
fn overwrite_oldest_racing_grant() {
    check(None, || {
        let config = Config::raw(1, 2).overrun(Overrun::OverwriteOldest);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            // The second write is longer than the ring: it keeps only its
            // newest two frames.
            [frames(&[1, 2], 1), frames(&[3, 4, 5], 1)].map(|bytes| tx.write(&bytes).unwrap())
        });
        let mut seqs = Vec::new();
        for _ in 0..2 {
            let grant = rx.read_grant(usize::MAX);
            let (a, b) = grant.as_slices();
            seqs.extend(decode(a, 1));
            seqs.extend(decode(b, 1));
            let n = grant.len();
            let _ = grant.release(n).unwrap();
        }
        let outcomes = producer.join().unwrap();
        let (rest, _) = drain(&mut rx, 1);
        seqs.extend(rest);
        assert_increasing(&seqs);
        assert!(!seqs.contains(&3), "the head of an overlong write was kept");
        let (written, dropped, overwritten) = total(&outcomes);
        assert_eq!(written + dropped, 5);
        assert!(dropped >= 1);
        let c = rx.counters();
        assert_eq!(
            (c.written, c.dropped, c.overwritten),
            (written, dropped, overwritten)
        );
        assert_eq!(c.read, seqs.len() as u64);
        assert_balanced(&c, &rx);
        assert_eq!(c.read + c.overwritten + c.dropped, 5);
    });
}

/// (c) `OverwriteOldest` with stream writes racing reads: after two whole
/// frames fill a ring of two 2-byte blocks, a piece carrying the third frame
/// and half of the fourth needs both blocks (one to publish, one to hold the
/// partial frame), so it discards the oldest unread frames unless the
/// consumer's claim is held (then the newest bytes are dropped, and the rest
/// of a dropped partial frame with them). The consumer never sees the held
/// partial block, frames arrive whole and in order, and every byte is
/// accounted for.
///
/// Preemption bound 5.
#[test]
fn overwrite_oldest_stream() {
    check(Some(5), || {
        let block = 2;
        let config = Config::raw(block, 2 * block)
            .overrun(Overrun::OverwriteOldest)
            .underrun(Underrun::Partial);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            let stream = frames(&[1, 2, 3, 4], block);
            let mut outcomes = Vec::new();
            for piece in [&stream[..4], &stream[4..7], &stream[7..]] {
                outcomes.push(tx.write_stream(piece).unwrap());
            }
            assert_eq!(tx.held_partial(), &[] as &[u8]);
            outcomes
        });
        let (seqs, _) = drain(&mut rx, block);
        let outcomes = producer.join().unwrap();
        assert_increasing(&seqs);
        assert!(seqs.iter().all(|s| (1..=4).contains(s)));
        let (written, dropped, overwritten) = total(&outcomes);
        // Nothing is held at the end, so every byte was written or dropped.
        assert_eq!(written + dropped, 8);
        let c = rx.counters();
        assert_eq!(
            (c.written, c.dropped, c.overwritten),
            (written, dropped, overwritten)
        );
        assert_eq!(c.read, (block * seqs.len()) as u64);
        assert_balanced(&c, &rx);
    });
}

/// (c) `Truncate` racing reads: each write keeps the whole blocks that fit
/// and drops the rest. The consumer receives exactly the frames the
/// producer's outcomes report as written, in order. Two one-byte blocks.
///
/// Exhaustive.
#[test]
fn truncate_racing_read() {
    check(None, || {
        let config = Config::raw(1, 2)
            .overrun(Overrun::Truncate)
            .underrun(Underrun::Partial);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            let mut kept = Vec::new();
            let mut outcomes = Vec::new();
            for seqs in [&[1u8, 2, 3][..], &[4, 5][..]] {
                let out = tx.write(&frames(seqs, 1)).unwrap();
                assert_eq!(out.written + out.dropped, seqs.len());
                kept.extend_from_slice(&seqs[..out.written]);
                outcomes.push(out);
            }
            (kept, outcomes)
        });
        let (seqs, _) = drain(&mut rx, 1);
        let (kept, outcomes) = producer.join().unwrap();
        assert_eq!(seqs, kept);
        let (written, dropped, overwritten) = total(&outcomes);
        assert!(dropped >= 1 && overwritten == 0);
        let c = rx.counters();
        assert_eq!((c.written, c.dropped, c.overwritten), (written, dropped, 0));
        assert_eq!(
            c.overruns,
            outcomes.iter().filter(|o| o.dropped > 0).count() as u64
        );
        assert_eq!(c.read, written);
        assert_balanced(&c, &rx);
    });
}

/// (c) `Reject` racing reads: a write is all or nothing, and the consumer
/// receives exactly the frames of the writes that were accepted. Two
/// one-byte blocks.
///
/// Preemption bound 5.
#[test]
fn reject_racing_read() {
    check(Some(5), || {
        let config = Config::raw(1, 2).underrun(Underrun::Partial);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            let mut kept = Vec::new();
            let mut rejected = 0u64;
            for seqs in [&[1u8, 2][..], &[3, 4][..], &[5][..]] {
                match tx.write(&frames(seqs, 1)) {
                    Ok(out) => {
                        assert_eq!(out.written, seqs.len());
                        kept.extend_from_slice(seqs);
                    }
                    Err(WriteError::Full { needed, free }) => {
                        assert!(free < needed && needed == seqs.len());
                        rejected += 1;
                    }
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            (kept, rejected)
        });
        let (seqs, _) = drain(&mut rx, 1);
        let (kept, rejected) = producer.join().unwrap();
        assert_eq!(seqs, kept);
        let c = rx.counters();
        // Every write went in whole or was refused whole (which drops
        // nothing and is no overrun).
        let kept_bytes = kept.len() as u64;
        assert_eq!((c.written, c.read), (kept_bytes, kept_bytes));
        assert_eq!(
            (c.refused, c.overruns, c.dropped, c.overwritten),
            (rejected, 0, 0, 0)
        );
        assert_balanced(&c, &rx);
    });
}

/// (d) Priming and the end-of-stream drain racing writes, read into a cyclic
/// (DMA-style) destination: the start threshold (three blocks) is never
/// reached, so the consumer delivers silence counted as priming until it
/// sees the stream finished, then drains both frames below the threshold and
/// reports the end. It must not miss a frame, and priming never counts as an
/// underrun.
///
/// Exhaustive.
#[test]
fn priming_then_end_of_stream() {
    check(None, || {
        let config = Config::raw(1, 4).start_threshold(3);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            let _ = tx.write(&frame(1, 1)).unwrap();
            let _ = tx.write(&frame(2, 1)).unwrap();
            assert_eq!(tx.finish(), 0);
        });
        let mut seqs = Vec::new();
        let mut asked = 0;
        let mut dma = [0xEEu8; 2];
        for offset in [1, 0].into_iter().cycle() {
            let out = rx.read_cyclic(&mut dma, offset, 2).unwrap();
            asked += 2;
            assert_eq!(out.data + out.silence, 2);
            assert!(!out.underrun);
            // The data starts at `offset` and wraps.
            let ordered = [dma[offset], dma[1 - offset]];
            seqs.extend(decode(&ordered[..out.data], 1));
            assert!(ordered[out.data..].iter().all(|&b| b == 0));
            if out.data == 0 && !out.end_of_stream {
                assert!(out.priming);
            }
            if out.end_of_stream {
                break;
            }
            thread::yield_now();
        }
        producer.join().unwrap();
        assert_eq!(seqs, [1, 2]);
        let c = rx.counters();
        assert_eq!(
            (c.written, c.read, c.underruns, c.silence_underrun),
            (2, 2, 0, 0)
        );
        assert_eq!(c.read + c.silence(), asked);
        assert_balanced(&c, &rx);
    });
}

/// (d) Priming and `ReArm::Prime` racing writes: the consumer starts once
/// two blocks are buffered, and after it runs dry it primes again until two
/// blocks are buffered (or the stream is finished). So, reading the whole
/// capacity each time, the first data after priming always arrives at least
/// two blocks at once (unless it ends the stream), a read that delivers only
/// priming silence is never an underrun, and every underrun re-arms priming.
/// Three one-byte frames.
///
/// Exhaustive.
#[test]
fn rearm_prime_racing_writes() {
    check(None, || {
        let config = Config::raw(1, 3).start_threshold(2).rearm(ReArm::Prime {
            restart_threshold: 2,
        });
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            for seq in 1..=3 {
                let _ = tx.write(&frame(seq, 1)).unwrap();
            }
        });
        let (seqs, outcomes) = drain(&mut rx, 3);
        producer.join().unwrap();
        assert_eq!(seqs, [1, 2, 3]);
        let mut priming = true;
        for out in &outcomes {
            assert_eq!(out.data + out.silence, 3);
            if priming {
                // A read that ends priming and still comes up short is an
                // underrun; one that delivers nothing only primes.
                assert!(
                    out.data > 0 || !out.underrun,
                    "priming silence counted as an underrun"
                );
                assert!(
                    out.data == 0 || out.data >= 2 || out.end_of_stream,
                    "priming ended below the threshold: {outcomes:?}"
                );
            }
            if out.underrun {
                assert!(out.priming, "an underrun did not re-arm priming");
            }
            priming = out.priming;
        }
        let c = rx.counters();
        let underruns = outcomes.iter().filter(|o| o.underrun).count() as u64;
        assert_eq!((c.written, c.read, c.underruns), (3, 3, underruns));
        assert_eq!(c.silence_underrun, 3 * underruns - underrun_data(&outcomes));
        let reads = outcomes.len() as u64;
        assert_eq!(c.read + c.silence(), 3 * reads);
        assert_balanced(&c, &rx);
    });
}

/// Data bytes delivered by the reads that underran.
fn underrun_data(outcomes: &[ReadOutcome]) -> u64 {
    outcomes
        .iter()
        .filter(|o| o.underrun)
        .map(|o| o.data as u64)
        .sum()
}

/// (d) `Consumer::available` while the producer overwrites: the producer
/// moves both positions (the read position by compare-and-swap, then the
/// write position), so a consumer that loads them one after the other can
/// see an old read position with a new write position and report more than
/// the ring holds (here 3 on a 2-byte ring). `available` must never exceed
/// the capacity.
///
/// Preemption bound 3.
#[test]
fn available_while_overwriting() {
    check(Some(3), || {
        let config = Config::raw(1, 2).overrun(Overrun::OverwriteOldest);
        let (mut tx, rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            // Fill, then overwrite the oldest frame twice.
            for bytes in [frames(&[1, 2], 1), frame(3, 1), frame(4, 1)] {
                let _ = tx.write(&bytes).unwrap();
            }
        });
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.push(rx.available());
        }
        producer.join().unwrap();
        assert!(
            seen.iter().all(|&n| n <= 2),
            "more than the capacity: {seen:?}"
        );
        // (The fill may dip to 1: between discarding the oldest frame and
        // publishing the new one, one frame is buffered.)
        let c = rx.counters();
        assert_eq!((c.written, c.overwritten, c.dropped), (4, 2, 0));
        assert_eq!(rx.available(), 2);
    });
}

/// (d) Reads of a priming ring claim nothing: the consumer must not stop an
/// overrunning `OverwriteOldest` producer from discarding the oldest data
/// while it has nothing to copy. The ring starts only when full, so the
/// consumer's read copies nothing until the overrun has happened, and the
/// overrun must always overwrite the oldest frame rather than drop the
/// newest.
///
/// Exhaustive.
#[test]
fn overwrite_oldest_idle_reads_claim_nothing() {
    check(None, || {
        let config = Config::raw(1, 3)
            .overrun(Overrun::OverwriteOldest)
            .start_threshold(3);
        let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            let first = tx.write(&frames(&[1, 2], 1)).unwrap();
            let second = tx.write(&frames(&[3, 4], 1)).unwrap();
            (first, second)
        });
        let mut dst = [0u8; 1];
        let out = rx.read(&mut dst).unwrap();
        let (first, second) = producer.join().unwrap();
        assert_eq!(first.written, 2);
        // Never dropped: the second write found no claim in its way.
        assert_eq!((second.written, second.dropped), (2, 0), "{out:?}");
        let c = rx.counters();
        assert_eq!(c.dropped, 0, "{c:?}");
        if out.data == 1 {
            // The read came after the ring filled: it took the oldest frame left.
            assert_eq!(decode(&dst, 1), [2]);
        } else {
            assert!(out.priming);
        }
        assert_eq!(c.overwritten, 1);
        assert_balanced(&c, &rx);
    });
}

/// (d) Counters read while the producer updates them: each side's
/// counters are one snapshot, consistent as a whole. Under `Truncate` on a
/// full ring, every 2-byte write that finds no room is one overrun that
/// drops 2 bytes, so every snapshot must show `dropped == 2 * overruns`, and
/// totals never go back.
///
/// Preemption bound 3.
#[test]
fn counters_while_writing() {
    check(Some(3), || {
        let config = Config::raw(1, 2).overrun(Overrun::Truncate);
        let (mut tx, rx) = pcm_ring::heap(&config).unwrap();
        let producer = thread::spawn(move || {
            for seqs in [[1, 2], [3, 4]] {
                let _ = tx.write(&frames(&seqs, 1)).unwrap();
            }
        });
        let mut last = Counters::default();
        for _ in 0..2 {
            let c = rx.counters();
            assert_eq!(c.dropped, 2 * c.overruns, "torn snapshot: {c:?}");
            assert!(c.written <= 2 && c.peak_fill == c.written, "{c:?}");
            assert!(c.overruns >= last.overruns && c.written >= last.written);
            last = c;
        }
        producer.join().unwrap();
        let c = rx.counters();
        assert_eq!((c.written, c.dropped, c.overruns), (2, 2, 1));
    });
}

/// A 2-byte `OverwriteOldest` ring, full, while a producer thread makes
/// four overrunning writes (each discards one frame and adds one, so the
/// ring is full at every instant and the read position comes back to the
/// same value); `take` takes from it meanwhile and returns what it saw.
/// `streaming`: the consumer has read a frame already, so its reads and
/// grants take their fast path (the claim first); else it has not started
/// streaming yet (it does on its first look, which finds a frame) and
/// starts with the general path's pair of positions.
fn full_ring_racing_overruns<T>(
    streaming: bool,
    take: impl Fn(&mut pcm_ring::Consumer<'_>) -> T,
) -> T {
    let config = Config::raw(1, 2).overrun(Overrun::OverwriteOldest);
    let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
    let _ = tx.write(&frames(&[1, 2], 1)).unwrap();
    if streaming {
        let mut one = [0u8; 1];
        assert_eq!(rx.read(&mut one).unwrap().data, 1); // streaming now
        let _ = tx.write(&frame(3, 1)).unwrap(); // full
    }
    let producer = thread::spawn(move || {
        for seq in 4..8 {
            let _ = tx.write(&frame(seq, 1)).unwrap();
        }
        tx
    });
    let seen = take(&mut rx);
    let _tx = producer.join().unwrap();
    seen
}

/// (d) ABA on the read position: a ring that is full at every instant
/// (each overrunning write discards one frame and adds one) must never read
/// as empty. Four discards bring the read position of a 2-byte ring back to
/// the same value. A streaming read claims first, with a swap that expects
/// the read position it last saw, and loads the write position under the
/// claim, where only the producer's additions move it.
///
/// Preemption bound 2.
#[test]
fn overwrite_oldest_full_ring_never_reads_empty() {
    check(Some(2), || {
        let got = full_ring_racing_overruns(true, |rx| rx.read(&mut [0u8; 1]).unwrap());
        assert_eq!(got.data, 1, "a full ring read as empty: {got:?}");
        assert!(!got.underrun);
    });
}

/// (d) again, through a read grant of a priming consumer, which starts
/// with the general path's pair of positions: a consumer that stalls
/// between its loads can see the same read position twice around a write
/// position of another instant; the producer's discard count tells it
/// apart.
///
/// Preemption bound 2.
#[test]
fn overwrite_oldest_full_ring_never_grants_empty() {
    check(Some(2), || {
        let granted = full_ring_racing_overruns(false, |rx| rx.read_grant(1).len());
        assert_eq!(granted, 1, "a full ring granted nothing");
    });
}

/// (e) ABA inside the claim: a streaming read of the whole ring looks at
/// the write position, then claims the read position with a swap that
/// expects the value it last saw. Four discards bring the read position
/// back to that value, so the swap can succeed while the producer is in
/// the middle of a write (its discard done, its frame not yet written):
/// the read must size itself from the write position loaded under the
/// claim (with the one loaded before, `claim_stale_write`, it copies the
/// block being written: a causality violation).
///
/// Preemption bound 2.
#[test]
fn overwrite_oldest_claim_looks_again_after_a_span_of_discards() {
    check(Some(2), || {
        let (got, two) = full_ring_racing_overruns(true, |rx| {
            let mut two = [0u8; 2];
            let got = rx.read(&mut two).unwrap();
            (got, two)
        });
        assert_eq!(got.data + got.silence, 2, "{got:?}");
        assert_increasing(&decode(&two[..got.data], 1));
    });
}
