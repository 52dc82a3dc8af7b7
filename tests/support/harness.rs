//! Drives a real ring and the reference model side by side and compares
//! everything observable after every operation: bytes delivered (data and
//! silence, and bytes left untouched), outcomes, errors, counters, fill,
//! free space, held partial block, priming state and end of stream.
//!
//! Written data comes from a running counter, so a shift by any part of a
//! block shows up as different bytes. Included by the model tests and by the
//! fuzz crate (`#[path]`), next to `reference.rs`.

#![allow(dead_code)]

use pcm_ring::{Consumer, Producer, StaticRing};

use super::reference::{Params, Reference};

/// Data capacity of the [`Storage::Static`] ring.
pub const STATIC_CAPACITY: usize = 4096;

/// Where the ring under test lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    Heap,
    /// Caller memory whose first byte sits `align_offset` bytes past a
    /// 128-byte boundary, exactly `Config::required_memory` bytes long.
    Borrowed {
        align_offset: usize,
    },
    /// A `StaticRing<STATIC_CAPACITY>` (boxed, to keep the stack small).
    Static,
}

/// How a grant ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// Commit or release everything granted.
    All,
    /// Commit or release this many bytes (possibly misaligned or too many).
    Bytes(usize),
    /// Drop the grant.
    Drop,
}

/// A producer operation that may run while a read grant is held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerOp {
    Write(usize),
    WriteStream(usize),
    Grant { len: usize, close: Close },
    DiscardPartial,
    Finish,
}

/// One step of a test. Lengths are in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Write(usize),
    WriteStream(usize),
    /// `count` samples of a `size`-byte type (0, 1, 2, 3, 4, 6 or 8).
    WriteSamples {
        size: usize,
        count: usize,
    },
    /// A write grant, optionally with a copying read while it is held.
    Grant {
        len: usize,
        close: Close,
        read_during: Option<usize>,
    },
    Read(usize),
    ReadSamples {
        size: usize,
        count: usize,
    },
    ReadCyclic {
        size: usize,
        offset: usize,
        len: usize,
    },
    /// A read grant, optionally with a producer operation while it is held.
    ReadGrant {
        max: usize,
        close: Close,
        during: Option<ProducerOp>,
    },
    DiscardPartial,
    Finish,
}

/// Sample types for the typed reads and writes, by size: `N` bytes of a
/// sample the ring does not interpret (the model's rings are raw).
#[derive(Clone, Copy)]
#[repr(transparent)]
struct Bytes<const N: usize>([u8; N]);
// SAFETY: a transparent byte array: no padding, any bit pattern is valid.
unsafe impl<const N: usize> bytemuck::Zeroable for Bytes<N> {}
// SAFETY: as above.
unsafe impl<const N: usize> bytemuck::Pod for Bytes<N> {}
impl<const N: usize> pcm_ring::Sample for Bytes<N> {
    const FORMAT: pcm_ring::SampleFormat = pcm_ring::SampleFormat::U8;
}

trait Sample: Copy {
    const SIZE: usize;
    fn from_bytes(bytes: &[u8]) -> Self;
    fn put_bytes(self, out: &mut Vec<u8>);
}

impl<const N: usize> Sample for Bytes<N> {
    const SIZE: usize = N;
    fn from_bytes(bytes: &[u8]) -> Self {
        Bytes(bytes.try_into().expect("sample size"))
    }
    fn put_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

/// Runs `$body` with `$t` bound to the sample type of `$size` bytes.
macro_rules! with_sample_type {
    ($size:expr, $t:ident => $body:block) => {
        match $size {
            0 => {
                type $t = Bytes<0>;
                $body
            }
            1 => {
                type $t = Bytes<1>;
                $body
            }
            2 => {
                type $t = Bytes<2>;
                $body
            }
            3 => {
                type $t = Bytes<3>;
                $body
            }
            4 => {
                type $t = Bytes<4>;
                $body
            }
            6 => {
                type $t = Bytes<6>;
                $body
            }
            _ => {
                type $t = Bytes<8>;
                $body
            }
        }
    };
}

/// The sample sizes [`Op::WriteSamples`] and [`Op::ReadSamples`] support.
pub const SAMPLE_SIZES: [usize; 7] = [0, 1, 2, 3, 4, 6, 8];

fn samples_from<T: Sample>(bytes: &[u8], count: usize) -> Vec<T> {
    (0..count)
        .map(|i| T::from_bytes(&bytes[i * T::SIZE..(i + 1) * T::SIZE]))
        .collect()
}

fn bytes_of<T: Sample>(samples: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * T::SIZE);
    for &s in samples {
        s.put_bytes(&mut out);
    }
    out
}

/// Distinct-looking data: a running counter, folded so that neighbouring
/// bytes and bytes 256 apart differ.
#[derive(Debug, Default)]
pub struct Gen(u64);

impl Gen {
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
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

/// Makes the ring `params` describes in `storage`, checks that it is made
/// exactly when the model says the configuration is valid (with the same
/// error otherwise), and runs `ops` on it against the model; then drops the
/// producer and drains the consumer.
pub fn run(params: Params, storage: Storage, ops: &[Op]) {
    let config = params.config();
    let expected = params.expected_check();
    assert_eq!(config.validate(), expected, "validate {params:?}");
    match storage {
        Storage::Heap => match pcm_ring::heap(&config) {
            Ok((tx, rx)) => Harness::new(params, tx, rx).run(ops),
            Err(e) => assert_eq!(Err(e), expected, "heap {params:?}"),
        },
        Storage::Borrowed { align_offset } => {
            let needed = match config.required_memory() {
                Ok(needed) => needed,
                Err(e) => return assert_eq!(Err(e), expected, "required_memory"),
            };
            let mut memory = vec![0u8; needed + 256];
            let base = memory.as_ptr() as usize;
            let start = (align_offset % 128 + 128 - base % 128) % 128;
            let slice = &mut memory[start..start + needed];
            let ring = pcm_ring::borrowed(&config, slice);
            match ring {
                Ok((tx, rx)) => Harness::new(params, tx, rx).run(ops),
                Err(e) => assert_eq!(Err(e), expected, "borrowed {params:?}"),
            }
        }
        Storage::Static => {
            let mut ring = Box::new(StaticRing::<STATIC_CAPACITY>::new());
            let split = ring.split(&config);
            match split {
                Ok((tx, rx)) => {
                    assert!(params.capacity <= STATIC_CAPACITY);
                    Harness::new(params, tx, rx).run(ops)
                }
                Err(e) if expected.is_ok() => assert_eq!(
                    e,
                    pcm_ring::ConfigError::BufferTooSmall {
                        needed: params.capacity,
                        available: STATIC_CAPACITY
                    }
                ),
                Err(e) => assert_eq!(Err(e), expected, "static {params:?}"),
            }
        }
    }
}

/// A real ring and its model.
pub struct Harness<'a> {
    model: Reference,
    tx: Producer<'a>,
    rx: Consumer<'a>,
    gen: Gen,
}

impl<'a> Harness<'a> {
    pub fn new(params: Params, tx: Producer<'a>, rx: Consumer<'a>) -> Self {
        assert_eq!(
            (tx.capacity(), tx.block_align()),
            (params.capacity, params.block_align)
        );
        assert_eq!(
            (rx.capacity(), rx.block_align()),
            (params.capacity, params.block_align)
        );
        let h = Harness {
            model: Reference::new(params),
            tx,
            rx,
            gen: Gen::default(),
        };
        h.check(usize::MAX, None);
        h
    }

    /// Applies every operation, checking after each; then closes.
    pub fn run(mut self, ops: &[Op]) {
        for (step, op) in ops.iter().enumerate() {
            self.apply(step, op);
            self.check(step, Some(op));
        }
        self.close();
    }

    pub fn apply(&mut self, step: usize, op: &Op) {
        let Harness { model, tx, rx, gen } = self;
        let ctx = Ctx { step, op };
        match op {
            Op::Write(len) => producer_op(tx, model, gen, &ProducerOp::Write(*len), &ctx),
            Op::WriteStream(len) => {
                producer_op(tx, model, gen, &ProducerOp::WriteStream(*len), &ctx)
            }
            Op::WriteSamples { size, count } => {
                let bytes = gen.bytes(size * count);
                let real = with_sample_type!(*size, T => {
                    tx.write_samples(&samples_from::<T>(&bytes, *count))
                });
                let expected = model.write_samples(*size, &bytes);
                assert_eq!(real, expected, "{ctx}");
            }
            Op::Grant {
                len,
                close,
                read_during,
            } => write_grant(tx, Some(rx), model, gen, *len, *close, *read_during, &ctx),
            Op::Read(len) => read(rx, model, *len, &ctx),
            Op::ReadSamples { size, count } => {
                let init = sentinel(size * count);
                let (real, got) = with_sample_type!(*size, T => {
                    let mut dst = samples_from::<T>(&init, *count);
                    let real = rx.read_samples(&mut dst);
                    (real, bytes_of(&dst))
                });
                let mut expected_bytes = init.clone();
                let expected = model.read_samples(*size, &mut expected_bytes);
                assert_eq!(real, expected, "{ctx}");
                assert_eq!(got, expected_bytes, "{ctx}: bytes read");
                if let Ok(out) = real {
                    whole_blocks(model, out.data + out.silence, &ctx);
                }
            }
            Op::ReadCyclic { size, offset, len } => {
                let mut dst = sentinel(*size);
                let mut expected_dst = dst.clone();
                let real = rx.read_cyclic(&mut dst, *offset, *len);
                let expected = model.read_cyclic(&mut expected_dst, *offset, *len);
                assert_eq!(real, expected, "{ctx}");
                assert_eq!(dst, expected_dst, "{ctx}: cyclic destination");
                if let Ok(out) = real {
                    whole_blocks(model, out.data + out.silence, &ctx);
                }
            }
            Op::ReadGrant { max, close, during } => {
                let grant = rx.read_grant(*max);
                let expected = model.read_grant(*max);
                let (a, b) = grant.as_slices();
                assert_eq!(
                    (grant.len(), a.len(), [a, b].concat()),
                    (expected.len, expected.first, expected.data.clone()),
                    "{ctx}: read grant (len, first slice, data)"
                );
                assert_eq!(grant.is_empty(), expected.len == 0, "{ctx}: is_empty");
                whole_blocks(model, grant.len(), &ctx);
                if let Some(p) = during {
                    producer_op(tx, model, gen, p, &ctx);
                    check_producer(tx, model, &ctx);
                    // Whatever the producer did, the granted data stays intact.
                    let (a, b) = grant.as_slices();
                    assert_eq!([a, b].concat(), expected.data, "{ctx}: grant data kept");
                }
                let len = match close {
                    Close::All => grant.len(),
                    Close::Bytes(n) => *n,
                    Close::Drop => {
                        drop(grant);
                        model.drop_read_grant(expected);
                        return;
                    }
                };
                let real = grant.release(len);
                let expected = model.release(expected, len);
                assert_eq!(real, expected, "{ctx}: release {len}");
            }
            Op::DiscardPartial => producer_op(tx, model, gen, &ProducerOp::DiscardPartial, &ctx),
            Op::Finish => producer_op(tx, model, gen, &ProducerOp::Finish, &ctx),
        }
    }

    /// Compares the whole observable state of both handles with the model.
    pub fn check(&self, step: usize, op: Option<&Op>) {
        let ctx = Ctx {
            step,
            op: op.unwrap_or(&Op::DiscardPartial),
        };
        check_producer(&self.tx, &self.model, &ctx);
        check_consumer(&self.rx, &self.model, &ctx);
    }

    /// Drops the producer (which finishes the stream), then drains.
    pub fn close(self) {
        let Harness {
            mut model,
            tx,
            mut rx,
            ..
        } = self;
        drop(tx);
        model.finish();
        let ctx = Ctx {
            step: usize::MAX,
            op: &Op::Finish,
        };
        check_consumer(&rx, &model, &ctx);
        let capacity = model.params().capacity;
        read(&mut rx, &mut model, capacity, &ctx);
        check_consumer(&rx, &model, &ctx);
        assert!(
            rx.is_end_of_stream(),
            "drained after the producer was dropped"
        );
        // After the end, reads are silence (or nothing).
        let block = model.params().block_align;
        read(&mut rx, &mut model, block, &ctx);
        check_consumer(&rx, &model, &ctx);
    }
}

/// Where a failure happened.
struct Ctx<'o> {
    step: usize,
    op: &'o Op,
}

impl std::fmt::Display for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {}: {:?}", self.step, self.op)
    }
}

fn whole_blocks(model: &Reference, len: usize, ctx: &Ctx<'_>) {
    assert_eq!(
        len % model.params().block_align,
        0,
        "{ctx}: the consumer saw a partial block"
    );
}

fn check_producer(tx: &Producer<'_>, model: &Reference, ctx: &Ctx<'_>) {
    model.check_invariants();
    let p = model.params();
    assert_eq!(
        tx.counters(),
        model.counters(),
        "{ctx}: counters (producer)"
    );
    assert_eq!(
        (tx.fill(), tx.free(), tx.held_partial(), tx.is_finished()),
        (
            model.fill(),
            model.free(),
            model.held_partial(),
            model.is_finished()
        ),
        "{ctx}: producer (fill, free, held, finished)"
    );
    let fill = model.fill();
    for target in [
        0,
        1,
        p.block_align,
        p.low_watermark,
        p.start_threshold,
        p.capacity / 2,
        p.capacity,
        p.capacity + 1,
        fill + 1,
        fill + p.block_align + 1,
        usize::MAX,
    ] {
        assert_eq!(
            tx.bytes_to_reach(target),
            model.bytes_to_reach(target),
            "{ctx}: bytes_to_reach({target})"
        );
    }
}

fn check_consumer(rx: &Consumer<'_>, model: &Reference, ctx: &Ctx<'_>) {
    model.check_invariants();
    assert_eq!(
        rx.counters(),
        model.counters(),
        "{ctx}: counters (consumer)"
    );
    assert_eq!(
        (rx.available(), rx.is_streaming(), rx.is_end_of_stream()),
        (model.fill(), model.is_streaming(), model.is_end_of_stream()),
        "{ctx}: consumer (available, streaming, end of stream)"
    );
    whole_blocks(model, rx.available(), ctx);
}

fn read(rx: &mut Consumer<'_>, model: &mut Reference, len: usize, ctx: &Ctx<'_>) {
    let mut dst = sentinel(len);
    let mut expected_dst = dst.clone();
    let real = rx.read(&mut dst);
    let expected = model.read(&mut expected_dst);
    assert_eq!(real, expected, "{ctx}: read {len}");
    assert_eq!(dst, expected_dst, "{ctx}: bytes read");
    if let Ok(out) = real {
        whole_blocks(model, out.data, ctx);
        whole_blocks(model, out.silence, ctx);
    }
}

fn producer_op(
    tx: &mut Producer<'_>,
    model: &mut Reference,
    gen: &mut Gen,
    op: &ProducerOp,
    ctx: &Ctx<'_>,
) {
    match op {
        ProducerOp::Write(len) => {
            let src = gen.bytes(*len);
            assert_eq!(tx.write(&src), model.write(&src), "{ctx}: write");
        }
        ProducerOp::WriteStream(len) => {
            let src = gen.bytes(*len);
            assert_eq!(
                tx.write_stream(&src),
                model.write_stream(&src),
                "{ctx}: write_stream"
            );
        }
        ProducerOp::Grant { len, close } => {
            write_grant(tx, None, model, gen, *len, *close, None, ctx)
        }
        ProducerOp::DiscardPartial => {
            assert_eq!(tx.discard_partial(), model.discard_partial(), "{ctx}");
        }
        ProducerOp::Finish => assert_eq!(tx.finish(), model.finish(), "{ctx}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn write_grant(
    tx: &mut Producer<'_>,
    rx: Option<&mut Consumer<'_>>,
    model: &mut Reference,
    gen: &mut Gen,
    len: usize,
    close: Close,
    read_during: Option<usize>,
    ctx: &Ctx<'_>,
) {
    let (mut grant, expected) = match (tx.grant(len), model.grant(len)) {
        (Ok(grant), Ok(expected)) => (grant, expected),
        (Err(e), Err(m)) => return assert_eq!(e, m, "{ctx}: grant error"),
        (real, expected) => panic!(
            "{ctx}: grant: real {:?}, model {expected:?}",
            real.map(|g| g.len())
        ),
    };
    assert_eq!(grant.len(), expected.len, "{ctx}: granted");
    assert_eq!(grant.is_empty(), expected.len == 0, "{ctx}: is_empty");
    let contents = gen.bytes(expected.len);
    let (a, b) = grant.as_mut_slices();
    assert_eq!(
        (a.len(), a.len() + b.len()),
        (expected.first, expected.len),
        "{ctx}: grant slices"
    );
    let (ca, cb) = contents.split_at(a.len());
    a.copy_from_slice(ca);
    b.copy_from_slice(cb);
    if let (Some(rx), Some(n)) = (rx, read_during) {
        read(rx, model, n, ctx);
        check_consumer(rx, model, ctx);
    }
    let n = match close {
        Close::All => expected.len,
        Close::Bytes(n) => n,
        // Dropping a write grant commits nothing.
        Close::Drop => return,
    };
    let real = grant.commit(n);
    assert_eq!(
        real,
        model.commit(&expected, &contents, n),
        "{ctx}: commit {n}"
    );
}
