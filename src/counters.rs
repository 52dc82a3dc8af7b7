//! Counters that make every glitch visible, readable from either side at any
//! time without locks.

use crate::header::Header;
use crate::sync::COUNTER;

/// A snapshot of a ring's counters. All totals are 64-bit and do not wrap in
/// practice (about 3 million years of 192 kB/s audio).
///
/// Each counter has one writer (the producer or the consumer), so a snapshot
/// taken while the other side runs is not atomic as a whole, but every field
/// is exact at some instant. When both sides are idle these hold:
///
/// - `written == read + overwritten + fill` (fill: bytes buffered now);
/// - every byte given to a write that did not fail is in `written`, in
///   `dropped`, or still held as a partial block by the producer.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, Overrun};
///
/// let (mut tx, mut rx) = pcm_ring::heap(&Config::new(2, 8).overrun(Overrun::Truncate))?;
/// tx.write(&[0; 12])?; // 4 bytes do not fit
/// let mut out = [0u8; 12];
/// rx.read(&mut out)?; // 8 bytes of data, 4 of silence
/// let c = rx.counters();
/// assert_eq!((c.written, c.dropped, c.overruns), (8, 4, 1));
/// assert_eq!((c.read, c.silence_underrun, c.underruns), (8, 4, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Bytes committed into the ring by the producer.
    pub written: u64,
    /// Data bytes delivered to the consumer.
    pub read: u64,
    /// Bytes given to a write that never entered the ring: truncated, the
    /// head of an input longer than the capacity under `OverwriteOldest`, or
    /// a discarded partial block. (A write refused under `Reject` drops
    /// nothing: the caller keeps its bytes.)
    pub dropped: u64,
    /// Bytes that were in the ring and were discarded unread by
    /// `OverwriteOldest`.
    pub overwritten: u64,
    /// Silence bytes delivered while priming (before the start threshold, or
    /// re-arming to the restart threshold).
    pub silence_priming: u64,
    /// Silence bytes delivered because the ring ran dry while streaming.
    pub silence_underrun: u64,
    /// Silence bytes delivered after the stream ended and was drained.
    pub silence_end: u64,
    /// Copying reads that found fewer bytes than they asked for while streaming.
    pub underruns: u64,
    /// Writes that dropped, rejected or overwrote data.
    pub overruns: u64,
    /// The highest fill level, in bytes, seen right after a write.
    pub peak_fill: u64,
}

impl Counters {
    /// Reads every counter of `header`.
    pub(crate) fn load(header: &Header) -> Counters {
        Counters {
            written: header.written.load(COUNTER),
            read: header.read_bytes.load(COUNTER),
            dropped: header.dropped.load(COUNTER),
            overwritten: header.overwritten.load(COUNTER),
            silence_priming: header.silence_priming.load(COUNTER),
            silence_underrun: header.silence_underrun.load(COUNTER),
            silence_end: header.silence_end.load(COUNTER),
            underruns: header.underruns.load(COUNTER),
            overruns: header.overruns.load(COUNTER),
            peak_fill: header.peak_fill.load(COUNTER),
        }
    }

    /// All silence bytes delivered.
    pub fn silence(&self) -> u64 {
        self.silence_priming
            .saturating_add(self.silence_underrun)
            .saturating_add(self.silence_end)
    }
}
