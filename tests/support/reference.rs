//! A reference model of the ring for a single thread.
//!
//! The model keeps the committed, unread bytes in a `VecDeque<u8>`, the
//! producer's held partial block in a `Vec<u8>`, and the counters as plain
//! integers. It follows the documented semantics one rule at a time, with no
//! position arithmetic on the data path (positions are tracked only to predict
//! where zero-copy regions split at the end of the storage). The model tests
//! and the fuzz targets drive it side by side with a real ring and compare
//! everything observable.
//!
//! It depends only on `std` and `pcm_ring`, so the fuzz crate includes this
//! file with `#[path]`.

#![allow(dead_code)]

use std::collections::VecDeque;

use pcm_ring::{
    Config, ConfigError, Counters, Overrun, ReArm, ReadError, ReadOutcome, Silence, Underrun,
    WriteError, WriteOutcome, MAX_BLOCK_ALIGN, MAX_CAPACITY,
};

/// Everything that shapes a ring, as plain values that the model can read
/// back (a [`Config`] does not expose its policies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub block_align: usize,
    pub capacity: usize,
    pub overrun: Overrun,
    pub underrun: Underrun,
    pub silence: Silence,
    pub start_threshold: usize,
    pub rearm: ReArm,
    pub low_watermark: usize,
    /// Blocks into the position space where both positions start.
    pub start_blocks: usize,
}

impl Params {
    /// The defaults of [`Config::new`].
    pub fn new(block_align: usize, capacity: usize) -> Params {
        Params {
            block_align,
            capacity,
            overrun: Overrun::Reject,
            underrun: Underrun::SilenceFill,
            silence: Silence::ZERO,
            start_threshold: 0,
            rearm: ReArm::Immediate,
            low_watermark: 0,
            start_blocks: 0,
        }
    }

    /// The same parameters as a [`Config`].
    pub fn config(&self) -> Config {
        Config::raw(self.block_align, self.capacity)
            .overrun(self.overrun)
            .underrun(self.underrun)
            .silence(self.silence)
            .start_threshold(self.start_threshold)
            .rearm(self.rearm)
            .low_watermark(self.low_watermark)
            .start_position_blocks(self.start_blocks)
    }

    /// What making a ring from these parameters must report: the first
    /// problem in the order the error type lists them.
    pub fn expected_check(&self) -> Result<(), ConfigError> {
        let (block_align, capacity) = (self.block_align, self.capacity);
        if block_align == 0 {
            return Err(ConfigError::ZeroBlockAlign);
        }
        if block_align > MAX_BLOCK_ALIGN {
            return Err(ConfigError::BlockAlignTooLarge {
                block_align,
                max: MAX_BLOCK_ALIGN,
            });
        }
        if capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        if capacity > MAX_CAPACITY {
            return Err(ConfigError::CapacityTooLarge {
                capacity,
                max: MAX_CAPACITY,
            });
        }
        if capacity % block_align != 0 {
            return Err(ConfigError::CapacityNotWholeBlocks {
                capacity,
                block_align,
            });
        }
        if self.start_threshold > capacity {
            return Err(ConfigError::StartThresholdAboveCapacity {
                threshold: self.start_threshold,
                capacity,
            });
        }
        if let ReArm::Prime { restart_threshold } = self.rearm {
            if restart_threshold > capacity {
                return Err(ConfigError::RestartThresholdAboveCapacity {
                    threshold: restart_threshold,
                    capacity,
                });
            }
        }
        if self.low_watermark > capacity {
            return Err(ConfigError::LowWatermarkAboveCapacity {
                watermark: self.low_watermark,
                capacity,
            });
        }
        let pattern_len = self.silence.pattern().len();
        if block_align % pattern_len != 0 {
            return Err(ConfigError::SilenceDoesNotTile {
                pattern_len,
                block_align,
            });
        }
        Ok(())
    }
}

/// What the model granted on [`Reference::grant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteGrantModel {
    /// Bytes granted.
    pub len: usize,
    /// Bytes of the first slice (before the end of the storage).
    pub first: usize,
}

/// What the model granted on [`Reference::read_grant`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadGrantModel {
    /// Bytes granted.
    pub len: usize,
    /// Bytes of the first slice (before the end of the storage).
    pub first: usize,
    /// The granted bytes.
    pub data: Vec<u8>,
    /// Bytes buffered when the grant was made.
    seen: usize,
    /// Whether the stream was finished when the grant was made.
    finished: bool,
}

/// The reference model of one ring.
#[derive(Clone, Debug)]
pub struct Reference {
    p: Params,
    /// Committed, unread bytes, oldest first.
    ring: VecDeque<u8>,
    /// The trailing partial block held by the producer.
    held: Vec<u8>,
    /// Bytes of a frame dropped by an overrun still to discard from the stream.
    skip: usize,
    finished: bool,
    streaming: bool,
    /// The fill that ends priming: the start threshold, then the restart threshold.
    threshold: usize,
    /// The low-watermark signal was given and the fill has not been back at
    /// or above the watermark since.
    below_low_watermark: bool,
    /// A read grant holds the overwrite claim.
    claimed: bool,
    /// Positions over `0..2 * capacity`, only to predict zero-copy splits.
    read_pos: usize,
    write_pos: usize,
    counters: Counters,
    /// Bytes given to writes that the producer accounted for (committed,
    /// dropped, or held).
    given: u64,
}

impl Reference {
    /// A fresh ring. `p` must pass [`Params::expected_check`].
    pub fn new(p: Params) -> Reference {
        let span_blocks = 2 * p.capacity / p.block_align;
        let start = (p.start_blocks % span_blocks) * p.block_align;
        Reference {
            p,
            ring: VecDeque::new(),
            held: Vec::new(),
            skip: 0,
            finished: false,
            streaming: false,
            threshold: p.start_threshold,
            below_low_watermark: false,
            claimed: false,
            read_pos: start,
            write_pos: start,
            counters: Counters::default(),
            given: 0,
        }
    }

    pub fn params(&self) -> &Params {
        &self.p
    }

    // ----- Observers ---------------------------------------------------------

    /// Bytes buffered (the producer's fill and the consumer's available).
    pub fn fill(&self) -> usize {
        self.ring.len()
    }

    /// Bytes a write can add without an overrun: a held partial block keeps a
    /// whole block for itself.
    pub fn free(&self) -> usize {
        let reserved = if self.held.is_empty() {
            0
        } else {
            self.p.block_align
        };
        self.p.capacity - self.ring.len() - reserved
    }

    /// Whole blocks to write to bring the fill up to `target` (at most the
    /// capacity), never more than is free.
    pub fn bytes_to_reach(&self, target: usize) -> usize {
        let target = target.min(self.p.capacity);
        if self.ring.len() >= target {
            return 0;
        }
        let missing = target - self.ring.len();
        let blocks = missing.div_ceil(self.p.block_align);
        (blocks * self.p.block_align).min(self.free())
    }

    pub fn held_partial(&self) -> &[u8] {
        &self.held
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    pub fn is_end_of_stream(&self) -> bool {
        self.finished && self.ring.is_empty()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn given(&self) -> u64 {
        self.given
    }

    /// The unread bytes, oldest first.
    pub fn unread(&self) -> Vec<u8> {
        self.ring.iter().copied().collect()
    }

    /// The bookkeeping identities the counters document.
    pub fn check_invariants(&self) {
        let c = &self.counters;
        assert_eq!(
            c.written,
            c.read + c.overwritten + self.ring.len() as u64,
            "model: written == read + overwritten + fill"
        );
        assert_eq!(
            self.given,
            c.written + c.dropped + self.held.len() as u64,
            "model: every byte given is written, dropped or held"
        );
        assert!(
            self.ring.len() <= self.p.capacity,
            "model: fill <= capacity"
        );
        assert_eq!(
            self.ring.len() % self.p.block_align,
            0,
            "model: whole blocks"
        );
        assert!(self.held.len() < self.p.block_align, "model: held < block");
        assert!(
            self.held.is_empty() || self.skip == 0,
            "model: held or skip"
        );
    }

    // ----- Producer ----------------------------------------------------------

    fn frame_boundary(&self) -> Result<(), WriteError> {
        if self.finished {
            Err(WriteError::Finished)
        } else if !self.held.is_empty() {
            Err(WriteError::PartialBlockHeld {
                held: self.held.len(),
            })
        } else if self.skip > 0 {
            Err(WriteError::DiscardingPartialBlock {
                remaining: self.skip,
            })
        } else {
            Ok(())
        }
    }

    fn position_offset(&self, pos: usize) -> usize {
        pos % self.p.capacity
    }

    fn advance(&self, pos: usize, n: usize) -> usize {
        (pos + n) % (2 * self.p.capacity)
    }

    /// Commits whole blocks; `fill_seen` is the fill the producer believes
    /// the ring has afterwards (for the peak).
    fn commit_bytes(&mut self, bytes: &[u8], fill_seen: usize) {
        self.ring.extend(bytes.iter().copied());
        self.write_pos = self.advance(self.write_pos, bytes.len());
        self.counters.written += bytes.len() as u64;
        self.counters.peak_fill = self.counters.peak_fill.max(fill_seen as u64);
    }

    /// Discards the `n` oldest unread bytes (OverwriteOldest).
    fn discard_oldest(&mut self, n: usize) {
        self.ring.drain(..n);
        self.read_pos = self.advance(self.read_pos, n);
    }

    /// Makes room for `wanted` bytes as far as the policy allows: returns the
    /// room there is and the bytes overwritten to make it.
    fn make_room(&mut self, wanted: usize) -> (usize, usize) {
        let free = self.p.capacity - self.ring.len();
        if wanted > free && self.p.overrun == Overrun::OverwriteOldest && !self.claimed {
            let deficit = wanted - free;
            self.discard_oldest(deficit);
            (wanted, deficit)
        } else {
            (free, 0)
        }
    }

    fn count_overrun(&mut self, dropped: usize, overwritten: usize) {
        if dropped > 0 || overwritten > 0 {
            self.counters.overruns += 1;
            self.counters.dropped += dropped as u64;
            self.counters.overwritten += overwritten as u64;
        }
    }

    /// A strict write: whole blocks only, on a frame boundary.
    pub fn write(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        self.frame_boundary()?;
        if src.len() % self.p.block_align != 0 {
            return Err(WriteError::NotWholeBlocks {
                len: src.len(),
                block_align: self.p.block_align,
            });
        }
        self.write_stream(src)
    }

    /// A typed write of `sample`-byte samples whose bytes are `src`.
    pub fn write_samples(&mut self, sample: usize, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        if sample == 0 || self.p.block_align % sample != 0 {
            return Err(WriteError::SampleSize {
                sample,
                block_align: self.p.block_align,
            });
        }
        self.write(src)
    }

    /// A stream write: skip what is left of a dropped frame, complete the
    /// held partial block, commit whole blocks as the policy allows, hold a
    /// trailing partial block if a block is free for it, else drop it and
    /// skip the rest of its frame later.
    pub fn write_stream(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        if self.finished {
            return Err(WriteError::Finished);
        }
        let (block, capacity) = (self.p.block_align, self.p.capacity);
        let skipped = self.skip.min(src.len());
        let after_skip = &src[skipped..];
        let completing = if self.held.is_empty() {
            0
        } else {
            (block - self.held.len()).min(after_skip.len())
        };
        let (completing, rest) = after_skip.split_at(completing);
        let (whole, tail) = rest.split_at(rest.len() / block * block);
        let tail_space = if tail.is_empty() { 0 } else { block };

        if self.p.overrun == Overrun::Reject && !rest.is_empty() {
            let needed = whole.len() + tail_space;
            let free = self.free();
            if needed > free {
                // Refused: the caller keeps the bytes; no overrun.
                self.counters.refused += 1;
                return Err(WriteError::Full { needed, free });
            }
        }

        let mut out = WriteOutcome::default();
        self.given += src.len() as u64;
        self.skip -= skipped;
        self.counters.dropped += skipped as u64;
        out.dropped = skipped;

        if !completing.is_empty() {
            self.held.extend_from_slice(completing);
            if self.held.len() == block {
                let frame = std::mem::take(&mut self.held);
                let fill = self.ring.len() + block;
                self.commit_bytes(&frame, fill);
                out.written += block;
            }
        }
        if rest.is_empty() {
            out.held = self.held.len();
            return Ok(out);
        }

        let mut dropped = 0;
        let mut whole = whole;
        // Only the newest capacity's worth can survive, the trailing partial
        // block (the newest bytes) included.
        let keep = capacity - tail_space;
        if self.p.overrun == Overrun::OverwriteOldest && whole.len() > keep {
            dropped += whole.len() - keep;
            whole = &whole[whole.len() - keep..];
        }
        let (room, overwritten) = self.make_room((whole.len() + tail_space).min(capacity));
        let n = whole.len().min(room);
        if n > 0 {
            let fill = self.ring.len() + n;
            self.commit_bytes(&whole[..n], fill);
        }
        dropped += whole.len() - n;
        if !tail.is_empty() {
            if room - n >= block {
                self.held = tail.to_vec();
            } else {
                dropped += tail.len();
                self.skip = block - tail.len();
            }
        }
        self.count_overrun(dropped, overwritten);
        out.written += n;
        out.dropped += dropped;
        out.overwritten = overwritten;
        out.held = self.held.len();
        Ok(out)
    }

    /// Borrows `len` bytes of free space (whole blocks) as the policy allows.
    pub fn grant(&mut self, len: usize) -> Result<WriteGrantModel, WriteError> {
        self.frame_boundary()?;
        if len % self.p.block_align != 0 {
            return Err(WriteError::NotWholeBlocks {
                len,
                block_align: self.p.block_align,
            });
        }
        let (room, overwritten) = self.make_room(len.min(self.p.capacity));
        if self.p.overrun == Overrun::Reject && room < len {
            self.counters.refused += 1;
            return Err(WriteError::Full {
                needed: len,
                free: room,
            });
        }
        let granted = len.min(room);
        self.count_overrun(len - granted, overwritten);
        self.given += (len - granted) as u64;
        let first = granted.min(self.p.capacity - self.position_offset(self.write_pos));
        Ok(WriteGrantModel {
            len: granted,
            first,
        })
    }

    /// Commits the first `len` bytes of a grant whose space holds `contents`.
    pub fn commit(
        &mut self,
        grant: &WriteGrantModel,
        contents: &[u8],
        len: usize,
    ) -> Result<usize, WriteError> {
        if len % self.p.block_align != 0 {
            return Err(WriteError::NotWholeBlocks {
                len,
                block_align: self.p.block_align,
            });
        }
        if len > grant.len {
            return Err(WriteError::CommitTooLarge {
                len,
                granted: grant.len,
            });
        }
        if len > 0 {
            self.given += len as u64;
            let fill = self.ring.len() + len;
            self.commit_bytes(&contents[..len], fill);
        }
        Ok(len)
    }

    /// Drops the held partial block (counted as dropped) and forgets any rest
    /// of a dropped frame.
    pub fn discard_partial(&mut self) -> usize {
        let held = self.held.len();
        self.counters.dropped += held as u64;
        self.held.clear();
        self.skip = 0;
        held
    }

    /// Marks the end of the stream (once), discarding a held partial block.
    pub fn finish(&mut self) -> usize {
        if self.finished {
            return 0;
        }
        let discarded = self.discard_partial();
        self.finished = true;
        discarded
    }

    // ----- Consumer ----------------------------------------------------------

    fn check_blocks(&self, len: usize) -> Result<(), ReadError> {
        if len % self.p.block_align != 0 {
            Err(ReadError::NotWholeBlocks {
                len,
                block_align: self.p.block_align,
            })
        } else {
            Ok(())
        }
    }

    /// Priming ends once enough is buffered (and something is), or once the
    /// stream is finished.
    fn gate(&mut self, available: usize, finished: bool) {
        if !self.streaming && (finished || (available > 0 && available >= self.threshold)) {
            self.streaming = true;
        }
    }

    fn ran_dry(&mut self) {
        if let ReArm::Prime { restart_threshold } = self.p.rearm {
            self.streaming = false;
            self.threshold = restart_threshold;
        }
    }

    /// Re-armed whenever the fill is at or above the watermark when a read
    /// starts; reported once when a read leaves it below.
    fn low_watermark_edge(&mut self, before: usize, after: usize) -> bool {
        if before >= self.p.low_watermark {
            self.below_low_watermark = false;
        }
        if after < self.p.low_watermark && !self.below_low_watermark {
            self.below_low_watermark = true;
            return true;
        }
        false
    }

    /// Takes the `n` oldest bytes as read.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let data: Vec<u8> = self.ring.drain(..n).collect();
        self.read_pos = self.advance(self.read_pos, n);
        self.counters.read += n as u64;
        data
    }

    /// The copying read of `want` bytes: the outcome and the bytes the
    /// destination receives, in order (data, then silence if `fill`).
    fn copy_read(&mut self, want: usize, fill: bool) -> (ReadOutcome, Vec<u8>) {
        let available = self.ring.len();
        let finished = self.finished;
        self.gate(available, finished);
        let n = if self.streaming {
            available.min(want)
        } else {
            0
        };
        let mut bytes = self.take(n);
        let mut out = ReadOutcome::default();
        out.data = n;
        let short = want - n;
        if short > 0 {
            let underrun = self.streaming && !finished;
            if underrun {
                out.underrun = true;
                self.counters.underruns += 1;
            }
            if fill {
                let pattern = self.p.silence.pattern();
                // Silence starts on a block boundary, and the pattern tiles
                // the block, so its phase follows the destination index.
                bytes.extend((n..want).map(|i| pattern[i % pattern.len()]));
                out.silence = short;
                let counter = if !self.streaming {
                    &mut self.counters.silence_priming
                } else if finished {
                    &mut self.counters.silence_end
                } else {
                    &mut self.counters.silence_underrun
                };
                *counter += short as u64;
            }
            if underrun {
                self.ran_dry();
            }
        }
        out.priming = !self.streaming;
        out.low_watermark = self.low_watermark_edge(available, available - n);
        out.end_of_stream = finished && available == n;
        (out, bytes)
    }

    /// A copying read into `dst` (whole blocks). Bytes of `dst` the read does
    /// not deliver are left as they were.
    pub fn read(&mut self, dst: &mut [u8]) -> Result<ReadOutcome, ReadError> {
        self.check_blocks(dst.len())?;
        let fill = self.p.underrun == Underrun::SilenceFill;
        let (out, bytes) = self.copy_read(dst.len(), fill);
        dst[..bytes.len()].copy_from_slice(&bytes);
        Ok(out)
    }

    /// A typed read of `sample`-byte samples into `dst` (their bytes).
    pub fn read_samples(
        &mut self,
        sample: usize,
        dst: &mut [u8],
    ) -> Result<ReadOutcome, ReadError> {
        if sample == 0 || self.p.block_align % sample != 0 {
            return Err(ReadError::SampleSize {
                sample,
                block_align: self.p.block_align,
            });
        }
        self.read(dst)
    }

    /// A read of `len` bytes into the cyclic `dst` from `offset`, always
    /// silence-filled.
    pub fn read_cyclic(
        &mut self,
        dst: &mut [u8],
        offset: usize,
        len: usize,
    ) -> Result<ReadOutcome, ReadError> {
        let size = dst.len();
        self.check_blocks(size)?;
        self.check_blocks(offset)?;
        self.check_blocks(len)?;
        if offset > size || (offset == size && size > 0) {
            return Err(ReadError::OutOfRange {
                value: offset,
                len: size,
            });
        }
        if len > size {
            return Err(ReadError::OutOfRange {
                value: len,
                len: size,
            });
        }
        let (out, bytes) = self.copy_read(len, true);
        for (i, b) in bytes.into_iter().enumerate() {
            dst[(offset + i) % size] = b;
        }
        Ok(out)
    }

    /// Borrows up to `max` bytes (whole blocks) of buffered data.
    pub fn read_grant(&mut self, max: usize) -> ReadGrantModel {
        let seen = self.ring.len();
        let finished = self.finished;
        self.gate(seen, finished);
        let deliverable = if self.streaming { seen } else { 0 };
        if self.streaming && seen == 0 && !finished {
            self.ran_dry();
        }
        let len = deliverable.min(max / self.p.block_align * self.p.block_align);
        // The consumer claims only a grant with something in it.
        self.claimed = self.p.overrun == Overrun::OverwriteOldest && len > 0;
        ReadGrantModel {
            len,
            first: len.min(self.p.capacity - self.position_offset(self.read_pos)),
            data: self.ring.iter().take(len).copied().collect(),
            seen,
            finished,
        }
    }

    /// Releases the first `len` bytes of a read grant.
    pub fn release(&mut self, grant: ReadGrantModel, len: usize) -> Result<ReadOutcome, ReadError> {
        self.claimed = false;
        self.check_blocks(len)?;
        if len > grant.len {
            return Err(ReadError::ReleaseTooLarge {
                len,
                granted: grant.len,
            });
        }
        self.take(len);
        let after = grant.seen - len;
        let mut out = ReadOutcome::default();
        out.data = len;
        out.priming = !self.streaming;
        out.low_watermark = self.low_watermark_edge(grant.seen, after);
        out.end_of_stream = grant.finished && after == 0;
        Ok(out)
    }

    /// Drops a read grant without releasing anything.
    pub fn drop_read_grant(&mut self, grant: ReadGrantModel) {
        drop(grant);
        self.claimed = false;
    }
}
