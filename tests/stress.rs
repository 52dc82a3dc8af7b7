//! Two-thread stress: sequence-numbered frames through small rings under each
//! overrun policy and several block sizes, checked frame by frame and against
//! the counters (see `common/harness.rs`).

#![cfg(feature = "std")]

mod common;

use common::frames::{encode_frames, Checker};
use common::harness::{run, Case};
use pcm_ring::{Overrun, ReArm};

/// Block sizes, with a (non-power-of-two) capacity in blocks for each.
const RINGS: [(usize, usize); 5] = [(1, 17), (3, 23), (4, 29), (12, 13), (18, 7)];

/// Bytes written into the ring per case.
fn bytes(block: usize) -> u64 {
    if cfg!(miri) {
        64 * block as u64
    } else if cfg!(debug_assertions) {
        256 << 10
    } else {
        4 << 20
    }
}

/// The cases for one policy. Large frames also get thresholds and a low
/// watermark (small frames carry their sequence number modulo a small number,
/// and the harness needs a consumer that never waits on a threshold there).
fn cases(overrun: Overrun) -> Vec<Case> {
    RINGS
        .iter()
        .map(|&(block, blocks)| {
            let mut case = Case::new(block, blocks, overrun, bytes(block));
            if block >= 8 {
                case.low_watermark = case.capacity / 2;
                match overrun {
                    Overrun::Reject => {
                        // A refused piece must fit once the consumer has
                        // drained to below its start threshold.
                        case.start_threshold = blocks / 3 * block;
                        case.max_chunk = case.capacity - case.start_threshold - 2 * block;
                    }
                    Overrun::Truncate => {
                        case.start_threshold = 2 * block;
                        case.rearm = ReArm::Prime {
                            restart_threshold: 3 * block,
                        };
                    }
                    Overrun::OverwriteOldest => case.start_threshold = block,
                }
            }
            case
        })
        .collect()
}

fn run_all(overrun: Overrun) {
    for case in cases(overrun) {
        let report = run(&case);
        let c = &report.counters;
        println!(
            "block {:2} {overrun:?}: {} of {} frames in {:?}; {} refusals, {} overruns, \
             {} B dropped, {} B overwritten, {} underruns",
            case.block,
            report.frames_seen,
            report.frames_given,
            report.elapsed,
            report.refusals,
            c.overruns,
            c.dropped,
            c.overwritten,
            c.underruns,
        );
        assert!(report.frames_seen > 0, "{case:?}: {report:?}");
        if overrun == Overrun::Reject {
            assert_eq!(report.frames_seen, report.frames_given, "{case:?}");
        }
    }
}

#[test]
fn reject_with_retry_loses_nothing() {
    run_all(Overrun::Reject);
}

#[test]
fn truncate_drops_whole_frames_only() {
    run_all(Overrun::Truncate);
}

#[test]
fn overwrite_oldest_never_tears_a_frame() {
    run_all(Overrun::OverwriteOldest);
}

/// The frame checker itself: it must accept an intact stream and catch a
/// shift, a gap where none is allowed, and a frame never given.
#[test]
fn checker_catches_shifts_gaps_and_inventions() {
    for block in [1, 2, 3, 4, 7, 8, 12, 18] {
        let mut frames = Vec::new();
        encode_frames(block, 1000, 64, &mut frames);
        let from = |gaps_allowed: bool| {
            let mut checker = Checker::new(block, gaps_allowed);
            checker.next = 1000;
            checker
        };

        let mut intact = from(false);
        intact.feed(&frames, 1064).unwrap();
        assert_eq!((intact.frames, intact.gaps, intact.next), (64, 0, 1064));

        if block > 1 {
            let mut shifted = from(true);
            let bytes = &frames[1..1 + 63 * block];
            assert!(shifted.feed(bytes, 1064).is_err(), "block {block}");
        }

        let mut gappy = from(true);
        gappy.feed(&frames[..block], 1064).unwrap();
        gappy.feed(&frames[5 * block..6 * block], 1064).unwrap();
        assert_eq!((gappy.frames, gappy.gaps, gappy.next), (2, 4, 1006));

        let mut strict = from(false);
        strict.feed(&frames[..block], 1064).unwrap();
        assert!(strict.feed(&frames[5 * block..6 * block], 1064).is_err());

        let mut early = from(true);
        assert!(early.feed(&frames[10 * block..11 * block], 1005).is_err());

        let mut repeated = from(true);
        repeated.feed(&frames[..2 * block], 1064).unwrap();
        // Small frames read a repeat as a jump of nearly their modulus, which
        // the upper bound catches.
        assert!(repeated.feed(&frames[..block], 1064).is_err());
    }
}

/// `OverwriteOldest` under contention, the way an audio path runs it: a
/// consumer that reads one period per callback (every 250 µs here) and a
/// producer that writes as fast as it can. An overrunning write discards
/// the oldest blocks unless it meets the consumer's claim, which is held
/// only while a period is copied; then it drops its newest bytes instead.
/// So most lost audio must be the oldest: overwritten, not dropped.
#[test]
#[cfg_attr(miri, ignore = "timing-based")]
fn overwrite_oldest_loses_mostly_the_oldest() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    // 32-bit stereo frames, each carrying a 64-bit sequence number.
    const FRAME: usize = 8;
    const PERIOD: usize = 120 * FRAME; // 2.5 ms at 48 kHz
    let callbacks = if cfg!(debug_assertions) { 400 } else { 2000 };
    let config = pcm_ring::Config::raw(FRAME, 4 * PERIOD).overrun(Overrun::OverwriteOldest);
    let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
    let done = Arc::new(AtomicBool::new(false));

    let producer = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut seq = 0u64;
            let mut chunk = [0u8; PERIOD / 2];
            while !done.load(Ordering::Relaxed) {
                for frame in chunk.chunks_exact_mut(FRAME) {
                    seq += 1;
                    frame.copy_from_slice(&seq.to_le_bytes());
                }
                let _ = tx.write(&chunk).unwrap();
            }
            seq
        })
    };

    let mut period = [0u8; PERIOD];
    let mut last = 0u64;
    let mut next = Instant::now();
    for _ in 0..callbacks {
        let got = rx.read(&mut period).unwrap();
        for frame in period[..got.data].chunks_exact(FRAME) {
            let seq = u64::from_le_bytes(frame.try_into().unwrap());
            assert!(seq > last, "frame {seq} after {last}");
            last = seq;
        }
        next += Duration::from_micros(250);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    done.store(true, Ordering::Relaxed);
    let sent = producer.join().unwrap();

    let c = rx.counters();
    let lost = c.overwritten + c.dropped;
    assert!(lost > 0, "the producer never overran: {c:?}");
    let oldest = c.overwritten as f64 / lost as f64;
    println!(
        "{callbacks} callbacks, {sent} frames written: {:.1} % of lost bytes were the \
         oldest (overwritten {} B, dropped {} B)",
        100.0 * oldest,
        c.overwritten,
        c.dropped
    );
    assert!(oldest >= 0.9, "most lost audio must be the oldest: {c:?}");
    assert_eq!(c.written + c.dropped, sent * FRAME as u64);
}
