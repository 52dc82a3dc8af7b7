//! Model-based tests: random configurations and operation sequences run on a
//! real ring and on the reference model (`support/reference.rs`), comparing
//! every byte, outcome, error and counter after every operation.
//!
//! `PROPTEST_CASES=10000 cargo test --release --test model` runs longer.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/reference.rs"]
mod reference;

use harness::{Close, Op, ProducerOp, Storage, SAMPLE_SIZES};
use pcm_ring::{Overrun, ReArm, Silence, Underrun};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use reference::Params;

/// Block sizes of real formats (mono 8-bit up to 8-channel 32-bit), and odd ones.
const BLOCKS: [usize; 10] = [1, 2, 3, 4, 6, 8, 12, 18, 24, 32];

/// Longest operation sequence.
const MAX_OPS: usize = if cfg!(miri) { 12 } else { 60 };

fn proptest_config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = if cfg!(miri) { 4 } else { cases };
    }
    // No files: the tests also run under Miri's isolation.
    config.failure_persistence = None;
    config
}

fn block_align() -> impl Strategy<Value = usize> {
    prop_oneof![select(BLOCKS.to_vec()), 1..=40usize]
}

/// Silence patterns that tile a `block`-byte frame.
fn silence(block: usize) -> BoxedStrategy<Silence> {
    let mut options = vec![Just(Silence::ZERO).boxed(), Just(Silence::U8).boxed()];
    if block % 2 == 0 {
        options.push(Just(Silence::U16_LE).boxed());
        options.push(Just(Silence::U16_BE).boxed());
    }
    if block % 3 == 0 {
        options.push(Just(Silence::U24_LE).boxed());
    }
    if block % 4 == 0 {
        options.push(Just(Silence::U32_LE).boxed());
    }
    let divisors: Vec<usize> = (1..=block.min(Silence::MAX_PATTERN))
        .filter(|d| block % d == 0)
        .collect();
    options.push(
        select(divisors)
            .prop_flat_map(|d| vec(any::<u8>(), d))
            .prop_map(|p| Silence::from_pattern(&p).expect("1..=32 bytes"))
            .boxed(),
    );
    Union::new(options).boxed()
}

fn params() -> impl Strategy<Value = Params> {
    (block_align(), 1..=16usize)
        .prop_flat_map(|(block, blocks)| {
            let capacity = block * blocks;
            let span = 2 * blocks;
            (
                Just(block),
                Just(capacity),
                prop_oneof![
                    Just(Overrun::Reject),
                    Just(Overrun::Truncate),
                    Just(Overrun::OverwriteOldest)
                ],
                prop_oneof![Just(Underrun::SilenceFill), Just(Underrun::Partial)],
                silence(block),
                prop_oneof![Just(0), 0..=capacity, Just(capacity)],
                prop_oneof![
                    Just(ReArm::Immediate),
                    (0..=capacity).prop_map(|restart_threshold| ReArm::Prime { restart_threshold })
                ],
                prop_oneof![Just(0), 0..=capacity],
                prop_oneof![
                    // Right before the positions wrap.
                    2 => (1..=3usize).prop_map(move |k| span.saturating_sub(k)),
                    1 => 0..span,
                    1 => any::<usize>(),
                ],
            )
        })
        .prop_map(
            |(
                block_align,
                capacity,
                overrun,
                underrun,
                silence,
                start_threshold,
                rearm,
                low_watermark,
                start_blocks,
            )| Params {
                block_align,
                capacity,
                overrun,
                underrun,
                silence,
                start_threshold,
                rearm,
                low_watermark,
                start_blocks,
            },
        )
}

fn storage() -> impl Strategy<Value = Storage> {
    prop_oneof![
        Just(Storage::Heap),
        (0..128usize).prop_map(|align_offset| Storage::Borrowed { align_offset }),
        Just(Storage::Static),
    ]
}

/// Operation sequences for a ring of `capacity` bytes in `block`-byte frames.
fn ops(block: usize, capacity: usize) -> impl Strategy<Value = Vec<Op>> {
    let blocks = capacity / block;
    // Mostly whole blocks (up to two more than fit), sometimes any length.
    let len = prop_oneof![
        4 => (0..=blocks + 2).prop_map(move |k| k * block),
        1 => 0..=capacity + 2 * block,
    ]
    .boxed();
    // Short pieces of a byte stream, and long ones beyond the capacity.
    let stream_len = prop_oneof![0..=2 * block + 1, 0..=2 * capacity + 2 * block].boxed();
    let close = prop_oneof![
        3 => Just(Close::All),
        2 => len.clone().prop_map(Close::Bytes),
        1 => Just(Close::Drop),
    ]
    .boxed();
    let producer_op = prop_oneof![
        3 => len.clone().prop_map(ProducerOp::Write),
        3 => stream_len.clone().prop_map(ProducerOp::WriteStream),
        2 => (len.clone(), close.clone()).prop_map(|(len, close)| ProducerOp::Grant { len, close }),
        1 => Just(ProducerOp::DiscardPartial),
        1 => Just(ProducerOp::Finish),
    ];
    let cyclic = prop_oneof![
        4 => (0..=2 * blocks).prop_map(move |k| k * block),
        1 => 0..=2 * capacity,
    ]
    .prop_flat_map(move |size| {
        let place = prop_oneof![
            4 => (0..=size / block).prop_map(move |k| k * block),
            1 => 0..=size + block,
        ];
        (Just(size), place.clone(), place)
    })
    .prop_map(|(size, offset, len)| Op::ReadCyclic { size, offset, len });
    let samples = (select(SAMPLE_SIZES.to_vec()), 0..=2 * blocks + 2);
    let op = prop_oneof![
        10 => len.clone().prop_map(Op::Write),
        14 => stream_len.prop_map(Op::WriteStream),
        3 => samples.clone().prop_map(|(size, count)| Op::WriteSamples { size, count }),
        8 => (len.clone(), close.clone(), option::weighted(0.3, len.clone()))
            .prop_map(|(len, close, read_during)| Op::Grant { len, close, read_during }),
        14 => len.clone().prop_map(Op::Read),
        3 => samples.prop_map(|(size, count)| Op::ReadSamples { size, count }),
        6 => cyclic,
        8 => (
            prop_oneof![len, any::<usize>()],
            close,
            option::weighted(0.4, producer_op)
        )
            .prop_map(|(max, close, during)| Op::ReadGrant { max, close, during }),
        2 => Just(Op::DiscardPartial),
        1 => Just(Op::Finish),
    ];
    vec(op, 0..=MAX_OPS)
}

fn scenario() -> impl Strategy<Value = (Params, Storage, Vec<Op>)> {
    params().prop_flat_map(|p| (Just(p), storage(), ops(p.block_align, p.capacity)))
}

proptest! {
    #![proptest_config(proptest_config(256))]

    /// Random valid configurations and operation sequences match the model.
    #[test]
    fn ring_matches_reference_model((params, storage, ops) in scenario()) {
        harness::run(params, storage, &ops);
    }

    /// Any configuration, valid or not, gives the model's verdict (the same
    /// typed error, or a ring that then works).
    #[test]
    fn configurations_match_reference_model(
        block_align in prop_oneof![4 => 0..=40usize, 1 => Just(pcm_ring::MAX_BLOCK_ALIGN + 1)],
        capacity in prop_oneof![4 => 0..=320usize, 1 => Just(pcm_ring::MAX_CAPACITY + 4)],
        start_threshold in 0..=340usize,
        restart in option::of(0..=340usize),
        low_watermark in 0..=340usize,
        pattern in vec(any::<u8>(), 1..=8),
        storage in storage(),
    ) {
        let silence = Silence::from_pattern(&pattern).expect("1..=8 bytes");
        let params = Params {
            silence,
            start_threshold,
            rearm: restart.map_or(ReArm::Immediate, |restart_threshold| ReArm::Prime {
                restart_threshold,
            }),
            low_watermark,
            ..Params::new(block_align, capacity)
        };
        let probe = [Op::WriteStream(3 * block_align + 1), Op::Read(block_align), Op::Read(0)];
        harness::run(params, storage, &probe);
    }
}

/// A fixed script through every wrap offset near the end of the position
/// space, for every listed block size and policy.
#[test]
fn every_block_size_across_the_wrap() {
    let blocks: &[usize] = if cfg!(miri) { &[1, 3, 12] } else { &BLOCKS };
    let capacities: &[usize] = if cfg!(miri) { &[3] } else { &[1, 3, 5, 16] };
    for &block in blocks {
        for &n in capacities {
            let capacity = block * n;
            for overrun in [Overrun::Reject, Overrun::Truncate, Overrun::OverwriteOldest] {
                for k in 0..=2 {
                    let params = Params {
                        overrun,
                        start_threshold: block,
                        rearm: ReArm::Prime {
                            restart_threshold: capacity / 2,
                        },
                        low_watermark: capacity / 2,
                        silence: if block % 2 == 0 {
                            Silence::U16_LE
                        } else {
                            Silence::U8
                        },
                        start_blocks: 2 * n - k,
                        ..Params::new(block, capacity)
                    };
                    let script = [
                        Op::WriteStream(capacity + block / 2 + 1),
                        Op::Read(2 * block),
                        Op::ReadGrant {
                            max: block,
                            close: Close::All,
                            during: Some(ProducerOp::WriteStream(capacity)),
                        },
                        Op::WriteStream(block + 1),
                        Op::Grant {
                            len: capacity,
                            close: Close::All,
                            read_during: Some(block),
                        },
                        Op::DiscardPartial,
                        Op::Grant {
                            len: capacity,
                            close: Close::All,
                            read_during: Some(block),
                        },
                        Op::ReadCyclic {
                            size: 3 * block,
                            offset: 2 * block,
                            len: 3 * block,
                        },
                        Op::Write(capacity),
                        Op::Read(capacity + block),
                        Op::Read(capacity),
                        Op::Write(2 * block),
                        Op::Read(block),
                        Op::Finish,
                        Op::Read(capacity),
                    ];
                    harness::run(params, Storage::Heap, &script);
                }
            }
        }
    }
}

/// The model itself, on a hand-worked example (so that a model that agrees
/// with a wrong ring is caught): 2-byte frames, 8-byte ring, drop newest.
#[test]
fn reference_model_hand_worked() {
    let params = Params {
        overrun: Overrun::Truncate,
        silence: Silence::U16_LE,
        ..Params::new(2, 8)
    };
    let mut m = reference::Reference::new(params);
    let out = m.write_stream(&[1, 2, 3, 4, 5]).expect("write");
    assert_eq!((out.written, out.held, m.fill(), m.free()), (4, 1, 4, 2));
    let out = m.write_stream(&[6, 7, 8, 9, 10, 11]).expect("write");
    // Completes [5, 6]; [7, 8] fits; [9, 10] and the partial 11 do not.
    assert_eq!((out.written, out.dropped, out.held), (4, 3, 0));
    // The rest of 11's frame is skipped.
    let out = m.write_stream(&[12, 13, 14]).expect("write");
    assert_eq!((out.written, out.dropped), (0, 3));
    let mut dst = [0xEE; 12];
    let got = m.read(&mut dst).expect("read");
    assert_eq!(dst, [1, 2, 3, 4, 5, 6, 7, 8, 0, 0x80, 0, 0x80]);
    assert_eq!((got.data, got.silence, got.underrun), (8, 4, true));
    let c = m.counters();
    assert_eq!(
        (c.written, c.dropped, c.read, c.silence_underrun, c.overruns),
        (8, 6, 8, 4, 2)
    );
    assert_eq!(c.peak_fill, 8);
}
