//! A stream of sequence-numbered frames, cut at arbitrary points into
//! `write_stream` calls interleaved with reads.
//!
//! - Lossless (`Reject` with retries, or a ring that holds the whole stream):
//!   the bytes read back are exactly the stream.
//! - `Truncate` and `OverwriteOldest` on a small ring: every frame read back
//!   is a whole frame that was sent, in increasing order, and if the counters
//!   show no loss the stream came back exactly.
//!
//! In every mode the counters account for every byte.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pcm_ring::{Config, Consumer, Overrun, Producer, Underrun, WriteError};

/// Frames per input, to keep each run short.
const MAX_FRAMES: usize = 600;

#[derive(Arbitrary, Debug)]
struct Input {
    block: u8,
    blocks: u8,
    mode: u8,
    partial_reads: bool,
    frames: u16,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Step {
    /// Write the next this-many bytes of the stream.
    Write(u16),
    /// A copying read of this many blocks.
    Read(u8),
    /// A read grant of up to this many blocks, released whole.
    Grant(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `Reject`: retry after draining, or with a shorter piece.
    RejectRetry,
    /// Any policy, on a ring that holds the whole stream.
    LargeRing(Overrun),
    /// A small ring that drops data.
    Lossy(Overrun),
}

/// Frame `k`: its sequence number in the first (up to) four bytes, little
/// endian, then bytes that depend on both `k` and their index.
fn frame(k: usize, block: usize) -> Vec<u8> {
    let seq = (k as u32).to_le_bytes();
    (0..block)
        .map(|i| match seq.get(i) {
            Some(&b) => b,
            None => ((k.wrapping_mul(0x9E37) ^ i.wrapping_mul(0x85EB)) >> 3) as u8 ^ i as u8,
        })
        .collect()
}

/// Everything one run reads.
struct Reader<'c, 'a> {
    rx: &'c mut Consumer<'a>,
    partial: bool,
    block: usize,
    received: Vec<u8>,
}

impl Reader<'_, '_> {
    fn read(&mut self, blocks: usize) {
        let mut dst = vec![0xA5u8; blocks * self.block];
        let out = self.rx.read(&mut dst).expect("whole blocks");
        assert_eq!(out.data % self.block, 0, "partial block delivered");
        if !self.partial {
            assert_eq!(out.data + out.silence, dst.len(), "silence-filled read");
        }
        self.received.extend_from_slice(&dst[..out.data]);
    }

    fn grant(&mut self, blocks: usize) {
        let grant = self.rx.read_grant(blocks * self.block);
        assert_eq!(grant.len() % self.block, 0, "partial block granted");
        let (a, b) = grant.as_slices();
        self.received.extend_from_slice(a);
        self.received.extend_from_slice(b);
        let len = grant.len();
        let out = grant.release(len).expect("release the grant");
        assert_eq!(out.data, len);
    }

    fn drain(&mut self) {
        let available = self.rx.available();
        self.read(available / self.block);
    }
}

/// Refusals by `Reject` (each counts one overrun and drops nothing: the
/// piece is sent again).
#[derive(Default)]
struct Refused {
    times: u64,
}

/// Writes `piece` (all of it: `Reject` retries after draining the ring, or
/// with a shorter piece when even an empty ring refuses it). Returns the
/// bytes written.
fn send(
    tx: &mut Producer<'_>,
    reader: &mut Reader<'_, '_>,
    piece: &[u8],
    mode: Mode,
    refused: &mut Refused,
) -> usize {
    let mut sent = 0;
    let mut len = piece.len();
    while sent < piece.len() {
        len = len.min(piece.len() - sent);
        match tx.write_stream(&piece[sent..sent + len]) {
            Ok(_) => sent += len,
            Err(WriteError::Full { .. }) => {
                assert_eq!(mode, Mode::RejectRetry, "only Reject refuses");
                refused.times += 1;
                if reader.rx.available() > 0 {
                    reader.drain();
                } else {
                    // The ring is empty: the piece is too long for it.
                    assert!(len > 1, "a ring refused one byte while empty");
                    len /= 2;
                }
            }
            Err(e) => panic!("write_stream: {e}"),
        }
    }
    sent
}

fuzz_target!(|input: Input| {
    let block = 1 + usize::from(input.block) % 48;
    let frames = usize::from(input.frames) % (MAX_FRAMES + 1);
    let total = frames * block;
    let policy = |m: u8| match m % 3 {
        0 => Overrun::Reject,
        1 => Overrun::Truncate,
        _ => Overrun::OverwriteOldest,
    };
    let mode = match input.mode % 4 {
        0 => Mode::RejectRetry,
        1 => Mode::LargeRing(policy(input.mode / 4)),
        2 => Mode::Lossy(Overrun::Truncate),
        _ => Mode::Lossy(Overrun::OverwriteOldest),
    };
    let (overrun, capacity) = match mode {
        Mode::RejectRetry => (Overrun::Reject, block * (1 + usize::from(input.blocks) % 8)),
        // One block more than the stream, so a held partial block fits too.
        Mode::LargeRing(overrun) => (overrun, total + block),
        Mode::Lossy(overrun) => (overrun, block * (1 + usize::from(input.blocks) % 8)),
    };
    let underrun = if input.partial_reads {
        Underrun::Partial
    } else {
        Underrun::SilenceFill
    };
    let config = Config::raw(block, capacity)
        .overrun(overrun)
        .underrun(underrun);
    let (mut tx, mut rx) = pcm_ring::heap(&config).expect("valid configuration");
    let stream: Vec<u8> = (0..frames).flat_map(|k| frame(k, block)).collect();
    let mut reader = Reader {
        rx: &mut rx,
        partial: input.partial_reads,
        block,
        received: Vec::new(),
    };

    let mut sent = 0;
    let steps: &[Step] = if input.steps.is_empty() {
        &[Step::Write(u16::MAX)]
    } else {
        &input.steps
    };
    let mut refused = Refused::default();
    let mut idle_rounds = 0;
    while sent < total {
        let before = sent;
        for &step in steps {
            match step {
                Step::Write(n) => {
                    let piece = usize::from(n).min(total - sent);
                    sent += send(
                        &mut tx,
                        &mut reader,
                        &stream[sent..sent + piece],
                        mode,
                        &mut refused,
                    );
                }
                Step::Read(blocks) => reader.read(usize::from(blocks)),
                Step::Grant(blocks) => reader.grant(usize::from(blocks)),
            }
        }
        if sent == before {
            idle_rounds += 1;
            if idle_rounds > 1 {
                // The steps write nothing: send the rest in one piece.
                sent += send(&mut tx, &mut reader, &stream[sent..], mode, &mut refused);
            }
        }
    }
    assert_eq!(
        tx.held_partial(),
        &[] as &[u8],
        "the stream ends on a frame"
    );
    assert_eq!(tx.finish(), 0, "nothing held at the end");
    reader.drain();
    let received = std::mem::take(&mut reader.received);
    assert!(rx.is_end_of_stream(), "drained");

    let c = rx.counters();
    assert_eq!(
        c.written,
        c.read + c.overwritten,
        "written = read + overwritten"
    );
    assert_eq!(c.read, received.len() as u64, "read counter");
    assert_eq!(
        c.written + c.dropped,
        total as u64,
        "every byte accounted for (a refused piece drops nothing and is sent again)"
    );
    if mode == Mode::RejectRetry {
        assert_eq!(
            (c.overruns, c.refused),
            (0, refused.times),
            "a refusal is counted as refused, not as an overrun"
        );
    }

    let lossless = matches!(mode, Mode::RejectRetry | Mode::LargeRing(_));
    if lossless || (c.dropped == 0 && c.overwritten == 0) {
        assert_eq!(c.overwritten, 0);
        assert_eq!(received.len(), stream.len(), "lossless: length");
        assert!(
            received == stream,
            "lossless: the stream comes back exactly"
        );
        return;
    }
    // Lossy: whole sent frames, in increasing order (a subsequence).
    let seq_bytes = block.min(4);
    let modulus = 1u64 << (8 * seq_bytes);
    let mut next = 0u64;
    for got in received.chunks(block) {
        let mut low = [0u8; 8];
        low[..seq_bytes].copy_from_slice(&got[..seq_bytes]);
        let low = u64::from_le_bytes(low);
        // The first frame at or after `next` with these sequence bytes.
        let k = next + (low + modulus - next % modulus) % modulus;
        assert!(
            k < frames as u64,
            "frame {got:?} was not sent after frame {next}"
        );
        assert!(
            got == frame(k as usize, block).as_slice(),
            "frame {k} came back torn or shifted: {got:?}"
        );
        next = k + 1;
    }
});
