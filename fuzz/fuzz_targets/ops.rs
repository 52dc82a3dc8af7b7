//! An arbitrary configuration and operation sequence, run on a real ring and
//! on the reference model, comparing every byte, outcome, error and counter
//! after every operation (the same harness as `tests/model.rs`).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pcm_ring::{Overrun, ReArm, Silence, Underrun};

#[path = "../../tests/support/harness.rs"]
mod harness;
#[path = "../../tests/support/reference.rs"]
mod reference;

use harness::{Close, Op, ProducerOp, Storage, SAMPLE_SIZES};
use reference::Params;

/// Operations per input, to keep each run short.
const MAX_OPS: usize = 256;

#[derive(Arbitrary, Debug)]
struct Input {
    block: u8,
    blocks: u8,
    overrun: u8,
    partial: bool,
    silence: SilenceChoice,
    start_threshold: u16,
    restart: Option<u16>,
    low_watermark: u16,
    start: Start,
    storage: StorageChoice,
    ops: Vec<FuzzOp>,
}

#[derive(Arbitrary, Debug)]
enum SilenceChoice {
    Zero,
    U8,
    U16Le,
    U24Le,
    Custom(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Start {
    /// This many blocks before the positions wrap.
    NearWrap(u8),
    Any(usize),
}

#[derive(Arbitrary, Debug)]
enum StorageChoice {
    Heap,
    Borrowed(u8),
    Static,
}

/// Lengths: an even raw value counts whole blocks, an odd one bytes.
#[derive(Arbitrary, Debug)]
enum FuzzOp {
    Write(u16),
    WriteStream(u16),
    WriteSamples(u8, u8),
    Grant(u16, FuzzClose, Option<u16>),
    Read(u16),
    ReadSamples(u8, u8),
    ReadCyclic(u16, u16, u16),
    ReadGrant(u16, FuzzClose, Option<FuzzProducerOp>),
    DiscardPartial,
    Finish,
}

#[derive(Arbitrary, Debug)]
enum FuzzClose {
    All,
    Bytes(u16),
    Drop,
}

#[derive(Arbitrary, Debug)]
enum FuzzProducerOp {
    Write(u16),
    WriteStream(u16),
    Grant(u16, FuzzClose),
    DiscardPartial,
    Finish,
}

/// Maps raw lengths onto the interesting range of one ring.
struct Shape {
    block: usize,
    capacity: usize,
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

    fn close(&self, c: &FuzzClose) -> Close {
        match c {
            FuzzClose::All => Close::All,
            FuzzClose::Bytes(raw) => Close::Bytes(self.len(*raw)),
            FuzzClose::Drop => Close::Drop,
        }
    }

    fn producer_op(&self, op: &FuzzProducerOp) -> ProducerOp {
        match op {
            FuzzProducerOp::Write(raw) => ProducerOp::Write(self.len(*raw)),
            FuzzProducerOp::WriteStream(raw) => ProducerOp::WriteStream(self.len(*raw)),
            FuzzProducerOp::Grant(raw, close) => ProducerOp::Grant {
                len: self.len(*raw),
                close: self.close(close),
            },
            FuzzProducerOp::DiscardPartial => ProducerOp::DiscardPartial,
            FuzzProducerOp::Finish => ProducerOp::Finish,
        }
    }

    fn op(&self, op: &FuzzOp) -> Op {
        let samples = |size: u8, count: u8| {
            (
                SAMPLE_SIZES[usize::from(size) % SAMPLE_SIZES.len()],
                usize::from(count) % (2 * self.capacity / self.block + 3),
            )
        };
        match op {
            FuzzOp::Write(raw) => Op::Write(self.len(*raw)),
            FuzzOp::WriteStream(raw) => Op::WriteStream(self.len(*raw)),
            FuzzOp::WriteSamples(size, count) => {
                let (size, count) = samples(*size, *count);
                Op::WriteSamples { size, count }
            }
            FuzzOp::Grant(raw, close, during) => Op::Grant {
                len: self.len(*raw),
                close: self.close(close),
                read_during: during.map(|raw| self.len(raw)),
            },
            FuzzOp::Read(raw) => Op::Read(self.len(*raw)),
            FuzzOp::ReadSamples(size, count) => {
                let (size, count) = samples(*size, *count);
                Op::ReadSamples { size, count }
            }
            FuzzOp::ReadCyclic(size, offset, len) => {
                let size = self.len(*size);
                Op::ReadCyclic {
                    size,
                    offset: self.within(*offset, size + self.block),
                    len: self.within(*len, size + self.block),
                }
            }
            FuzzOp::ReadGrant(max, close, during) => Op::ReadGrant {
                max: if *max == u16::MAX {
                    usize::MAX
                } else {
                    self.len(*max)
                },
                close: self.close(close),
                during: during.as_ref().map(|p| self.producer_op(p)),
            },
            FuzzOp::DiscardPartial => Op::DiscardPartial,
            FuzzOp::Finish => Op::Finish,
        }
    }
}

/// The largest divisor of `block` that is at most `max` (at least 1).
fn divisor_at_most(block: usize, max: usize) -> usize {
    (1..=max.min(block))
        .rev()
        .find(|d| block % d == 0)
        .unwrap_or(1)
}

fn params(input: &Input) -> Params {
    let block = 1 + usize::from(input.block) % 64;
    let blocks = 1 + usize::from(input.blocks) % 16;
    let capacity = block * blocks;
    let span = 2 * blocks;
    let silence = match &input.silence {
        SilenceChoice::Zero => Silence::ZERO,
        SilenceChoice::U8 => Silence::U8,
        SilenceChoice::U16Le if block % 2 == 0 => Silence::U16_LE,
        SilenceChoice::U24Le if block % 3 == 0 => Silence::U24_LE,
        SilenceChoice::Custom(bytes) if !bytes.is_empty() => {
            let len = divisor_at_most(block, bytes.len().min(Silence::MAX_PATTERN));
            Silence::from_pattern(&bytes[..len]).expect("1..=32 bytes")
        }
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
        start_blocks: match input.start {
            Start::NearWrap(k) => span.saturating_sub(usize::from(k) % 4),
            Start::Any(n) => n,
        },
    }
}

fuzz_target!(|input: Input| {
    let params = params(&input);
    let shape = Shape {
        block: params.block_align,
        capacity: params.capacity,
    };
    let ops: Vec<Op> = input
        .ops
        .iter()
        .take(MAX_OPS)
        .map(|op| shape.op(op))
        .collect();
    let storage = match input.storage {
        StorageChoice::Heap => Storage::Heap,
        StorageChoice::Borrowed(offset) => Storage::Borrowed {
            align_offset: usize::from(offset),
        },
        StorageChoice::Static => Storage::Static,
    };
    harness::run(params, storage, &ops);
});
