//! The public API, policy by policy and error by error, with every expected
//! value worked out by hand from the documented semantics.

#![cfg(feature = "std")]

use std::error::Error;

use pcm_ring::{
    Config, ConfigError, Consumer, Counters, Format, Overrun, Producer, ReArm, ReadError,
    ReadOutcome, SampleFormat, Silence, StaticRing, Underrun, WriteError, WriteOutcome,
    MAX_BLOCK_ALIGN, MAX_CAPACITY,
};

type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// `n` bytes counting up from `first` (wrapping), easy to recognise.
fn bytes(first: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| first.wrapping_add(i as u8)).collect()
}

/// `(written, dropped, overwritten, held)`.
fn wo(o: WriteOutcome) -> (usize, usize, usize, usize) {
    (o.written, o.dropped, o.overwritten, o.held)
}

/// What a read outcome says, by name.
#[derive(Debug, Default, PartialEq, Eq)]
struct Got {
    data: usize,
    silence: usize,
    underrun: bool,
    priming: bool,
    low_watermark: bool,
    end_of_stream: bool,
}

fn got(o: ReadOutcome) -> Got {
    Got {
        data: o.data,
        silence: o.silence,
        underrun: o.underrun,
        priming: o.priming,
        low_watermark: o.low_watermark,
        end_of_stream: o.end_of_stream,
    }
}

/// Data then silence, nothing else noticed.
fn plain(data: usize, silence: usize) -> Got {
    Got {
        data,
        silence,
        ..Got::default()
    }
}

/// Every counter but the peak fill, by name.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    written: u64,
    read: u64,
    dropped: u64,
    overwritten: u64,
    silence_priming: u64,
    silence_underrun: u64,
    silence_end: u64,
    underruns: u64,
    overruns: u64,
    refused: u64,
}

fn totals(c: Counters) -> Totals {
    Totals {
        written: c.written,
        read: c.read,
        dropped: c.dropped,
        overwritten: c.overwritten,
        silence_priming: c.silence_priming,
        silence_underrun: c.silence_underrun,
        silence_end: c.silence_end,
        underruns: c.underruns,
        overruns: c.overruns,
        refused: c.refused,
    }
}

/// Takes everything deliverable through a read grant (which counts no
/// underrun and no silence) and returns it.
fn drain(rx: &mut Consumer<'_>) -> Vec<u8> {
    let grant = rx.read_grant(usize::MAX);
    let (a, b) = grant.as_slices();
    let mut out = a.to_vec();
    out.extend_from_slice(b);
    let n = grant.len();
    assert_eq!(n, out.len());
    let _ = grant.release(n).expect("release what was granted");
    out
}

/// Both idle: every byte written was read, overwritten or is still buffered.
fn assert_balanced(tx: &Producer<'_>, rx: &Consumer<'_>) {
    let c = rx.counters();
    assert_eq!(tx.fill(), rx.available());
    assert_eq!(
        c.written,
        c.read + c.overwritten + rx.available() as u64,
        "{c:?}"
    );
}

// ---------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------

#[test]
fn config_errors_each_variant() -> Result {
    use ConfigError::*;
    assert_eq!(Config::raw(0, 8).validate(), Err(ZeroBlockAlign));
    let big = MAX_BLOCK_ALIGN + 1;
    assert_eq!(
        Config::raw(big, big).validate(),
        Err(BlockAlignTooLarge {
            block_align: big,
            max: MAX_BLOCK_ALIGN
        })
    );
    assert_eq!(
        Config::raw(MAX_BLOCK_ALIGN, MAX_BLOCK_ALIGN).validate(),
        Ok(())
    );
    assert_eq!(Config::raw(65535, 3 * 65535).validate(), Ok(()));
    assert_eq!(Config::raw(4, 0).validate(), Err(ZeroCapacity));
    assert_eq!(
        Config::raw(6, 100).validate(),
        Err(CapacityNotWholeBlocks {
            capacity: 100,
            block_align: 6
        })
    );
    assert_eq!(
        Config::raw(1, MAX_CAPACITY + 1).validate(),
        Err(CapacityTooLarge {
            capacity: MAX_CAPACITY + 1,
            max: MAX_CAPACITY
        })
    );
    assert_eq!(Config::raw(1, MAX_CAPACITY).validate(), Ok(()));

    let base = Config::raw(4, 16);
    assert_eq!(base.start_threshold(16).validate(), Ok(()));
    assert_eq!(
        base.start_threshold(17).validate(),
        Err(StartThresholdAboveCapacity {
            threshold: 17,
            capacity: 16
        })
    );
    let prime = |restart_threshold| base.rearm(ReArm::Prime { restart_threshold });
    assert_eq!(prime(16).validate(), Ok(()));
    assert_eq!(
        prime(20).validate(),
        Err(RestartThresholdAboveCapacity {
            threshold: 20,
            capacity: 16
        })
    );
    assert_eq!(base.low_watermark(16).validate(), Ok(()));
    assert_eq!(
        base.low_watermark(17).validate(),
        Err(LowWatermarkAboveCapacity {
            watermark: 17,
            capacity: 16
        })
    );

    assert_eq!(
        Silence::from_pattern(&[]),
        Err(SilencePatternLength { len: 0 })
    );
    assert_eq!(
        Silence::from_pattern(&[0; 33]),
        Err(SilencePatternLength { len: 33 })
    );
    assert_eq!(Silence::from_pattern(&[7; 32])?.pattern(), &[7; 32][..]);
    assert_eq!(
        base.silence(Silence::U24_LE).validate(),
        Err(SilenceDoesNotTile {
            pattern_len: 3,
            block_align: 4
        })
    );
    assert_eq!(
        Config::raw(3, 12).silence(Silence::U16_LE).validate(),
        Err(SilenceDoesNotTile {
            pattern_len: 2,
            block_align: 3
        })
    );
    let four = Silence::from_pattern(&[1, 2, 3, 4])?;
    assert_eq!(
        Config::raw(6, 12).silence(four).validate(),
        Err(SilenceDoesNotTile {
            pattern_len: 4,
            block_align: 6
        })
    );
    assert_eq!(
        Config::raw(6, 12).silence(Silence::U24_LE).validate(),
        Ok(())
    );
    assert_eq!(Config::raw(8, 16).silence(four).validate(), Ok(()));

    // Every constructor refuses an invalid configuration with its error.
    let bad = Config::raw(6, 100);
    let expected = CapacityNotWholeBlocks {
        capacity: 100,
        block_align: 6,
    };
    assert_eq!(bad.required_memory(), Err(expected));
    assert_eq!(pcm_ring::heap(&bad).err(), Some(expected));
    let mut memory = vec![0u8; 4096];
    assert_eq!(pcm_ring::borrowed(&bad, &mut memory).err(), Some(expected));
    let mut ring = StaticRing::<4096>::new();
    assert_eq!(ring.split(&bad).err(), Some(expected));
    Ok(())
}

#[test]
fn buffer_too_small_for_borrowed_and_static() -> Result {
    let config = Config::raw(4, 64);
    let needed = config.required_memory()?;
    assert!(needed > 64);
    let mut memory = vec![0u8; 64];
    assert_eq!(
        pcm_ring::borrowed(&config, &mut memory).err(),
        Some(ConfigError::BufferTooSmall {
            needed,
            available: 64
        })
    );
    let mut empty: [u8; 0] = [];
    assert_eq!(
        pcm_ring::borrowed(&config, &mut empty).err(),
        Some(ConfigError::BufferTooSmall {
            needed,
            available: 0
        })
    );
    let mut ring = StaticRing::<64>::new();
    assert_eq!(
        ring.split(&Config::raw(4, 68)).err(),
        Some(ConfigError::BufferTooSmall {
            needed: 68,
            available: 64
        })
    );
    // The ring still splits with a configuration that fits.
    let (mut tx, mut rx) = ring.split(&config)?;
    let _ = tx.write(&[1, 2, 3, 4])?;
    assert_eq!(drain(&mut rx), [1, 2, 3, 4]);
    Ok(())
}

#[test]
fn error_display_names_the_problem() {
    let cases: Vec<(Box<dyn Error>, &[&str])> = vec![
        (Box::new(ConfigError::ZeroBlockAlign), &["block_align is 0"]),
        (
            Box::new(ConfigError::BlockAlignTooLarge {
                block_align: 1_048_577,
                max: 1_048_576,
            }),
            &["block_align 1048577", "maximum 1048576"],
        ),
        (Box::new(ConfigError::ZeroCapacity), &["capacity is 0"]),
        (
            Box::new(ConfigError::CapacityNotWholeBlocks {
                capacity: 100,
                block_align: 6,
            }),
            &["capacity 100", "whole number of 6-byte blocks"],
        ),
        (
            Box::new(ConfigError::CapacityTooLarge {
                capacity: 1 << 31,
                max: 1 << 30,
            }),
            &["capacity 2147483648", "maximum 1073741824"],
        ),
        (
            Box::new(ConfigError::StartThresholdAboveCapacity {
                threshold: 17,
                capacity: 16,
            }),
            &["start threshold 17", "capacity 16"],
        ),
        (
            Box::new(ConfigError::RestartThresholdAboveCapacity {
                threshold: 20,
                capacity: 16,
            }),
            &["restart threshold 20", "capacity 16"],
        ),
        (
            Box::new(ConfigError::LowWatermarkAboveCapacity {
                watermark: 17,
                capacity: 16,
            }),
            &["low watermark 17", "capacity 16"],
        ),
        (
            Box::new(ConfigError::SilencePatternLength { len: 33 }),
            &["silence pattern of 33 bytes", "1 to 32"],
        ),
        (
            Box::new(ConfigError::SilenceDoesNotTile {
                pattern_len: 3,
                block_align: 4,
            }),
            &["3-byte silence pattern", "tile", "4-byte block"],
        ),
        (
            Box::new(ConfigError::BufferTooSmall {
                needed: 500,
                available: 64,
            }),
            &["needs 500 bytes", "64 were given"],
        ),
        (
            Box::new(WriteError::NotWholeBlocks {
                len: 7,
                block_align: 6,
            }),
            &["7 bytes", "6-byte blocks"],
        ),
        (
            Box::new(WriteError::Full { needed: 8, free: 4 }),
            &["full", "needs 8 bytes", "4 are free"],
        ),
        (
            Box::new(WriteError::PartialBlockHeld { held: 2 }),
            &["partial block of 2 bytes", "held"],
        ),
        (
            Box::new(WriteError::DiscardingPartialBlock { remaining: 3 }),
            &["3 bytes", "dropped partial block"],
        ),
        (Box::new(WriteError::Finished), &["finished"]),
        (
            Box::new(WriteError::SampleSize {
                sample: 4,
                block_align: 6,
            }),
            &["4-byte sample", "6-byte block"],
        ),
        (
            Box::new(WriteError::CommitTooLarge {
                len: 18,
                granted: 12,
            }),
            &["commit of 18 bytes", "grant of 12"],
        ),
        (
            Box::new(ReadError::NotWholeBlocks {
                len: 6,
                block_align: 4,
            }),
            &["6 bytes", "4-byte blocks"],
        ),
        (
            Box::new(ReadError::OutOfRange { value: 12, len: 8 }),
            &["12 is out of range", "8-byte cyclic destination"],
        ),
        (
            Box::new(ReadError::SampleSize {
                sample: 0,
                block_align: 4,
            }),
            &["0-byte sample", "4-byte block"],
        ),
        (
            Box::new(ReadError::ReleaseTooLarge { len: 8, granted: 4 }),
            &["release of 8 bytes", "grant of 4"],
        ),
    ];
    for (error, words) in cases {
        let text = error.to_string();
        for word in words {
            assert!(text.contains(word), "{text:?} does not say {word:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Write errors: nothing written, nothing already buffered lost
// ---------------------------------------------------------------------------

#[test]
fn write_not_whole_blocks_and_commit_errors_keep_the_ring() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(6, 60))?;
    let data = bytes(1, 12);
    assert_eq!(wo(tx.write(&data)?), (12, 0, 0, 0));
    let not_whole = |len| WriteError::NotWholeBlocks {
        len,
        block_align: 6,
    };
    assert_eq!(tx.write(&[0xEE; 7]), Err(not_whole(7)));
    assert_eq!(tx.write_samples(&[0xEEu8; 5]), Err(not_whole(5)));
    assert_eq!(tx.grant(5).err(), Some(not_whole(5)));

    let mut grant = tx.grant(12)?;
    assert_eq!(grant.len(), 12);
    let (a, b) = grant.as_mut_slices();
    a.fill(0xEE);
    b.fill(0xEE);
    assert_eq!(grant.commit(5), Err(not_whole(5)));
    let grant = tx.grant(12)?;
    assert_eq!(
        grant.commit(18),
        Err(WriteError::CommitTooLarge {
            len: 18,
            granted: 12
        })
    );

    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 12,
            ..Totals::default()
        }
    );
    assert_eq!(drain(&mut rx), data);
    assert_balanced(&tx, &rx);
    Ok(())
}

#[test]
fn write_full_under_reject_keeps_the_ring() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 16))?;
    let data = bytes(1, 12);
    let _ = tx.write(&data)?;
    let full = WriteError::Full { needed: 8, free: 4 };
    assert_eq!(tx.write(&[0xEE; 8]), Err(full));
    // A stream write needs room for its whole blocks and its trailing partial block.
    assert_eq!(tx.write_stream(&[0xEE; 6]), Err(full));
    assert_eq!(tx.grant(8).err(), Some(full));
    assert_eq!(tx.write_samples(&[0xEEEEu16; 4]), Err(full));
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 12,
            // Refused writes drop nothing: the caller still has the bytes,
            // so they are no overruns.
            refused: 4,
            ..Totals::default()
        }
    );
    // Three bytes need one block: that fits, and is held.
    assert_eq!(wo(tx.write_stream(&[0xF0, 0xF1, 0xF2])?), (0, 0, 0, 3));
    assert_eq!(tx.free(), 0);
    assert_eq!(wo(tx.write_stream(&[0xF3])?), (4, 0, 0, 0));
    let mut expected = data;
    expected.extend_from_slice(&[0xF0, 0xF1, 0xF2, 0xF3]);
    assert_eq!(drain(&mut rx), expected);
    assert_eq!(rx.counters().written, 16);
    assert_balanced(&tx, &rx);
    Ok(())
}

/// The producer's cached free space goes stale as the consumer reads: a
/// write or grant that outgrows it looks at the read position again and
/// goes ahead if the consumer made room, and a refusal reports the fresh
/// free space, counted once. Errors keep their order: a partial block is
/// `NotWholeBlocks` even when it also would not fit.
#[test]
fn writes_beyond_the_cached_free_space_look_again() -> Result {
    for policy in [Overrun::Reject, Overrun::Truncate, Overrun::OverwriteOldest] {
        let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 16).overrun(policy))?;
        let mut want = Vec::new();
        for round in 0..6u8 {
            // The ring holds 12 bytes: the producer's cache says 4 free.
            let data = bytes(round.wrapping_mul(40), 12);
            assert_eq!(tx.write(&data)?.written, 12, "{policy:?} round {round}");
            want.extend_from_slice(&data);
            // The consumer takes 8: 12 free, the cache still says 4.
            let mut out = [0u8; 8];
            assert_eq!(rx.read(&mut out)?.data, 8);
            assert_eq!(out[..], want[..8]);
            want.drain(..8);
            // 8 and then 4 more fit only against a fresh read position.
            let next = bytes(round.wrapping_mul(40).wrapping_add(12), 12);
            assert_eq!(tx.write(&next[..8])?.written, 8, "{policy:?} round {round}");
            let mut grant = tx.grant(4)?;
            assert_eq!(grant.len(), 4);
            let (a, b) = grant.as_mut_slices();
            let split = a.len();
            a.copy_from_slice(&next[8..8 + split]);
            b.copy_from_slice(&next[8 + split..]);
            grant.commit(4)?;
            want.extend_from_slice(&next);
            assert_eq!(rx.available(), 16);
            if policy == Overrun::Reject {
                let full = WriteError::Full { needed: 4, free: 0 };
                assert_eq!(tx.write(&[0xEE; 4]), Err(full));
                assert_eq!(tx.grant(4).err(), Some(full));
                // Not whole blocks comes first, full or not.
                let partial = WriteError::NotWholeBlocks {
                    len: 6,
                    block_align: 4,
                };
                assert_eq!(tx.write(&[0xEE; 6]), Err(partial));
                assert_eq!(tx.grant(6).err(), Some(partial));
                // The consumer frees 4: the refusal reports it.
                let mut out = [0u8; 4];
                assert_eq!(rx.read(&mut out)?.data, 4);
                assert_eq!(out[..], want[..4]);
                want.drain(..4);
                let full = WriteError::Full { needed: 8, free: 4 };
                assert_eq!(tx.write(&[0xEE; 8]), Err(full));
                assert_eq!(tx.grant(8).err(), Some(full));
            }
            let got = drain(&mut rx);
            assert_eq!(got, want, "{policy:?} round {round}");
            want.clear();
        }
        let c = totals(rx.counters());
        let refused = if policy == Overrun::Reject { 6 * 4 } else { 0 };
        let read = 6 * 24;
        assert_eq!(
            c,
            Totals {
                written: read,
                read,
                refused,
                ..Totals::default()
            },
            "{policy:?}"
        );
        assert_eq!(totals(tx.counters()), c, "{policy:?}");
        assert_balanced(&tx, &rx);
    }
    Ok(())
}

#[test]
fn held_partial_block_refuses_strict_writes_and_grants() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 16))?;
    assert_eq!(wo(tx.write_stream(&[1, 2, 3, 4, 5, 6])?), (4, 0, 0, 2));
    assert_eq!(tx.held_partial(), &[5, 6]);
    let held = WriteError::PartialBlockHeld { held: 2 };
    assert_eq!(tx.write(&[0xEE; 4]), Err(held));
    assert_eq!(tx.grant(4).err(), Some(held));
    assert_eq!(tx.write_samples(&[0xEEEEu16; 2]), Err(held));
    assert_eq!(rx.available(), 4);
    assert_eq!(wo(tx.write_stream(&[7, 8])?), (4, 0, 0, 0));
    assert_eq!(tx.held_partial(), &[] as &[u8]);
    assert_eq!(tx.write(&[9, 10, 11, 12])?.written, 4);
    assert_eq!(drain(&mut rx), bytes(1, 12));
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 12,
            read: 12,
            ..Totals::default()
        }
    );
    Ok(())
}

#[test]
fn discarding_partial_block_refuses_strict_writes_and_grants() -> Result {
    // Block 3, three blocks, Truncate.
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(3, 9).overrun(Overrun::Truncate))?;
    let _ = tx.write(&[1, 2, 3, 4, 5, 6])?;
    // [7 8 9] fits; the partial frame [10 11 ..] does not: dropped, and the
    // one byte left of that frame will be discarded from the next call.
    assert_eq!(wo(tx.write_stream(&[7, 8, 9, 10, 11])?), (3, 2, 0, 0));
    let skipping = WriteError::DiscardingPartialBlock { remaining: 1 };
    assert_eq!(tx.write(&[0xEE; 3]), Err(skipping));
    assert_eq!(tx.grant(3).err(), Some(skipping));
    assert_eq!(tx.write_samples(&[0xEEu8; 3]), Err(skipping));
    assert_eq!(drain(&mut rx), bytes(1, 9));

    // 12 completes the dropped frame [10 11 12] and is discarded.
    assert_eq!(wo(tx.write_stream(&[12])?), (0, 1, 0, 0));
    assert_eq!(wo(tx.write(&[13, 14, 15])?), (3, 0, 0, 0));
    assert_eq!(wo(tx.write_stream(&[16, 17, 18, 19])?), (3, 0, 0, 1));
    // The stream stays aligned: the next frame after [7 8 9] is [13 14 15].
    assert_eq!(drain(&mut rx), bytes(13, 6));
    assert_eq!(tx.discard_partial(), 1);
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 15,
            read: 15,
            dropped: 4,
            overruns: 1,
            ..Totals::default()
        }
    );
    Ok(())
}

#[test]
fn skipping_the_rest_of_a_dropped_frame_spans_calls() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 8).overrun(Overrun::Truncate))?;
    let _ = tx.write(&bytes(1, 8))?;
    // Full: one byte of a new frame is dropped, and the frame's other three.
    assert_eq!(wo(tx.write_stream(&[0xA0])?), (0, 1, 0, 0));
    assert_eq!(drain(&mut rx), bytes(1, 8));
    assert_eq!(wo(tx.write_stream(&[0xA1])?), (0, 1, 0, 0));
    assert_eq!(
        tx.write(&[0; 4]),
        Err(WriteError::DiscardingPartialBlock { remaining: 2 })
    );
    assert_eq!(
        wo(tx.write_stream(&[0xA2, 0xA3, 20, 21, 22, 23])?),
        (4, 2, 0, 0)
    );
    assert_eq!(drain(&mut rx), [20, 21, 22, 23]);

    // discard_partial also ends a skip: the next byte starts a frame.
    let _ = tx.write(&bytes(30, 8))?;
    assert_eq!(wo(tx.write_stream(&[0xB0, 0xB1])?), (0, 2, 0, 0));
    assert_eq!(tx.discard_partial(), 0);
    drain(&mut rx);
    assert_eq!(wo(tx.write(&[40, 41, 42, 43])?), (4, 0, 0, 0));
    assert_eq!(drain(&mut rx), [40, 41, 42, 43]);
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 8 + 4 + 8 + 4,
            read: 24,
            dropped: 6,
            overruns: 2,
            ..Totals::default()
        }
    );
    Ok(())
}

#[test]
fn finished_refuses_writes_and_finish_discards_the_held_block() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(2, 8))?;
    let _ = tx.write(&[1, 2])?;
    assert_eq!(wo(tx.write_stream(&[3])?), (0, 0, 0, 1));
    assert!(!tx.is_finished());
    assert_eq!(tx.finish(), 1);
    assert!(tx.is_finished());
    assert_eq!(tx.finish(), 0);
    assert_eq!(tx.write(&[0; 2]), Err(WriteError::Finished));
    assert_eq!(tx.write_stream(&[0]), Err(WriteError::Finished));
    assert_eq!(tx.grant(2).err(), Some(WriteError::Finished));
    assert_eq!(tx.write_samples(&[0u16]), Err(WriteError::Finished));
    let mut out = [0xEE; 4];
    let g = got(rx.read(&mut out)?);
    assert_eq!(
        g,
        Got {
            data: 2,
            silence: 2,
            end_of_stream: true,
            ..Got::default()
        }
    );
    assert_eq!(out, [1, 2, 0, 0]);
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 2,
            read: 2,
            dropped: 1,
            silence_end: 2,
            ..Totals::default()
        }
    );
    Ok(())
}

#[test]
fn sample_size_errors() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(6, 24))?;
    let _ = tx.write(&bytes(1, 6))?;
    let write_size = |sample| WriteError::SampleSize {
        sample,
        block_align: 6,
    };
    let read_size = |sample| ReadError::SampleSize {
        sample,
        block_align: 6,
    };
    assert_eq!(tx.write_samples(&[0u32; 3]), Err(write_size(4)));
    assert_eq!(tx.write_samples(&[0f64; 3]), Err(write_size(8)));
    // A zero-sized sample type divides nothing.
    assert_eq!(tx.write_samples(&[Nothing; 6]), Err(write_size(0)));
    assert_eq!(rx.read_samples(&mut [0u32; 3]), Err(read_size(4)));
    assert_eq!(rx.read_samples(&mut [Nothing; 6]), Err(read_size(0)));
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 6,
            ..Totals::default()
        }
    );
    assert_eq!(drain(&mut rx), bytes(1, 6));
    Ok(())
}

// ---------------------------------------------------------------------------
// Read errors: nothing read, nothing lost
// ---------------------------------------------------------------------------

#[test]
fn read_errors_keep_the_ring() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 16))?;
    let _ = tx.write(&bytes(1, 8))?;
    let not_whole = |len| ReadError::NotWholeBlocks {
        len,
        block_align: 4,
    };
    let mut out = [0xEE; 12];
    assert_eq!(rx.read(&mut out[..6]), Err(not_whole(6)));
    assert_eq!(rx.read_samples(&mut [0i16; 3]), Err(not_whole(6)));
    assert_eq!(rx.read_cyclic(&mut out[..10], 0, 4), Err(not_whole(10)));
    assert_eq!(rx.read_cyclic(&mut out[..8], 2, 4), Err(not_whole(2)));
    assert_eq!(rx.read_cyclic(&mut out[..8], 0, 6), Err(not_whole(6)));
    let out_of_range = |value| ReadError::OutOfRange { value, len: 8 };
    assert_eq!(rx.read_cyclic(&mut out[..8], 8, 4), Err(out_of_range(8)));
    assert_eq!(rx.read_cyclic(&mut out[..8], 12, 4), Err(out_of_range(12)));
    assert_eq!(rx.read_cyclic(&mut out[..8], 0, 12), Err(out_of_range(12)));
    assert_eq!(out, [0xEE; 12]);

    let grant = rx.read_grant(8);
    assert_eq!(grant.len(), 8);
    assert_eq!(grant.release(2).err(), Some(not_whole(2)));
    let grant = rx.read_grant(4);
    assert_eq!(
        grant.release(8).err(),
        Some(ReadError::ReleaseTooLarge { len: 8, granted: 4 })
    );

    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 8,
            ..Totals::default()
        }
    );
    assert_eq!(rx.available(), 8);
    let g = got(rx.read(&mut out[..8])?);
    assert_eq!(g, plain(8, 0));
    assert_eq!(out[..8], bytes(1, 8));
    Ok(())
}

// ---------------------------------------------------------------------------
// Overrun policies
// ---------------------------------------------------------------------------

#[test]
fn overrun_policies_with_odd_block_sizes() -> Result {
    for block in [3, 6, 12, 18] {
        let b = block;
        let old = bytes(1, 3 * b);
        let new = bytes(0x80, 4 * b);
        for overrun in [Overrun::Reject, Overrun::Truncate, Overrun::OverwriteOldest] {
            // Five blocks, three buffered, four more written: two fit.
            let config = Config::raw(b, 5 * b).overrun(overrun);
            let (mut tx, mut rx) = pcm_ring::heap(&config)?;
            let _ = tx.write(&old)?;
            let result = tx.write(&new);
            let (expect, counted) = match overrun {
                Overrun::Reject => {
                    let full = WriteError::Full {
                        needed: 4 * b,
                        free: 2 * b,
                    };
                    assert_eq!(result, Err(full), "block {b}");
                    let t = Totals {
                        written: 3 * b as u64,
                        refused: 1,
                        ..Totals::default()
                    };
                    (old.clone(), t)
                }
                Overrun::Truncate => {
                    assert_eq!(wo(result?), (2 * b, 2 * b, 0, 0), "block {b}");
                    let t = Totals {
                        written: 5 * b as u64,
                        dropped: 2 * b as u64,
                        overruns: 1,
                        ..Totals::default()
                    };
                    ([&old[..], &new[..2 * b]].concat(), t)
                }
                Overrun::OverwriteOldest => {
                    assert_eq!(wo(result?), (4 * b, 0, 2 * b, 0), "block {b}");
                    let t = Totals {
                        written: 7 * b as u64,
                        overwritten: 2 * b as u64,
                        overruns: 1,
                        ..Totals::default()
                    };
                    ([&old[2 * b..], &new[..]].concat(), t)
                }
            };
            assert_eq!(totals(rx.counters()), counted, "block {b} {overrun:?}");
            assert_eq!(drain(&mut rx), expect, "block {b} {overrun:?}");
            assert_balanced(&tx, &rx);
        }
    }
    Ok(())
}

#[test]
fn truncate_on_a_stream_write_drops_whole_blocks_and_the_partial_frame() -> Result {
    for block in [3, 6, 12, 18] {
        let b = block;
        let config = Config::raw(b, 5 * b).overrun(Overrun::Truncate);
        let (mut tx, mut rx) = pcm_ring::heap(&config)?;
        let _ = tx.write(&bytes(1, 3 * b))?;
        // Four blocks and one byte: two blocks fit, the rest is dropped, and
        // the other b - 1 bytes of the partial frame will be discarded.
        let input = bytes(0x80, 4 * b + 1);
        assert_eq!(wo(tx.write_stream(&input)?), (2 * b, 2 * b + 1, 0, 0));
        assert_eq!(
            tx.write(&vec![0; b]),
            Err(WriteError::DiscardingPartialBlock { remaining: b - 1 })
        );
        drain(&mut rx);
        let next = bytes(0x40, b);
        let mut tail = vec![0xEE; b - 1];
        tail.extend_from_slice(&next);
        assert_eq!(wo(tx.write_stream(&tail)?), (b, b - 1, 0, 0));
        assert_eq!(drain(&mut rx), next, "block {b}");
        assert_balanced(&tx, &rx);
    }
    Ok(())
}

#[test]
fn overwrite_oldest_keeps_the_last_capacity_bytes_of_a_long_input() -> Result {
    // Block 6, five blocks: two buffered, then eight blocks written.
    let config = Config::raw(6, 30).overrun(Overrun::OverwriteOldest);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&bytes(1, 12))?;
    let input = bytes(0x80, 48);
    // The first 18 bytes never enter; the 12 buffered are overwritten.
    assert_eq!(wo(tx.write(&input)?), (30, 18, 12, 0));
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 42,
            dropped: 18,
            overwritten: 12,
            overruns: 1,
            ..Totals::default()
        }
    );
    assert_eq!(drain(&mut rx), input[18..]);
    assert_balanced(&tx, &rx);

    // Block 3, seven blocks, an empty ring and ten blocks: nothing to overwrite.
    let config = Config::raw(3, 21).overrun(Overrun::OverwriteOldest);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let input = bytes(1, 30);
    assert_eq!(wo(tx.write(&input)?), (21, 9, 0, 0));
    assert_eq!(drain(&mut rx), input[9..]);

    // A full ring and exactly one capacity: all of it is overwritten.
    let _ = tx.write(&bytes(1, 21))?;
    assert_eq!(wo(tx.write(&bytes(100, 21))?), (21, 0, 21, 0));
    assert_eq!(drain(&mut rx), bytes(100, 21));
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 63,
            read: 42,
            dropped: 9,
            overwritten: 21,
            overruns: 2,
            ..Totals::default()
        }
    );
    Ok(())
}

#[test]
fn truncate_keeps_the_first_capacity_bytes_of_a_long_input() -> Result {
    let config = Config::raw(12, 36).overrun(Overrun::Truncate);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let input = bytes(1, 60);
    assert_eq!(wo(tx.write(&input)?), (36, 24, 0, 0));
    assert_eq!(drain(&mut rx), input[..36]);
    Ok(())
}

// ---------------------------------------------------------------------------
// Stream writes
// ---------------------------------------------------------------------------

#[test]
fn write_stream_any_split_delivers_the_same_frames() -> Result {
    const SPLITS: [usize; 12] = [1, 2, 5, 0, 7, 13, 1, 1, 3, 11, 4, 9];
    for block in [3, 4, 12] {
        // Eight blocks, drained after every call, so the stream wraps often.
        let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(block, 8 * block))?;
        let total = 20 * block + 2;
        let input: Vec<u8> = (0..total).map(|i| (i * 7 + 1) as u8).collect();
        let mut out = Vec::new();
        let mut pos = 0;
        for split in SPLITS.iter().cycle() {
            if pos == total {
                break;
            }
            let len = (*split).min(total - pos);
            let next = pos + len;
            let whole = |p: usize| p - p % block;
            let o = tx.write_stream(&input[pos..next])?;
            assert_eq!(
                wo(o),
                (whole(next) - whole(pos), 0, 0, next % block),
                "block {block} at {pos}"
            );
            assert_eq!(tx.held_partial(), &input[whole(next)..next]);
            assert_eq!(rx.available(), whole(next) - whole(pos));
            out.extend(drain(&mut rx));
            pos = next;
        }
        let whole = total - total % block;
        assert_eq!(out, input[..whole], "block {block}");
        assert_eq!(tx.discard_partial(), total % block);
        assert_eq!(
            totals(rx.counters()),
            Totals {
                written: whole as u64,
                read: whole as u64,
                dropped: (total % block) as u64,
                ..Totals::default()
            }
        );
    }
    Ok(())
}

#[test]
fn held_partial_and_discard_partial() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 16))?;
    assert_eq!(wo(tx.write_stream(&[1, 2, 3])?), (0, 0, 0, 3));
    assert_eq!(tx.held_partial(), &[1, 2, 3]);
    // The consumer never sees it; it reserves a block.
    assert_eq!((tx.fill(), tx.free(), rx.available()), (0, 12, 0));
    assert_eq!(tx.discard_partial(), 3);
    assert_eq!(tx.held_partial(), &[] as &[u8]);
    assert_eq!(tx.free(), 16);
    assert_eq!(tx.discard_partial(), 0);
    assert_eq!(wo(tx.write_stream(&[4, 5, 6, 7])?), (4, 0, 0, 0));
    assert_eq!(drain(&mut rx), [4, 5, 6, 7]);
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 4,
            read: 4,
            dropped: 3,
            ..Totals::default()
        }
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Underrun policies and silence
// ---------------------------------------------------------------------------

#[test]
fn silence_fill_and_partial() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(2, 8))?;
    let _ = tx.write(&[1, 2])?;
    let mut out = [0xEE; 6];
    let g = got(rx.read(&mut out)?);
    assert_eq!(
        g,
        Got {
            data: 2,
            silence: 4,
            underrun: true,
            ..Got::default()
        }
    );
    assert_eq!(out, [1, 2, 0, 0, 0, 0]);
    let _ = tx.write(&[3, 4, 5, 6])?;
    assert_eq!(got(rx.read(&mut out[..4])?), plain(4, 0));
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 6,
            read: 6,
            silence_underrun: 4,
            underruns: 1,
            ..Totals::default()
        }
    );

    let config = Config::raw(2, 8).underrun(Underrun::Partial);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&[1, 2])?;
    let mut out = [0xEE; 6];
    let g = got(rx.read(&mut out)?);
    assert_eq!(
        g,
        Got {
            data: 2,
            underrun: true,
            ..Got::default()
        }
    );
    assert_eq!(out, [1, 2, 0xEE, 0xEE, 0xEE, 0xEE]);
    let g = got(rx.read(&mut out)?);
    assert_eq!(
        g,
        Got {
            underrun: true,
            ..Got::default()
        }
    );
    assert_eq!(out, [1, 2, 0xEE, 0xEE, 0xEE, 0xEE]);
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 2,
            read: 2,
            underruns: 2,
            ..Totals::default()
        }
    );
    Ok(())
}

#[test]
fn silence_patterns_tile_from_the_block_start() -> Result {
    let wide: Vec<u8> = (1..=32).collect();
    let cases: Vec<(Silence, usize, Vec<u8>)> = vec![
        (Silence::ZERO, 4, vec![0; 4]),
        (Silence::U8, 2, vec![0x80; 2]),
        (Silence::U16_LE, 4, vec![0x00, 0x80, 0x00, 0x80]),
        (Silence::U16_BE, 4, vec![0x80, 0x00, 0x80, 0x00]),
        (Silence::U24_LE, 6, vec![0, 0, 0x80, 0, 0, 0x80]),
        (Silence::U32_LE, 8, vec![0, 0, 0, 0x80, 0, 0, 0, 0x80]),
        (
            Silence::from_pattern(&[0x11, 0x22, 0x33])?,
            6,
            vec![0x11, 0x22, 0x33, 0x11, 0x22, 0x33],
        ),
        (Silence::from_array([0x69]), 3, vec![0x69; 3]),
        (Silence::from_pattern(&wide)?, 32, wide.clone()),
    ];
    for (silence, block, one_block) in cases {
        let config = Config::raw(block, 4 * block).silence(silence);
        let (mut tx, mut rx) = pcm_ring::heap(&config)?;
        let _ = tx.write(&vec![0xAB; block])?;
        let mut out = vec![0xEE; 3 * block];
        assert_eq!(got(rx.read(&mut out)?).silence, 2 * block);
        assert_eq!(out[..block], vec![0xAB; block][..], "{silence:?}");
        assert_eq!(out[block..2 * block], one_block[..], "{silence:?}");
        assert_eq!(out[2 * block..], one_block[..], "{silence:?}");

        // Priming silence has the same pattern.
        let (_tx, mut rx) = pcm_ring::heap(&config.start_threshold(block))?;
        let mut out = vec![0xEE; block];
        assert!(got(rx.read(&mut out)?).priming);
        assert_eq!(out, one_block, "{silence:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Priming, re-arming, end of stream
// ---------------------------------------------------------------------------

#[test]
fn priming_silence_is_counted_apart_from_underrun_silence() -> Result {
    let config = Config::raw(4, 32).start_threshold(12);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let priming = |silence| Got {
        silence,
        priming: true,
        ..Got::default()
    };
    let mut out = [0xEE; 12];
    assert_eq!(got(rx.read(&mut out[..8])?), priming(8));
    let _ = tx.write(&bytes(1, 8))?;
    assert_eq!(got(rx.read(&mut out[..4])?), priming(4));
    assert!(!rx.is_streaming());
    // A grant delivers nothing while priming either.
    assert!(rx.read_grant(usize::MAX).is_empty());
    let _ = tx.write(&bytes(9, 4))?;
    assert_eq!(got(rx.read(&mut out[..4])?), plain(4, 0));
    assert_eq!(out[..4], [1, 2, 3, 4]);
    assert!(rx.is_streaming());
    let underrun = |data, silence| Got {
        data,
        silence,
        underrun: true,
        ..Got::default()
    };
    assert_eq!(got(rx.read(&mut out)?), underrun(8, 4));
    assert_eq!(out, [5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0]);
    assert_eq!(got(rx.read(&mut out[..4])?), underrun(0, 4));
    assert!(rx.is_streaming(), "ReArm::Immediate keeps streaming");
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 12,
            read: 12,
            silence_priming: 12,
            silence_underrun: 8,
            underruns: 2,
            ..Totals::default()
        }
    );

    // With no threshold the consumer still waits for the first byte: an
    // empty ring before any data is priming, not an underrun.
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 32))?;
    assert_eq!(got(rx.read(&mut out[..4])?), priming(4));
    let _ = tx.write(&[1, 2, 3, 4])?;
    assert_eq!(got(rx.read(&mut out[..4])?), plain(4, 0));
    Ok(())
}

/// Both sides' view of the counters: the producer's reads the consumer's
/// published snapshot, the consumer's its own totals.
#[track_caller]
fn assert_counters(tx: &Producer<'_>, rx: &Consumer<'_>, want: &Totals, ctx: &str) {
    assert_eq!(&totals(rx.counters()), want, "{ctx}: the consumer's view");
    assert_eq!(&totals(tx.counters()), want, "{ctx}: the producer's view");
}

/// Reads of an empty ring, many in a row (published in place after the
/// first), between data reads and writes: every snapshot of the counters is
/// exact after every call, from either side, and the destination is all
/// silence.
#[test]
fn empty_ring_reads_keep_the_counters_exact() -> Result {
    for rearm in [
        ReArm::Prime {
            restart_threshold: 8,
        },
        ReArm::Immediate,
    ] {
        let config = Config::raw(4, 64).silence(Silence::U16_LE).rearm(rearm);
        let (mut tx, mut rx) = pcm_ring::heap(&config)?;
        let mut want = Totals::default();
        let mut out = [0xEE; 16];
        for round in 0..3u8 {
            let ctx = format!("{rearm:?}, round {round}");
            for len in [16, 4, 8, 16, 12] {
                out.fill(0xEE);
                let streaming = rx.is_streaming();
                let got = rx.read(&mut out[..len])?;
                assert_eq!((got.data, got.silence), (0, len), "{ctx}");
                // Empty while streaming is an underrun, else priming.
                assert_eq!(got.underrun, streaming, "{ctx}");
                assert_eq!(got.priming, !rx.is_streaming(), "{ctx}");
                if streaming {
                    want.underruns += 1;
                    want.silence_underrun += len as u64;
                } else {
                    want.silence_priming += len as u64;
                }
                assert!(out[..len].chunks(2).all(|s| s == [0x00, 0x80]), "{ctx}");
                assert!(out[len..].iter().all(|&b| b == 0xEE), "{ctx}");
                assert_counters(&tx, &rx, &want, &format!("{ctx}, {len} bytes"));
            }
            let _ = tx.write(&bytes(round * 16, 8))?;
            want.written += 8;
            let got = rx.read(&mut out[..4])?;
            assert_eq!((got.data, got.silence), (4, 0), "{ctx}");
            assert_eq!(out[..4], bytes(round * 16, 4)[..], "{ctx}");
            want.read += 4;
            assert_counters(&tx, &rx, &want, &ctx);
            // The rest, then an underrun (which re-arms priming under
            // `ReArm::Prime`).
            let got = rx.read(&mut out[..8])?;
            assert_eq!((got.data, got.silence, got.underrun), (4, 4, true), "{ctx}");
            want.read += 4;
            want.underruns += 1;
            want.silence_underrun += 4;
            assert_counters(&tx, &rx, &want, &ctx);
            assert_eq!(rx.is_streaming(), rearm == ReArm::Immediate, "{ctx}");
        }
        // A partial block is refused, on an empty ring too: nothing
        // written, nothing counted.
        out.fill(0xEE);
        assert_eq!(
            rx.read(&mut out[..6]),
            Err(ReadError::NotWholeBlocks {
                len: 6,
                block_align: 4
            })
        );
        assert!(out.iter().all(|&b| b == 0xEE));
        assert_counters(&tx, &rx, &want, "a partial block");
        tx.finish();
        let got = rx.read(&mut out[..8])?;
        assert_eq!(
            (got.silence, got.end_of_stream, got.underrun),
            (8, true, false)
        );
        want.silence_end += 8;
        assert_counters(&tx, &rx, &want, "end of stream");
    }
    Ok(())
}

/// One "tick" a millisecond: the producer writes one block (unless it
/// stalls), then the consumer reads one block. Returns the data bytes of each
/// read.
fn ticks(rearm: ReArm, stall_at: usize, n: usize) -> Result<(Vec<usize>, Totals)> {
    // 4-byte blocks, a 40-block ring, start at once.
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 160).rearm(rearm))?;
    let mut data = Vec::new();
    let mut out = [0u8; 4];
    for tick in 0..n {
        if tick != stall_at {
            let _ = tx.write(&[tick as u8; 4])?;
        }
        data.push(rx.read(&mut out)?.data);
    }
    Ok((data, totals(rx.counters())))
}

#[test]
fn rearm_prime_turns_a_short_stall_into_a_long_silence() -> Result {
    // The producer misses one tick out of 40.
    let (immediate, counted) = ticks(ReArm::Immediate, 5, 40)?;
    let mut expected = vec![4; 40];
    expected[5] = 0;
    assert_eq!(immediate, expected);
    assert_eq!(
        counted,
        Totals {
            written: 156,
            read: 156,
            silence_underrun: 4,
            underruns: 1,
            ..Totals::default()
        }
    );

    // Prime with a 20-block restart threshold: after the stall the consumer
    // waits for 20 blocks, one per tick, so 19 more ticks are silent although
    // data kept arriving.
    let prime = ReArm::Prime {
        restart_threshold: 80,
    };
    let (primed, counted) = ticks(prime, 5, 40)?;
    let mut expected = vec![4; 40];
    expected[5..25].fill(0);
    assert_eq!(primed, expected);
    assert_eq!(
        counted,
        Totals {
            written: 156,
            read: 80,
            silence_priming: 76,
            silence_underrun: 4,
            underruns: 1,
            ..Totals::default()
        }
    );

    // The stall itself is the underrun; the ticks after it are priming.
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 160).rearm(prime))?;
    let mut out = [0u8; 4];
    let _ = tx.write(&[1; 4])?;
    assert_eq!(got(rx.read(&mut out)?), plain(4, 0));
    let g = got(rx.read(&mut out)?);
    assert_eq!(
        g,
        Got {
            silence: 4,
            underrun: true,
            priming: true,
            ..Got::default()
        }
    );
    let _ = tx.write(&[2; 4])?;
    let g = got(rx.read(&mut out)?);
    assert_eq!(
        g,
        Got {
            silence: 4,
            priming: true,
            ..Got::default()
        }
    );
    Ok(())
}

#[test]
fn rearm_prime_after_an_empty_read_grant() -> Result {
    let prime = ReArm::Prime {
        restart_threshold: 8,
    };
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 32).rearm(prime))?;
    let _ = tx.write(&[1; 4])?;
    assert_eq!(drain(&mut rx), [1; 4]);
    assert!(rx.is_streaming());
    // Streaming and empty: the grant re-arms priming, without an underrun.
    assert!(rx.read_grant(usize::MAX).is_empty());
    assert!(!rx.is_streaming());
    let _ = tx.write(&[2; 4])?;
    let mut out = [0u8; 4];
    assert!(got(rx.read(&mut out)?).priming);
    let _ = tx.write(&[3; 4])?;
    assert_eq!(got(rx.read(&mut out)?), plain(4, 0));
    assert_eq!(out, [2; 4]);
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 12,
            read: 8,
            silence_priming: 4,
            ..Totals::default()
        }
    );
    Ok(())
}

#[test]
fn end_of_stream_drains_below_the_threshold() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(2, 16).start_threshold(12))?;
    let _ = tx.write(&bytes(1, 8))?;
    let mut out = [0xEE; 6];
    let g = got(rx.read(&mut out[..4])?);
    assert_eq!(
        g,
        Got {
            silence: 4,
            priming: true,
            ..Got::default()
        }
    );
    assert_eq!(tx.finish(), 0);
    assert!(!rx.is_end_of_stream());
    assert_eq!(got(rx.read(&mut out[..4])?), plain(4, 0));
    assert_eq!(out[..4], [1, 2, 3, 4]);
    let end = |data, silence| Got {
        data,
        silence,
        end_of_stream: true,
        ..Got::default()
    };
    assert_eq!(got(rx.read(&mut out)?), end(4, 2));
    assert_eq!(out, [5, 6, 7, 8, 0, 0]);
    assert!(rx.is_end_of_stream());
    assert_eq!(got(rx.read(&mut out[..4])?), end(0, 4));
    let grant = rx.read_grant(usize::MAX);
    assert!(grant.is_empty());
    assert_eq!(got(grant.release(0)?), end(0, 0));
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 8,
            read: 8,
            silence_priming: 4,
            silence_end: 6,
            ..Totals::default()
        }
    );

    // Dropping the producer ends the stream too; with Partial the end reads nothing.
    let config = Config::raw(2, 16).underrun(Underrun::Partial);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&[1, 2])?;
    drop(tx);
    assert_eq!(got(rx.read(&mut out[..4])?), end(2, 0));
    assert_eq!(got(rx.read(&mut out[..4])?), end(0, 0));
    assert!(rx.is_end_of_stream());
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 2,
            read: 2,
            ..Totals::default()
        }
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Low watermark, fill levels
// ---------------------------------------------------------------------------

#[test]
fn low_watermark_is_reported_once_per_crossing() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 32).low_watermark(12))?;
    let mut out = [0u8; 8];
    let mut crossed = |rx: &mut Consumer<'_>, n: usize| -> Result<bool> {
        Ok(rx.read(&mut out[..n])?.low_watermark)
    };
    let _ = tx.write(&bytes(1, 24))?;
    assert!(!crossed(&mut rx, 8)?); // 24 -> 16
    assert!(crossed(&mut rx, 8)?); // 16 -> 8: below 12
    assert!(!crossed(&mut rx, 4)?); // 8 -> 4: still below, said already
    assert!(!crossed(&mut rx, 4)?); // 4 -> 0
    assert!(!crossed(&mut rx, 4)?); // empty (an underrun)
    let _ = tx.write(&bytes(1, 16))?;
    assert!(!crossed(&mut rx, 4)?); // 16 -> 12: re-armed, not below
    assert!(crossed(&mut rx, 4)?); // 12 -> 8: below again
    let _ = tx.write(&bytes(1, 4))?;
    // 12 -> 8 through a read grant.
    let grant = rx.read_grant(4);
    assert!(grant.release(4)?.low_watermark);
    let _ = tx.write(&bytes(1, 8))?;
    // 16 -> 8 through a cyclic read.
    let mut dma = [0u8; 8];
    assert!(rx.read_cyclic(&mut dma, 0, 8)?.low_watermark);

    // A fresh ring starts below the watermark: the first read says so, once.
    let (_tx, mut rx) = pcm_ring::heap(&Config::raw(4, 32).low_watermark(8))?;
    assert!(crossed(&mut rx, 4)?);
    assert!(!crossed(&mut rx, 4)?);
    // A zero watermark never fires.
    let (_tx, mut rx) = pcm_ring::heap(&Config::raw(4, 32))?;
    assert!(!crossed(&mut rx, 4)?);
    Ok(())
}

#[test]
fn fill_free_available_and_bytes_to_reach() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 64))?;
    assert_eq!((tx.fill(), tx.free(), rx.available()), (0, 64, 0));
    let reach: Vec<usize> = [0, 1, 4, 5, 64, 100]
        .iter()
        .map(|&t| tx.bytes_to_reach(t))
        .collect();
    assert_eq!(reach, [0, 4, 4, 8, 64, 64]);

    let _ = tx.write(&[0; 20])?;
    assert_eq!((tx.fill(), tx.free(), rx.available()), (20, 44, 20));
    let reach: Vec<usize> = [30, 20, 21, 10, 64]
        .iter()
        .map(|&t| tx.bytes_to_reach(t))
        .collect();
    assert_eq!(reach, [12, 0, 4, 0, 44]);

    // A held partial block reserves a block.
    let _ = tx.write_stream(&[0; 2])?;
    assert_eq!((tx.fill(), tx.free(), rx.available()), (20, 40, 20));
    assert_eq!((tx.bytes_to_reach(64), tx.bytes_to_reach(24)), (40, 4));
    let mut out = [0u8; 8];
    let _ = rx.read(&mut out)?;
    assert_eq!((tx.fill(), tx.free(), rx.available()), (12, 48, 12));
    let _ = tx.write_stream(&[0; 2])?;
    assert_eq!((tx.fill(), tx.free(), rx.available()), (16, 48, 16));
    let _ = tx.write(&[0; 48])?;
    assert_eq!((tx.fill(), tx.free(), tx.bytes_to_reach(64)), (64, 0, 0));
    assert_eq!(rx.counters().peak_fill, 64);

    // Not a power of two: 6-byte blocks, 30 bytes.
    let (mut tx, _rx) = pcm_ring::heap(&Config::raw(6, 30))?;
    let _ = tx.write(&[0; 12])?;
    let reach: Vec<usize> = [13, 25, 30, 31]
        .iter()
        .map(|&t| tx.bytes_to_reach(t))
        .collect();
    assert_eq!(reach, [6, 18, 18, 18]);
    assert_eq!((tx.capacity(), tx.block_align(), tx.free()), (30, 6, 18));
    Ok(())
}

// ---------------------------------------------------------------------------
// Zero-copy grants
// ---------------------------------------------------------------------------

#[test]
fn grants_across_the_wrap_give_two_slices() -> Result {
    // Block 3, capacity 12: start 21 bytes into the 24-byte position space,
    // 9 bytes into the storage, so that both the storage and the positions wrap.
    let config = Config::raw(3, 12).start_position_blocks(7);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let mut grant = tx.grant(9)?;
    let (a, b) = grant.as_mut_slices();
    assert_eq!((a.len(), b.len()), (3, 6));
    a.copy_from_slice(&[1, 2, 3]);
    b.copy_from_slice(&[4, 5, 6, 7, 8, 9]);
    assert_eq!(grant.commit(9)?, 9);
    assert_eq!(rx.available(), 9);

    let grant = rx.read_grant(usize::MAX);
    assert_eq!(grant.len(), 9);
    assert_eq!(grant.as_slices(), (&[1, 2, 3][..], &[4, 5, 6, 7, 8, 9][..]));
    assert_eq!(got(grant.release(6)?), plain(6, 0));
    // A maximum that is not whole blocks is rounded down.
    let grant = rx.read_grant(5);
    assert_eq!(grant.as_slices(), (&[7, 8, 9][..], &[][..]));
    let _ = grant.release(3)?;

    // A grant may be committed in part.
    let mut grant = tx.grant(12)?;
    let (a, b) = grant.as_mut_slices();
    assert_eq!((a.len(), b.len()), (6, 6));
    a.copy_from_slice(&[10, 11, 12, 13, 14, 15]);
    assert_eq!(grant.commit(6)?, 6);
    assert_eq!(drain(&mut rx), [10, 11, 12, 13, 14, 15]);
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 15,
            read: 15,
            ..Totals::default()
        }
    );
    Ok(())
}

#[test]
fn dropped_grants_commit_and_release_nothing() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(2, 8))?;
    {
        let mut grant = tx.grant(6)?;
        let (a, b) = grant.as_mut_slices();
        a.fill(7);
        b.fill(7);
        // Not committed: it goes out of scope.
    }
    assert_eq!(
        (tx.fill(), rx.available(), rx.counters().written),
        (0, 0, 0)
    );
    let _ = tx.write(&[1, 2])?;
    drop(rx.read_grant(2));
    assert_eq!((rx.available(), rx.counters().read), (2, 0));
    assert_eq!(drain(&mut rx), [1, 2]);

    // Under OverwriteOldest a dropped read grant also drops its claim.
    let config = Config::raw(2, 4).overrun(Overrun::OverwriteOldest);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&[1, 2, 3, 4])?;
    drop(rx.read_grant(2));
    assert_eq!(wo(tx.write(&[5, 6])?), (2, 0, 2, 0));
    assert_eq!(drain(&mut rx), [3, 4, 5, 6]);
    Ok(())
}

#[test]
fn grants_follow_the_overrun_policy() -> Result {
    let fill = |grant: &mut pcm_ring::WriteGrant<'_, '_>, first: u8| {
        let (a, b) = grant.as_mut_slices();
        let n = a.len();
        a.copy_from_slice(&bytes(first, n));
        b.copy_from_slice(&bytes(first.wrapping_add(n as u8), b.len()));
    };

    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(2, 8))?;
    let _ = tx.write(&bytes(1, 6))?;
    assert_eq!(
        tx.grant(6).err(),
        Some(WriteError::Full { needed: 6, free: 2 })
    );
    assert_eq!(drain(&mut rx), bytes(1, 6));
    assert_eq!(
        tx.grant(10).err(),
        Some(WriteError::Full {
            needed: 10,
            free: 8
        })
    );
    let c = rx.counters();
    assert_eq!((c.dropped, c.overruns, c.refused), (0, 0, 2));

    // Truncate grants what is free; the rest counts as dropped at once.
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(2, 8).overrun(Overrun::Truncate))?;
    let _ = tx.write(&bytes(1, 6))?;
    let mut grant = tx.grant(6)?;
    assert_eq!(grant.len(), 2);
    fill(&mut grant, 7);
    grant.commit(2)?;
    assert_eq!(drain(&mut rx), bytes(1, 8));
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 8,
            read: 8,
            dropped: 4,
            overruns: 1,
            ..Totals::default()
        }
    );

    // OverwriteOldest discards the oldest blocks when granting.
    let config = Config::raw(2, 8).overrun(Overrun::OverwriteOldest);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&bytes(1, 6))?;
    let mut grant = tx.grant(6)?;
    assert_eq!(grant.len(), 6);
    fill(&mut grant, 7);
    grant.commit(6)?;
    assert_eq!(drain(&mut rx), bytes(5, 8));
    // More than the capacity: a capacity is granted, the rest dropped.
    let _ = tx.write(&bytes(20, 2))?;
    let mut grant = tx.grant(10)?;
    assert_eq!(grant.len(), 8);
    fill(&mut grant, 30);
    grant.commit(8)?;
    assert_eq!(drain(&mut rx), bytes(30, 8));
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 22,
            read: 16,
            dropped: 2,
            overwritten: 6,
            overruns: 2,
            ..Totals::default()
        }
    );
    Ok(())
}

#[test]
fn a_held_read_grant_makes_overwrite_oldest_truncate() -> Result {
    let config = Config::raw(2, 8).overrun(Overrun::OverwriteOldest);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&bytes(1, 8))?;
    let grant = rx.read_grant(4);
    assert_eq!(grant.as_slices(), (&[1, 2, 3, 4][..], &[][..]));
    // The consumer's claim: nothing buffered may be discarded, so the new
    // data is dropped instead, by a write and by a grant alike.
    assert_eq!(wo(tx.write(&[9, 10, 11, 12])?), (0, 4, 0, 0));
    assert!(tx.grant(2)?.is_empty());
    assert_eq!(wo(tx.write_stream(&[13, 14, 15])?), (0, 3, 0, 0));
    assert_eq!(tx.discard_partial(), 0); // forget the rest of frame [15 ..]
    assert_eq!(grant.as_slices(), (&[1, 2, 3, 4][..], &[][..]));
    assert_eq!(got(grant.release(4)?), plain(4, 0));
    // Released: the write fits, and the next one overwrites again.
    assert_eq!(wo(tx.write(&[13, 14, 15, 16])?), (4, 0, 0, 0));
    assert_eq!(wo(tx.write(&[17, 18])?), (2, 0, 2, 0));
    assert_eq!(drain(&mut rx), [7, 8, 13, 14, 15, 16, 17, 18]);
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 14,
            read: 12,
            dropped: 4 + 2 + 3,
            overwritten: 2,
            overruns: 4,
            ..Totals::default()
        }
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Cyclic reads
// ---------------------------------------------------------------------------

#[test]
fn read_cyclic_wraps_the_destination_and_the_ring_in_one_call() -> Result {
    // Block 2, capacity 8, starting 4 bytes into the storage; Partial, to
    // show that a cyclic read fills with silence whatever the policy.
    let config = Config::raw(2, 8)
        .start_position_blocks(2)
        .underrun(Underrun::Partial)
        .silence(Silence::U16_LE);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&bytes(1, 8))?; // storage: [5 6 7 8 1 2 3 4]
    let mut dma = [0xEE; 6];
    // dma[4..6] from the ring's 4..6, then dma[0..4] from 6..8 and 0..2.
    assert_eq!(got(rx.read_cyclic(&mut dma, 4, 6)?), plain(6, 0));
    assert_eq!(dma, [3, 4, 5, 6, 1, 2]);
    // Two bytes left for six: dma[2..4] data, dma[4..6] and dma[0..2] silence.
    let g = got(rx.read_cyclic(&mut dma, 2, 6)?);
    assert_eq!(
        g,
        Got {
            data: 2,
            silence: 4,
            underrun: true,
            ..Got::default()
        }
    );
    assert_eq!(dma, [0x00, 0x80, 7, 8, 0x00, 0x80]);
    // Nothing asked, nothing done.
    assert_eq!(got(rx.read_cyclic(&mut dma, 2, 0)?), plain(0, 0));
    assert_eq!(got(rx.read_cyclic(&mut [], 0, 0)?), plain(0, 0));
    assert_eq!(dma, [0x00, 0x80, 7, 8, 0x00, 0x80]);
    // A whole destination from offset 0 does not wrap it.
    let _ = tx.write(&bytes(20, 6))?;
    assert_eq!(got(rx.read_cyclic(&mut dma, 0, 6)?), plain(6, 0));
    assert_eq!(dma, [20, 21, 22, 23, 24, 25]);
    assert_eq!(
        totals(rx.counters()),
        Totals {
            written: 14,
            read: 14,
            silence_underrun: 4,
            underruns: 1,
            ..Totals::default()
        }
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Typed samples
// ---------------------------------------------------------------------------

#[test]
fn typed_samples_round_trip() -> Result {
    // i16 stereo: 4-byte blocks.
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 32))?;
    assert_eq!(tx.write_samples(&[1i16, -1, 300, -300])?.written, 8);
    let grant = rx.read_grant(usize::MAX);
    // Little-endian bytes, as written.
    assert_eq!(
        grant.as_slices().0,
        [1, 0, 0xFF, 0xFF, 0x2C, 0x01, 0xD4, 0xFE]
    );
    drop(grant);
    let mut out = [0i16; 4];
    assert_eq!(got(rx.read_samples(&mut out)?), plain(8, 0));
    assert_eq!(out, [1, -1, 300, -300]);
    let _ = tx.write_samples(&[5i16, 6])?;
    let mut out = [9i16; 4];
    let g = got(rx.read_samples(&mut out)?);
    assert_eq!((g.data, g.silence, g.underrun), (4, 4, true));
    assert_eq!(out, [5, 6, 0, 0]);
    assert_eq!(
        tx.write_samples(&[0i16; 3]),
        Err(WriteError::NotWholeBlocks {
            len: 6,
            block_align: 4
        })
    );

    // f32 stereo: 8-byte blocks.
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(8, 64))?;
    let samples = [0.25f32, -0.5, 1.0, -1.0];
    let _ = tx.write_samples(&samples)?;
    let mut out = [0f32; 4];
    let _ = rx.read_samples(&mut out)?;
    assert_eq!(out.map(f32::to_bits), samples.map(f32::to_bits));

    // Packed 24-bit stereo: 3-byte samples in 6-byte blocks.
    let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(6, 24))?;
    let samples = [[1u8, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]].map(Packed24);
    assert_eq!(tx.write_samples(&samples)?.written, 12);
    let mut first = [0u8; 6];
    let _ = rx.read(&mut first)?;
    assert_eq!(first, [1, 2, 3, 4, 5, 6]);
    let mut rest = [Packed24([0u8; 3]); 2];
    let _ = rx.read_samples(&mut rest)?;
    assert_eq!(rest.map(|s| s.0), [[7, 8, 9], [10, 11, 12]]);
    Ok(())
}

/// Packed 24-bit samples, a `Sample` type of the user's own.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(transparent)]
struct Packed24([u8; 3]);
// SAFETY: a transparent byte array: no padding, any bit pattern is valid.
unsafe impl bytemuck::Zeroable for Packed24 {}
// SAFETY: as above.
unsafe impl bytemuck::Pod for Packed24 {}
impl pcm_ring::Sample for Packed24 {
    const FORMAT: SampleFormat = SampleFormat::I24;
}

/// A zero-sized sample type, which no ring can take.
#[derive(Clone, Copy, Debug)]
struct Nothing;
// SAFETY: zero-sized, so no bytes and no padding.
unsafe impl bytemuck::Zeroable for Nothing {}
// SAFETY: as above.
unsafe impl bytemuck::Pod for Nothing {}
impl pcm_ring::Sample for Nothing {
    const FORMAT: SampleFormat = SampleFormat::U8;
}

#[test]
fn typed_samples_must_match_a_declared_format() -> Result {
    let stereo_i16 = Format::new(SampleFormat::I16, 2);
    let (mut tx, mut rx) = pcm_ring::heap(&Config::new(stereo_i16, 8))?;
    let wrong = |found| WriteError::SampleFormat {
        expected: SampleFormat::I16,
        found,
    };
    // Same size, other format: refused, nothing written.
    assert_eq!(
        tx.write_samples(&[0.5f32, -0.5]),
        Err(wrong(SampleFormat::F32))
    );
    assert_eq!(tx.write_samples(&[1u16, 2]), Err(wrong(SampleFormat::U16)));
    assert_eq!(tx.write_samples(&[1u8; 4]), Err(wrong(SampleFormat::U8)));
    assert_eq!(tx.fill(), 0);
    assert_eq!(tx.write_samples(&[1i16, -1])?.written, 4);
    let mut floats = [9f32; 2];
    assert_eq!(
        rx.read_samples(&mut floats),
        Err(ReadError::SampleFormat {
            expected: SampleFormat::I16,
            found: SampleFormat::F32
        })
    );
    assert_eq!(floats, [9.0; 2]);
    assert_eq!(rx.available(), 4, "the refused read lost nothing");
    let mut out = [0i16; 2];
    assert_eq!(rx.read_samples(&mut out)?.data, 4);
    assert_eq!(out, [1, -1]);
    assert_eq!(
        WriteError::SampleFormat {
            expected: SampleFormat::I16,
            found: SampleFormat::F32
        }
        .to_string(),
        "F32 samples given to a ring of I16 samples"
    );
    Ok(())
}

/// A 24-bit sample in a 4-byte container that wrongly claims to be packed.
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
struct I24In32(i32);
// SAFETY: a transparent `i32`.
unsafe impl bytemuck::Zeroable for I24In32 {}
// SAFETY: as above.
unsafe impl bytemuck::Pod for I24In32 {}
impl pcm_ring::Sample for I24In32 {
    const FORMAT: SampleFormat = SampleFormat::I24;
}

/// Read grants of a streaming consumer under `OverwriteOldest` (which
/// claim the read position after one look): the claim holds while the
/// grant lives, an empty grant claims nothing, a leaked grant's claim is
/// released by the next grant, and the release reports the low watermark
/// and the end of the stream as any read does.
#[test]
fn streaming_read_grants_under_overwrite_oldest_claim_and_release() -> Result {
    let config = Config::raw(2, 8)
        .overrun(Overrun::OverwriteOldest)
        .low_watermark(4);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&bytes(1, 8))?;
    let mut out = [0u8; 2];
    assert_eq!(rx.read(&mut out)?.data, 2); // streaming now
    assert_eq!(out, [1, 2]);
    // A grant of up to 16 gets the 6 buffered bytes and holds the claim: a
    // write that needs room drops its own bytes.
    let grant = rx.read_grant(16);
    assert_eq!(grant.as_slices(), (&[3, 4, 5, 6, 7, 8][..], &[][..]));
    assert_eq!(wo(tx.write(&[9, 10, 11, 12])?), (2, 2, 0, 0));
    assert_eq!(grant.as_slices(), (&[3, 4, 5, 6, 7, 8][..], &[][..]));
    // 6 then 2 left of the 8 now buffered: below the watermark of 4.
    let o = got(grant.release(4)?);
    assert_eq!((o.data, o.low_watermark, o.end_of_stream), (4, true, false));
    // Released: overwriting works again (4 buffered, 4 free, 6 written).
    assert_eq!(wo(tx.write(&[13, 14, 15, 16, 17, 18])?), (6, 0, 2, 0));
    // An empty grant claims nothing: a write overwrites meanwhile.
    let empty = rx.read_grant(1);
    assert!(empty.is_empty());
    assert_eq!(wo(tx.write(&[19, 20])?), (2, 0, 2, 0));
    drop(empty);
    // A leaked grant's claim is released by the next grant, which reads on.
    std::mem::forget(rx.read_grant(2));
    let grant = rx.read_grant(4);
    assert_eq!(grant.as_slices(), (&[13, 14, 15, 16][..], &[][..]));
    assert_eq!(got(grant.release(4)?).data, 4);
    // The end of the stream: the grant that takes the rest reports it.
    let _ = tx.finish();
    let grant = rx.read_grant(usize::MAX);
    let (a, b) = grant.as_slices();
    assert_eq!([a, b].concat(), [17, 18, 19, 20]);
    let o = got(grant.release(4)?);
    // From 4 to none: below the watermark again, and the end.
    assert_eq!((o.data, o.low_watermark, o.end_of_stream), (4, true, true));
    let c = totals(rx.counters());
    assert_eq!(
        (c.written, c.read, c.dropped, c.overwritten, c.overruns),
        (18, 14, 2, 4, 3)
    );
    assert_balanced(&tx, &rx);
    Ok(())
}

/// A release refused under `OverwriteOldest` (too large, or not whole
/// blocks) releases nothing, and the grant it consumed drops its claim: the
/// producer overwrites again, and the unread data is all still there.
#[test]
fn a_refused_release_drops_the_claim_under_overwrite_oldest() -> Result {
    let config = Config::raw(2, 8).overrun(Overrun::OverwriteOldest);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&bytes(1, 8))?;
    for (len, error) in [
        (6, ReadError::ReleaseTooLarge { len: 6, granted: 4 }),
        (
            3,
            ReadError::NotWholeBlocks {
                len: 3,
                block_align: 2,
            },
        ),
    ] {
        let grant = rx.read_grant(4);
        assert_eq!(grant.len(), 4);
        // Claimed: a write into the full ring drops its own bytes.
        assert_eq!(wo(tx.write(&[0xAA, 0xAA])?), (0, 2, 0, 0));
        assert_eq!(grant.release(len).err(), Some(error));
        assert_eq!(rx.available(), 8);
    }
    // No claim left: the next write overwrites the oldest block.
    assert_eq!(wo(tx.write(&[9, 10])?), (2, 0, 2, 0));
    assert_eq!(drain(&mut rx), [3, 4, 5, 6, 7, 8, 9, 10]);
    Ok(())
}

#[test]
fn a_forgotten_read_grant_does_not_wedge_overwrite_oldest() -> Result {
    let config = Config::raw(2, 8).overrun(Overrun::OverwriteOldest);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&bytes(1, 4))?;
    // A grant with data holds the claim; leaking it never releases it.
    std::mem::forget(rx.read_grant(2));
    // While the claim stands, an overrunning write drops its newest bytes.
    assert_eq!(wo(tx.write(&bytes(5, 6))?), (4, 2, 0, 0));
    // The next read releases the stale claim and reads on.
    let mut out = [0u8; 2];
    assert_eq!(got(rx.read(&mut out)?), plain(2, 0));
    assert_eq!(out, [1, 2]);
    // And overwriting works again.
    assert_eq!(wo(tx.write(&bytes(11, 4))?), (4, 0, 2, 0));
    assert_eq!(drain(&mut rx), [5, 6, 7, 8, 11, 12, 13, 14]);
    Ok(())
}

/// A streaming consumer under `OverwriteOldest` whose producer discarded
/// since its last read: the claim, which expects the read position this
/// consumer last saw, fails and is taken again from where the producer
/// moved it, for `read` and for `read_grant`; and after the producer
/// discarded exactly twice the capacity (the read position back at the
/// value the consumer last saw), the claim holds and the write position
/// loaded under it gives the data that is there now.
#[test]
fn overwrite_oldest_reads_on_from_where_the_producer_discarded_to() -> Result {
    let config = Config::raw(2, 8).overrun(Overrun::OverwriteOldest);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&bytes(1, 8))?;
    let mut out = [0u8; 2];
    assert_eq!(got(rx.read(&mut out)?), plain(2, 0)); // streaming now
    assert_eq!(out, [1, 2]);
    // Two bytes free: 4 written discard the oldest 2 (3, 4).
    assert_eq!(wo(tx.write(&bytes(9, 4))?), (4, 0, 2, 0));
    assert_eq!(got(rx.read(&mut out)?), plain(2, 0));
    assert_eq!(out, [5, 6]);
    assert_eq!(wo(tx.write(&bytes(13, 4))?), (4, 0, 2, 0));
    let grant = rx.read_grant(4);
    assert_eq!(grant.as_slices(), (&[9, 10, 11, 12][..], &[][..]));
    // Claimed: a write into the full ring drops its own bytes.
    assert_eq!(wo(tx.write(&bytes(17, 6))?), (0, 6, 0, 0));
    assert_eq!(got(grant.release(4)?).data, 4);
    // 13..=16 left, the read position at 12: these writes discard 16
    // bytes, twice the capacity, and bring it back to the same value.
    assert_eq!(wo(tx.write(&bytes(21, 8))?), (8, 0, 4, 0));
    assert_eq!(wo(tx.write(&bytes(29, 8))?), (8, 0, 8, 0));
    assert_eq!(wo(tx.write(&bytes(37, 4))?), (4, 0, 4, 0));
    assert_eq!(got(rx.read(&mut out)?), plain(2, 0));
    assert_eq!(out, [33, 34]);
    assert_eq!(wo(tx.write(&bytes(41, 4))?), (4, 0, 2, 0));
    let grant = rx.read_grant(8);
    let (a, b) = grant.as_slices();
    assert_eq!([a, b].concat(), [37, 38, 39, 40, 41, 42, 43, 44]);
    assert_eq!(got(grant.release(8)?).data, 8);
    let c = totals(rx.counters());
    assert_eq!(
        (c.written, c.read, c.dropped, c.overwritten),
        (40, 18, 6, 22)
    );
    assert_balanced(&tx, &rx);
    Ok(())
}

#[test]
fn a_sample_type_must_have_its_formats_size() -> Result {
    let (mut tx, mut rx) = pcm_ring::heap(&Config::new(Format::new(SampleFormat::I24, 2), 8))?;
    let size = |sample| WriteError::SampleSize {
        sample,
        block_align: 6,
    };
    assert_eq!(tx.write_samples(&[I24In32(1); 3]), Err(size(4)));
    assert_eq!(
        rx.read_samples(&mut [I24In32(0); 3]),
        Err(ReadError::SampleSize {
            sample: 4,
            block_align: 6
        })
    );
    assert_eq!(tx.write_samples(&[Packed24([1, 2, 3]); 2])?.written, 6);
    Ok(())
}

#[test]
fn formats_set_frames_and_silence() -> Result {
    let cases = [
        (SampleFormat::U8, 2, 2, vec![0x80u8, 0x80]),
        (SampleFormat::I8, 1, 1, vec![0]),
        (SampleFormat::I16, 6, 12, vec![0; 12]),
        (SampleFormat::U16, 1, 2, vec![0x00, 0x80]),
        (SampleFormat::I24, 2, 6, vec![0; 6]),
        (SampleFormat::I32, 2, 8, vec![0; 8]),
        (SampleFormat::U32, 1, 4, vec![0, 0, 0, 0x80]),
        (SampleFormat::F32, 2, 8, vec![0; 8]),
        (SampleFormat::F64, 1, 8, vec![0; 8]),
    ];
    for (sample, channels, block, silence) in cases {
        let config = Config::new(Format::new(sample, channels), 10);
        assert_eq!(
            (config.block_align(), config.capacity()),
            (block, 10 * block)
        );
        let (_tx, mut rx) = pcm_ring::heap(&config)?;
        let mut frame = vec![0x55u8; block];
        let got = rx.read(&mut frame)?;
        assert_eq!(got.silence, block);
        assert_eq!(frame, silence, "{sample:?}");
    }
    // No channels, or a capacity that overflows: typed errors.
    assert_eq!(
        Config::new(Format::new(SampleFormat::I16, 0), 10).validate(),
        Err(ConfigError::ZeroChannels)
    );
    assert!(matches!(
        Config::new(Format::new(SampleFormat::F64, 2), usize::MAX / 4).validate(),
        Err(ConfigError::CapacityTooLarge { .. })
    ));
    Ok(())
}

// ---------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------

#[test]
fn static_ring_splits_again_fresh() -> Result {
    let mut ring = StaticRing::<64>::new();
    {
        let (mut tx, mut rx) = ring.split(&Config::raw(4, 48).overrun(Overrun::Truncate))?;
        assert_eq!(wo(tx.write(&bytes(1, 60))?), (48, 12, 0, 0));
        let mut out = [0u8; 8];
        let _ = rx.read(&mut out)?;
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!((rx.capacity(), rx.block_align()), (48, 4));
    }
    let (mut tx, mut rx) = ring.split(&Config::raw(2, 64))?;
    assert_eq!(
        (tx.fill(), rx.available(), rx.is_end_of_stream()),
        (0, 0, false)
    );
    assert_eq!(totals(rx.counters()), Totals::default());
    assert_eq!(rx.counters().peak_fill, 0);
    let _ = tx.write(&bytes(100, 64))?;
    assert_eq!(drain(&mut rx), bytes(100, 64));
    Ok(())
}

#[test]
fn static_ring_handles_move_to_threads() -> Result {
    // A ring on this stack, its handles on two other threads.
    let mut ring = StaticRing::<32>::new();
    let (mut tx, mut rx) = ring.split(&Config::raw(4, 32))?;
    let frames = if cfg!(miri) { 24u8 } else { 200 };
    let received = std::thread::scope(|s| {
        s.spawn(move || {
            for i in 0..frames {
                while tx.write(&[i; 4]).is_err() {
                    std::thread::yield_now();
                }
            }
        });
        let consumer = s.spawn(move || {
            let mut data = Vec::new();
            while !rx.is_end_of_stream() {
                let more = drain(&mut rx);
                if more.is_empty() {
                    std::thread::yield_now();
                }
                data.extend(more);
            }
            data
        });
        consumer.join()
    })
    .map_err(|_| "consumer panicked")?;
    let expected: Vec<u8> = (0..frames).flat_map(|i| [i; 4]).collect();
    assert_eq!(received, expected);
    Ok(())
}

#[test]
fn borrowed_memory_at_any_alignment() -> Result {
    let config = Config::raw(6, 60);
    let needed = config.required_memory()?;
    const GUARD: u8 = 0x5A;
    // More shifts than any alignment the header can need.
    let shifts = if cfg!(miri) { 16 } else { 64 };
    let mut backing = vec![GUARD; needed + shifts];
    for shift in 0..shifts {
        backing.fill(GUARD);
        {
            let memory = &mut backing[shift..shift + needed];
            let (mut tx, mut rx) = pcm_ring::borrowed(&config, memory)?;
            let data = bytes(shift as u8, 60);
            let _ = tx.write(&data)?;
            assert_eq!(drain(&mut rx), data, "shift {shift}");
        }
        // Nothing outside the lent memory was touched.
        assert!(backing[..shift].iter().all(|&b| b == GUARD));
        assert!(backing[shift + needed..].iter().all(|&b| b == GUARD));
    }

    // One byte short: it fits at some alignments but not at every one.
    let mut refused = 0;
    for shift in 0..shifts {
        let memory = &mut backing[shift..shift + needed - 1];
        match pcm_ring::borrowed(&config, memory) {
            Ok((mut tx, mut rx)) => {
                let _ = tx.write(&[shift as u8; 6])?;
                assert_eq!(drain(&mut rx), [shift as u8; 6]);
            }
            Err(e) => {
                assert_eq!(
                    e,
                    ConfigError::BufferTooSmall {
                        needed,
                        available: needed - 1
                    }
                );
                refused += 1;
            }
        }
    }
    assert!(refused > 0);
    Ok(())
}

// ---------------------------------------------------------------------------
// Counters across mixed sequences
// ---------------------------------------------------------------------------

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn counters_add_up_after_mixed_sequences() -> Result {
    let steps = if cfg!(miri) { 200 } else { 4000 };
    for overrun in [Overrun::Reject, Overrun::Truncate, Overrun::OverwriteOldest] {
        for block in [3, 4] {
            let config = Config::raw(block, 5 * block)
                .overrun(overrun)
                .start_threshold(2 * block)
                .rearm(ReArm::Prime {
                    restart_threshold: block,
                })
                .low_watermark(2 * block);
            let (mut tx, mut rx) = pcm_ring::heap(&config)?;
            let mut rng = Rng(0x9E37_79B9 + block as u64);
            // The counters as the outcomes tell them, bytes given to writes,
            // and the fill level's maximum.
            let mut want = Totals::default();
            let (mut given, mut peak) = (0u64, 0u64);
            // Overrun events: at least those the outcomes show for sure, at
            // most those plus stream writes that dropped bytes (which may only
            // have been the rest of an earlier dropped frame).
            let (mut overruns_min, mut overruns_max) = (0u64, 0u64);
            let mut buf = vec![0u8; 8 * block];
            for step in 0..steps {
                let n = rng.below(7 * block) + 1;
                let whole = n - n % block;
                let mut sure = false;
                let mut maybe = false;
                match rng.below(8) {
                    op @ 0..=2 => {
                        let (len, result) = if op == 2 {
                            (whole, tx.write(&buf[..whole]))
                        } else {
                            (n, tx.write_stream(&buf[..n]))
                        };
                        match result {
                            Ok(o) => {
                                given += len as u64;
                                want.written += o.written as u64;
                                want.dropped += o.dropped as u64;
                                want.overwritten += o.overwritten as u64;
                                sure = o.overwritten > 0 || (op == 2 && o.dropped > 0);
                                maybe = o.dropped > 0;
                            }
                            Err(WriteError::Full { .. }) => {
                                // Refused: nothing given, nothing dropped,
                                // no overrun.
                                assert_eq!(overrun, Overrun::Reject);
                                want.refused += 1;
                            }
                            Err(
                                WriteError::PartialBlockHeld { .. }
                                | WriteError::DiscardingPartialBlock { .. },
                            ) => assert_eq!(op, 2),
                            Err(e) => return Err(e.into()),
                        }
                    }
                    3 => {
                        let before = tx.counters().overwritten;
                        match tx.grant(whole) {
                            Ok(grant) => {
                                let granted = grant.len();
                                let commit = rng.below(granted / block + 1) * block;
                                if rng.below(3) > 0 {
                                    grant.commit(commit)?;
                                    want.written += commit as u64;
                                    given += commit as u64;
                                }
                                // The shortfall is dropped when granting.
                                want.dropped += (whole - granted) as u64;
                                given += (whole - granted) as u64;
                                let overwritten = tx.counters().overwritten - before;
                                want.overwritten += overwritten;
                                sure = overwritten > 0 || whole > granted;
                            }
                            Err(WriteError::Full { .. }) => {
                                // Refused: nothing given, nothing dropped,
                                // no overrun.
                                assert_eq!(overrun, Overrun::Reject);
                                want.refused += 1;
                            }
                            Err(
                                WriteError::PartialBlockHeld { .. }
                                | WriteError::DiscardingPartialBlock { .. },
                            ) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    op @ (4 | 5 | 7) => {
                        let len = (n / block + 1) * block;
                        let o = if op == 7 {
                            let mut dma = vec![0u8; 4 * block];
                            let len = (n % 4 + 1) * block;
                            let offset = (n % 3) * block;
                            let o = rx.read_cyclic(&mut dma, offset, len)?;
                            assert_eq!(o.data + o.silence, len);
                            o
                        } else {
                            let o = rx.read(&mut buf[..len])?;
                            assert_eq!(o.data + o.silence, len);
                            o
                        };
                        want.read += o.data as u64;
                        if o.underrun {
                            want.underruns += 1;
                            want.silence_underrun += o.silence as u64;
                        } else if o.silence > 0 {
                            // Short without an underrun: priming (the
                            // stream never ends here).
                            assert!(o.priming, "step {step}: {o:?}");
                            want.silence_priming += o.silence as u64;
                        }
                    }
                    _ => {
                        let grant = rx.read_grant(n);
                        let release = rng.below(grant.len() / block + 1) * block;
                        if rng.below(3) > 0 {
                            want.read += grant.release(release)?.data as u64;
                        }
                    }
                }
                overruns_min += u64::from(sure);
                overruns_max += u64::from(sure || maybe);
                peak = peak.max(tx.fill() as u64);

                let c = rx.counters();
                let context = format!("{overrun:?} block {block} step {step}: {c:?}");
                let mut counted = totals(c);
                assert!(
                    (overruns_min..=overruns_max).contains(&counted.overruns),
                    "{context}: {overruns_min}..={overruns_max} overruns"
                );
                counted.overruns = 0;
                assert_eq!(counted, want, "{context}");
                // Every byte given to a write is written, dropped or held.
                let held = tx.held_partial().len() as u64;
                assert_eq!(given, c.written + c.dropped + held, "{context}");
                assert_balanced(&tx, &rx);
                // The fill is highest right after a write, where it is recorded.
                assert_eq!(c.peak_fill, peak, "{context}");
            }
            assert!(want.written > 0 && want.read > 0);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Thread bounds
// ---------------------------------------------------------------------------

fn assert_send<T: Send>() {}

#[test]
fn handles_are_send() -> Result {
    assert_send::<Producer<'static>>();
    assert_send::<Consumer<'static>>();
    assert_send::<Producer<'_>>();
    assert_send::<Consumer<'_>>();
    assert_send::<Config>();
    assert_send::<Counters>();
    assert_send::<ConfigError>();
    assert_send::<WriteError>();
    assert_send::<ReadError>();
    // Borrowed storage: both handles on other threads of a scope.
    let config = Config::raw(2, 8);
    let mut memory = vec![0u8; config.required_memory()?];
    let (mut tx, mut rx) = pcm_ring::borrowed(&config, &mut memory)?;
    std::thread::scope(|s| {
        s.spawn(move || tx.write(&[1, 2, 3, 4]).map(|o| o.written))
            .join()
            .map_err(|_| "producer panicked")
    })??;
    let read = std::thread::scope(|s| s.spawn(move || drain(&mut rx)).join());
    assert_eq!(read.map_err(|_| "consumer panicked")?, [1, 2, 3, 4]);
    Ok(())
}

#[test]
fn overwrite_keeps_the_newest_partial_block_of_a_long_stream_write() -> Result {
    let config = Config::raw(4, 8).overrun(Overrun::OverwriteOldest);
    let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    let _ = tx.write(&[0xAA; 4])?;
    // Ten bytes into a two-block ring that holds one: the trailing partial
    // block is the newest data, so it keeps a block and one whole block fits
    // beside it; the oldest buffered block and the input's first block go.
    let input = bytes(1, 10);
    assert_eq!(wo(tx.write_stream(&input)?), (4, 4, 4, 2));
    assert_eq!(tx.held_partial(), &input[8..]);
    assert_eq!(wo(tx.write_stream(&[0xB0, 0xB1])?), (4, 0, 0, 0));
    assert_eq!(drain(&mut rx), [&input[4..], &[0xB0, 0xB1][..]].concat());
    let c = rx.counters();
    assert_eq!(
        (c.written, c.dropped, c.overwritten, c.overruns),
        (12, 4, 4, 1)
    );
    assert_balanced(&tx, &rx);
    Ok(())
}
