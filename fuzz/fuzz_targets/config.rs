//! Arbitrary bytes as a configuration and a storage: making a ring must give
//! exactly the typed error the reference predicts, or a ring that works
//! (checked against the reference model on a short script), and never panic.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pcm_ring::{
    Config, ConfigError, Format, Overrun, ReArm, SampleFormat, Silence, StaticRing, Underrun,
};

#[path = "../../tests/support/harness.rs"]
mod harness;
#[path = "../../tests/support/reference.rs"]
mod reference;

use harness::{Close, Harness, Op, ProducerOp, STATIC_CAPACITY};
use reference::Params;

/// Rings larger than this are only validated, not made on the heap.
const MAX_WORKING: usize = 1 << 16;

#[derive(Arbitrary, Debug)]
enum Size {
    Small(u8),
    Medium(u16),
    Wide(u32),
    Any(usize),
    /// Close to a limit: the limit, one more, or one less.
    NearBlockLimit(i8),
    NearCapacityLimit(i8),
}

impl Size {
    fn get(&self) -> usize {
        let near = |limit: usize, d: i8| limit.saturating_add_signed(isize::from(d % 2));
        match *self {
            Size::Small(v) => usize::from(v),
            Size::Medium(v) => usize::from(v),
            Size::Wide(v) => v as usize,
            Size::Any(v) => v,
            Size::NearBlockLimit(d) => near(pcm_ring::MAX_BLOCK_ALIGN, d),
            Size::NearCapacityLimit(d) => near(pcm_ring::MAX_CAPACITY, d),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum StorageChoice {
    Heap,
    Static,
    /// A buffer starting `offset` bytes past a 128-byte boundary.
    Borrowed {
        len: BufferLen,
        offset: u8,
    },
}

#[derive(Arbitrary, Debug)]
enum BufferLen {
    Exactly(Size),
    /// `Config::required_memory` bytes, plus or minus `slack`.
    NearRequired(i16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    block_align: Size,
    capacity: Size,
    start_threshold: Size,
    restart: Option<Size>,
    low_watermark: Size,
    silence: Vec<u8>,
    overrun: u8,
    partial: bool,
    start_blocks: usize,
    storage: StorageChoice,
    /// A typed configuration to check alongside: sample format, channels,
    /// capacity in frames.
    format: (u8, u16, usize),
}

/// Every sample format, to pick from.
const FORMATS: [SampleFormat; 9] = [
    SampleFormat::U8,
    SampleFormat::I8,
    SampleFormat::I16,
    SampleFormat::U16,
    SampleFormat::I24,
    SampleFormat::I32,
    SampleFormat::U32,
    SampleFormat::F32,
    SampleFormat::F64,
];

/// `Config::new` is the raw form with the format's frame size and silence,
/// or a typed error: no channels, or a capacity that overflows.
fn check_typed(&(sample, channels, frames): &(u8, u16, usize)) {
    let sample = FORMATS[usize::from(sample) % FORMATS.len()];
    let config = Config::new(Format::new(sample, channels), frames);
    let block = usize::from(channels) * sample.bytes();
    assert_eq!(config.block_align(), block);
    assert_eq!(config.silence_pattern(), sample.silence());
    let result = config.validate();
    if channels == 0 {
        assert_eq!(result, Err(ConfigError::ZeroChannels));
    } else if let Some(bytes) = frames.checked_mul(block) {
        assert_eq!(config.capacity(), bytes);
        let raw = Config::raw(block, bytes).silence(sample.silence());
        assert_eq!(result, raw.validate());
    } else {
        assert!(
            matches!(result, Err(ConfigError::CapacityTooLarge { .. })),
            "{result:?}"
        );
    }
}

/// A short script that writes, reads, grants and underruns.
fn probe(p: &Params) -> Vec<Op> {
    let (b, c) = (p.block_align, p.capacity);
    vec![
        Op::Write(b),
        Op::WriteStream(b + 1),
        Op::Read(b),
        Op::ReadGrant {
            max: c,
            close: Close::All,
            during: Some(ProducerOp::WriteStream(b - 1)),
        },
        Op::Read(2 * b),
        Op::Grant {
            len: c,
            close: Close::All,
            read_during: Some(b),
        },
        Op::ReadCyclic {
            size: 2 * b,
            offset: b,
            len: 2 * b,
        },
        Op::Finish,
        Op::Read(c),
    ]
}

fn check_error(e: ConfigError, expected: &Result<(), ConfigError>) {
    assert_eq!(Err(e), *expected, "the predicted error");
    assert!(!e.to_string().is_empty());
}

fuzz_target!(|input: Input| {
    check_typed(&input.format);
    let silence = match Silence::from_pattern(&input.silence) {
        Ok(s) => s,
        Err(e) => {
            let len = input.silence.len();
            assert!(
                len == 0 || len > Silence::MAX_PATTERN,
                "{len}-byte pattern refused"
            );
            assert_eq!(e, ConfigError::SilencePatternLength { len });
            Silence::ZERO
        }
    };
    let params = Params {
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
        start_threshold: input.start_threshold.get(),
        rearm: match &input.restart {
            None => ReArm::Immediate,
            Some(r) => ReArm::Prime {
                restart_threshold: r.get(),
            },
        },
        low_watermark: input.low_watermark.get(),
        start_blocks: input.start_blocks,
        ..Params::new(input.block_align.get(), input.capacity.get())
    };
    let config = params.config();
    let expected = params.expected_check();
    assert_eq!(config.validate(), expected);
    let required = config.required_memory();
    match required {
        Ok(needed) => assert!(needed > params.capacity),
        Err(e) => check_error(e, &expected),
    }
    let working = expected.is_ok() && params.capacity <= MAX_WORKING;

    match input.storage {
        StorageChoice::Heap => {
            if expected.is_err() || working {
                match pcm_ring::heap(&config) {
                    Ok((tx, rx)) => Harness::new(params, tx, rx).run(&probe(&params)),
                    Err(e) => check_error(e, &expected),
                }
            }
        }
        StorageChoice::Static => {
            let mut ring = Box::new(StaticRing::<STATIC_CAPACITY>::new());
            let split = ring.split(&config);
            match split {
                Ok((tx, rx)) => Harness::new(params, tx, rx).run(&probe(&params)),
                Err(e) if expected.is_ok() => {
                    assert!(params.capacity > STATIC_CAPACITY);
                    assert_eq!(
                        e,
                        ConfigError::BufferTooSmall {
                            needed: params.capacity,
                            available: STATIC_CAPACITY,
                        }
                    );
                }
                Err(e) => check_error(e, &expected),
            }
        }
        StorageChoice::Borrowed { len, offset } => {
            let len = match len {
                BufferLen::Exactly(size) => size.get(),
                BufferLen::NearRequired(slack) => required
                    .unwrap_or(0)
                    .saturating_add_signed(isize::from(slack)),
            };
            // Never allocate more than a working ring needs.
            let limit = match required {
                Ok(needed) if working => needed + 4096,
                _ => MAX_WORKING,
            };
            let len = len.min(limit);
            let mut memory = vec![0u8; len + 128];
            let base = memory.as_ptr() as usize;
            let start = (usize::from(offset) % 128 + 128 - base % 128) % 128;
            let slice = &mut memory[start..start + len];
            let outcome = (pcm_ring::borrowed(&config, slice), required);
            match outcome {
                (Ok((tx, rx)), Ok(_)) => {
                    assert!(len >= params.capacity, "{len} bytes cannot hold the data");
                    Harness::new(params, tx, rx).run(&probe(&params));
                }
                (Ok(_), Err(e)) => panic!("a ring from an invalid configuration: {e}"),
                (Err(e), Ok(needed)) => {
                    assert!(len < needed, "{len} >= required {needed} bytes was refused");
                    assert_eq!(
                        e,
                        ConfigError::BufferTooSmall {
                            needed,
                            available: len,
                        }
                    );
                }
                (Err(e), Err(_)) => check_error(e, &expected),
            }
        }
    }
});
