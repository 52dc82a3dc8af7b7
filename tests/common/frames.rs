//! Sequence-numbered frames.
//!
//! Frame `seq` of a stream of `block`-byte frames is encoded as:
//!
//! - `block == 1`: the low 8 bits of `seq` (a 1-byte frame cannot tear or
//!   shift);
//! - `block` 2 to 7: the low `8 * (block - 1)` bits of `seq`, little-endian,
//!   then a check byte derived from them, so that a frame made of the bytes of
//!   two frames, or shifted by part of a frame, fails the check (each such
//!   frame with probability 255/256, so a shifted stream fails at once);
//! - `block >= 8`: `seq` as a little-endian `u64`, then check bytes derived
//!   from it.
//!
//! Small frames carry `seq` modulo [`modulus`]; the [`Checker`] recovers the
//! full number from the last frame it saw, which is exact while fewer than
//! `modulus` frames lie between two frames it sees. The harness keeps the
//! producer's lead over the consumer below a quarter of the modulus.

/// How many distinct sequence numbers a frame of `block` bytes carries, or
/// `None` if it carries the whole `u64`.
pub fn modulus(block: usize) -> Option<u64> {
    match block {
        1 => Some(1 << 8),
        2..=7 => Some(1 << (8 * (block - 1))),
        _ => None,
    }
}

/// A cheap 64-bit mix (multiply and fold), good enough to make check bytes
/// depend on every bit of their input.
#[inline]
fn mix(x: u64) -> u64 {
    let h = (x ^ 0x5851_F42D_4C95_7F2D).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

#[inline]
fn check_byte(residue: u64) -> u8 {
    (mix(residue) >> 56) as u8
}

/// The check byte at index `i >= 8` of a large frame.
#[inline]
fn large_check(hash: u64, i: usize) -> u8 {
    (hash >> (8 * (i % 8))) as u8 ^ (i as u8)
}

/// Writes frame `seq` into `out` (`out.len() == block`).
pub fn encode_frame(seq: u64, out: &mut [u8]) {
    let block = out.len();
    match modulus(block) {
        Some(_) if block == 1 => out[0] = seq as u8,
        Some(m) => {
            let residue = seq & (m - 1);
            out[..block - 1].copy_from_slice(&residue.to_le_bytes()[..block - 1]);
            out[block - 1] = check_byte(residue);
        }
        None => {
            out[..8].copy_from_slice(&seq.to_le_bytes());
            let hash = mix(seq);
            for (i, byte) in out.iter_mut().enumerate().skip(8) {
                *byte = large_check(hash, i);
            }
        }
    }
}

/// Replaces `out` with `count` frames starting at `first`.
pub fn encode_frames(block: usize, first: u64, count: usize, out: &mut Vec<u8>) {
    out.clear();
    out.resize(count * block, 0);
    for (k, frame) in out.chunks_exact_mut(block).enumerate() {
        encode_frame(first + k as u64, frame);
    }
}

/// What a frame says about its sequence number: the number modulo
/// [`modulus`], or the whole number; an error if its check bytes are wrong.
pub fn decode_frame(frame: &[u8]) -> Result<u64, String> {
    let block = frame.len();
    match modulus(block) {
        Some(_) if block == 1 => Ok(u64::from(frame[0])),
        Some(_) => {
            let mut bytes = [0u8; 8];
            bytes[..block - 1].copy_from_slice(&frame[..block - 1]);
            let residue = u64::from_le_bytes(bytes);
            if frame[block - 1] == check_byte(residue) {
                Ok(residue)
            } else {
                Err(format!("torn or shifted frame {frame:02x?}"))
            }
        }
        None => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&frame[..8]);
            let seq = u64::from_le_bytes(bytes);
            let hash = mix(seq);
            let intact = frame
                .iter()
                .enumerate()
                .skip(8)
                .all(|(i, &b)| b == large_check(hash, i));
            if intact {
                Ok(seq)
            } else {
                Err(format!("torn or shifted frame {frame:02x?}"))
            }
        }
    }
}

/// Follows the frames a consumer receives: each must be intact, come after
/// the previous one, and have been given by the producer; gaps (frames never
/// received) are allowed only if the policy may drop.
#[derive(Debug)]
pub struct Checker {
    block: usize,
    modulus: Option<u64>,
    gaps_allowed: bool,
    /// The sequence number the next frame has if nothing was lost.
    pub next: u64,
    /// Frames received.
    pub frames: u64,
    /// Frames skipped between frames received.
    pub gaps: u64,
}

impl Checker {
    /// A checker for a stream of `block`-byte frames starting at 0.
    pub fn new(block: usize, gaps_allowed: bool) -> Checker {
        Checker {
            block,
            modulus: modulus(block),
            gaps_allowed,
            next: 0,
            frames: 0,
            gaps: 0,
        }
    }

    /// Checks received data; `given` is the number of frames the producer had
    /// given by the time the data was received.
    pub fn feed(&mut self, data: &[u8], given: u64) -> Result<(), String> {
        if data.len() % self.block != 0 {
            return Err(format!(
                "{} bytes is not whole {}-byte frames",
                data.len(),
                self.block
            ));
        }
        for frame in data.chunks_exact(self.block) {
            let code = decode_frame(frame)?;
            let seq = match self.modulus {
                Some(m) => self.next + (code.wrapping_sub(self.next) & (m - 1)),
                None => code,
            };
            if seq < self.next {
                return Err(format!(
                    "frame {seq} after frame {} (repeated or out of order)",
                    self.next - 1
                ));
            }
            if seq >= given {
                return Err(format!(
                    "frame {seq} was never given (only {given} were), frame {frame:02x?}"
                ));
            }
            if !self.gaps_allowed && seq != self.next {
                return Err(format!(
                    "frames {} to {} are missing but nothing may be lost",
                    self.next,
                    seq - 1
                ));
            }
            self.gaps += seq - self.next;
            self.next = seq + 1;
            self.frames += 1;
        }
        Ok(())
    }
}

/// A small deterministic generator (xorshift64*), so that every run of a
/// case makes the same choices (the thread interleaving still varies).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value).
    pub fn new(seed: u64) -> Rng {
        Rng((seed ^ 0x2545_F491_4F6C_DD1D) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}
