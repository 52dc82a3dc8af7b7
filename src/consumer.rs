//! The consumer: the only side that reads data and (except for
//! `OverwriteOldest`'s discards) moves the read position.

use crate::counters::Counters;
use crate::header::{Geometry, BUSY, FINISHED};
use crate::storage::Shared;
use crate::sync::{
    bump, Ordering, CLAIM_CAS, OBSERVE_FINISH, OBSERVE_READ, OBSERVE_WRITE, PUBLISH_READ, USE_CLAIM,
};
use crate::{Config, Overrun, ReArm, ReadError, Silence, Underrun};

/// What a read delivered and what it noticed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadOutcome {
    /// Bytes of data delivered (whole blocks), at the start of the destination.
    pub data: usize,
    /// Bytes of silence after the data.
    pub silence: usize,
    /// The read was short while streaming: an underrun (counted).
    pub underrun: bool,
    /// The consumer is priming after this read: below its start (or restart)
    /// threshold, it delivers silence rather than data.
    pub priming: bool,
    /// The fill level fell below the low watermark (reported once per
    /// crossing): time to wake the producer.
    pub low_watermark: bool,
    /// The producer finished the stream and everything was read.
    pub end_of_stream: bool,
}

/// What one read saw when it started.
#[derive(Clone, Copy)]
struct View {
    read: usize,
    available: usize,
    finished: bool,
}

/// The consuming half of a ring. It is [`Send`]: move it to the audio
/// callback or the DMA timer.
pub struct Consumer<'a> {
    shared: Shared<'a>,
    geometry: Geometry,
    overwrite: bool,
    underrun: Underrun,
    silence: Silence,
    rearm: ReArm,
    low_watermark: usize,
    /// The read position (authoritative unless `overwrite`, where the
    /// producer may move it and the header's copy rules).
    read: usize,
    /// Bytes that must be buffered before priming ends.
    threshold: usize,
    streaming: bool,
    below_low_watermark: bool,
}

// SAFETY: see `Producer`: the consumer owns its side of the protocol.
unsafe impl Send for Consumer<'_> {}

impl<'a> Consumer<'a> {
    pub(crate) fn new(
        shared: Shared<'a>,
        geometry: Geometry,
        config: &Config,
        start: usize,
    ) -> Self {
        Consumer {
            shared,
            geometry,
            overwrite: config.overrun == Overrun::OverwriteOldest,
            underrun: config.underrun,
            silence: config.silence,
            rearm: config.rearm,
            low_watermark: config.low_watermark,
            read: start,
            threshold: config.start_threshold,
            streaming: false,
            below_low_watermark: false,
        }
    }

    /// The capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.geometry.capacity
    }

    /// The block (frame) size in bytes.
    pub fn block_align(&self) -> usize {
        self.geometry.block_align
    }

    /// Bytes buffered now (whole blocks). Under `OverwriteOldest` the
    /// producer may discard some before the next read.
    pub fn available(&self) -> usize {
        let header = self.shared.header();
        let read = if self.overwrite {
            (header.read.load(OBSERVE_READ) & !BUSY) as usize
        } else {
            self.read
        };
        let write = header.write.load(OBSERVE_WRITE) as usize;
        self.geometry.distance(read, write)
    }

    /// Whether the consumer delivers data (streaming) rather than waiting for
    /// its start or restart threshold (priming).
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Whether the producer finished the stream and everything was read.
    pub fn is_end_of_stream(&self) -> bool {
        let finished = self.shared.header().flags.load(OBSERVE_FINISH) & FINISHED != 0;
        finished && self.available() == 0
    }

    /// The counters, read without locks.
    pub fn counters(&self) -> Counters {
        Counters::load(self.shared.header())
    }

    /// Starts a read: under `OverwriteOldest`, claims the read position so the
    /// producer cannot discard what is about to be copied; then sees how much
    /// is published.
    fn begin(&mut self) -> View {
        let header = self.shared.header();
        // Before the write position: if the end is seen, so is the last write.
        let finished = header.flags.load(OBSERVE_FINISH) & FINISHED != 0;
        let read = if !self.overwrite {
            self.read
        } else if USE_CLAIM {
            let mut raw = header.read.load(Ordering::Relaxed);
            loop {
                // Lock-free: this fails only when the producer discarded
                // blocks in between.
                match header
                    .read
                    .compare_exchange(raw, raw | BUSY, CLAIM_CAS, Ordering::Relaxed)
                {
                    Ok(_) => break (raw & !BUSY) as usize,
                    Err(current) => raw = current,
                }
            }
        } else {
            (header.read.load(OBSERVE_READ) & !BUSY) as usize
        };
        // After the claim, so that the region up to `write` stays published
        // and unclaimed by the producer while it is copied.
        let write = header.write.load(OBSERVE_WRITE) as usize;
        View {
            read,
            available: self.geometry.distance(read, write),
            finished,
        }
    }

    /// Ends a read of `n` bytes: publishes the read position (which also
    /// drops the claim).
    fn end(&mut self, view: &View, n: usize) {
        self.read = self.geometry.advance(view.read, n);
        if n > 0 || self.overwrite {
            self.shared
                .header()
                .read
                .store(self.read as u32, PUBLISH_READ);
        }
    }

    /// Priming: bytes this read may deliver.
    fn gate(&mut self, view: &View) -> usize {
        if !self.streaming
            && (view.finished || (view.available > 0 && view.available >= self.threshold))
        {
            self.streaming = true;
        }
        if self.streaming {
            view.available
        } else {
            0
        }
    }

    /// Goes back to priming if the policy says so.
    fn ran_dry(&mut self) {
        if let ReArm::Prime { restart_threshold } = self.rearm {
            self.streaming = false;
            self.threshold = restart_threshold;
        }
    }

    /// The low-watermark edge: re-armed when the fill is at or above it,
    /// reported once when it falls below.
    #[inline]
    fn low_watermark_edge(&mut self, before: usize, after: usize) -> bool {
        if before >= self.low_watermark {
            self.below_low_watermark = false;
        }
        if after < self.low_watermark && !self.below_low_watermark {
            self.below_low_watermark = true;
            return true;
        }
        false
    }

    /// Copies the ring from position `pos` into `dst`, across the wrap.
    #[inline]
    fn copy_at(&self, pos: usize, dst: &mut [u8]) {
        let offset = self.geometry.offset(pos);
        let first = dst.len().min(self.geometry.capacity - offset);
        let (a, b) = dst.split_at_mut(first);
        // SAFETY: both ranges are inside the storage and inside the published
        // region this read observed (and, under `OverwriteOldest`, claimed),
        // which the producer does not write until the read position moves.
        unsafe {
            self.shared.copy_out(offset, a);
            if !b.is_empty() {
                self.shared.copy_out(0, b);
            }
        }
    }

    /// The one copying read: data into `d0` then `d1`, then (if `fill`)
    /// silence for the rest.
    fn read_parts(&mut self, d0: &mut [u8], d1: &mut [u8], fill: bool) -> ReadOutcome {
        let want = d0.len() + d1.len();
        let view = self.begin();
        let n = self.gate(&view).min(want);
        let n0 = n.min(d0.len());
        // `n <= want`, so `n1 == n - n0`; the `min` only lets the optimiser
        // drop the bounds-check panic.
        let n1 = (n - n0).min(d1.len());
        if n0 > 0 {
            self.copy_at(view.read, &mut d0[..n0]);
        }
        if n1 > 0 {
            self.copy_at(self.geometry.advance(view.read, n0), &mut d1[..n1]);
        }
        self.end(&view, n);

        let header = self.shared.header();
        bump(&header.read_bytes, n as u64);
        let after = view.available - n;
        let mut out = ReadOutcome {
            data: n,
            ..ReadOutcome::default()
        };
        let short = want - n;
        if short > 0 {
            let counter = if !self.streaming {
                &header.silence_priming
            } else if view.finished {
                &header.silence_end
            } else {
                out.underrun = true;
                bump(&header.underruns, 1);
                &header.silence_underrun
            };
            if fill {
                self.silence.fill(&mut d0[n0..]);
                if n1 < d1.len() {
                    self.silence.fill(&mut d1[n1..]);
                }
                bump(counter, short as u64);
                out.silence = short;
            }
            if out.underrun {
                self.ran_dry();
            }
        }
        out.priming = !self.streaming;
        out.low_watermark = self.low_watermark_edge(view.available, after);
        out.end_of_stream = view.finished && after == 0;
        out
    }

    #[inline]
    fn check_blocks(&self, len: usize) -> Result<(), ReadError> {
        if self.geometry.rem_blocks(len) != 0 {
            Err(ReadError::NotWholeBlocks {
                len,
                block_align: self.geometry.block_align,
            })
        } else {
            Ok(())
        }
    }

    /// Reads into `dst` (a whole number of blocks). With
    /// [`Underrun::SilenceFill`] the whole of `dst` is filled: the data first,
    /// then format-correct silence; with [`Underrun::Partial`] only the
    /// available whole blocks are written. The outcome says how many bytes
    /// were data and silence, whether it was an underrun, whether the low
    /// watermark was crossed, and whether the stream ended.
    ///
    /// # Errors
    ///
    /// [`ReadError::NotWholeBlocks`]; nothing is read then.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Silence};
    ///
    /// // Unsigned 8-bit stereo: silence is 0x80.
    /// let config = Config::new(2, 8).silence(Silence::U8);
    /// let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    /// tx.write(&[1, 2])?;
    /// let mut out = [0u8; 4];
    /// let got = rx.read(&mut out)?;
    /// assert_eq!(out, [1, 2, 0x80, 0x80]);
    /// assert_eq!((got.data, got.silence, got.underrun), (2, 2, true));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read(&mut self, dst: &mut [u8]) -> Result<ReadOutcome, ReadError> {
        let len = dst.len();
        self.check_blocks(len)?;
        if self.streaming && !self.overwrite {
            // The common case, kept short: streaming, and it is all there.
            let header = self.shared.header();
            let finished = header.flags.load(OBSERVE_FINISH) & FINISHED != 0;
            let write = header.write.load(OBSERVE_WRITE) as usize;
            let available = self.geometry.distance(self.read, write);
            if len <= available {
                self.copy_at(self.read, dst);
                self.read = self.geometry.advance(self.read, len);
                header.read.store(self.read as u32, PUBLISH_READ);
                bump(&header.read_bytes, len as u64);
                let after = available - len;
                return Ok(ReadOutcome {
                    data: len,
                    low_watermark: self.low_watermark_edge(available, after),
                    end_of_stream: finished && after == 0,
                    ..ReadOutcome::default()
                });
            }
        }
        let fill = self.underrun == Underrun::SilenceFill;
        Ok(self.read_parts(dst, &mut [], fill))
    }

    /// Reads typed samples: `T` is any [`bytemuck::Pod`] sample type whose
    /// size divides the block, and `dst` must hold whole blocks. Counts in
    /// the outcome are bytes.
    ///
    /// # Errors
    ///
    /// [`ReadError::SampleSize`] or [`ReadError::NotWholeBlocks`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::new(4, 64))?; // i16 stereo
    /// tx.write_samples(&[1i16, -1, 2, -2])?;
    /// let mut out = [0i16; 4];
    /// rx.read_samples(&mut out)?;
    /// assert_eq!(out, [1, -1, 2, -2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_samples<T: bytemuck::Pod>(
        &mut self,
        dst: &mut [T],
    ) -> Result<ReadOutcome, ReadError> {
        let sample = core::mem::size_of::<T>();
        if sample == 0 || self.geometry.block_align % sample != 0 {
            return Err(ReadError::SampleSize {
                sample,
                block_align: self.geometry.block_align,
            });
        }
        self.read(bytemuck::cast_slice_mut(dst))
    }

    /// Reads `len` bytes into a cyclic destination (a DMA buffer) starting at
    /// `offset`, wrapping at its end, and fills any shortfall with silence
    /// whatever the underrun policy, so the device never replays stale audio.
    /// The destination's length, `offset` and `len` are whole blocks.
    ///
    /// # Errors
    ///
    /// [`ReadError::NotWholeBlocks`], or [`ReadError::OutOfRange`] if `offset`
    /// is not inside the destination or `len` exceeds its length. Nothing is
    /// read then.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::new(2, 16))?;
    /// tx.write(&[1, 1, 2, 2])?;
    /// let mut dma = [9u8; 6];
    /// let got = rx.read_cyclic(&mut dma, 4, 6)?; // 4..6 then 0..4
    /// assert_eq!(dma, [2, 2, 0, 0, 1, 1]);
    /// assert_eq!((got.data, got.silence), (4, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        let (head, rest) = dst.split_at_mut(offset);
        // `len <= size`, so the second part (`len - first <= offset`) always
        // fits the head; the `min`s only let the optimiser drop the
        // bounds-check panics.
        let first = len.min(rest.len());
        let second = (len - first).min(head.len());
        Ok(self.read_parts(&mut rest[..first], &mut head[..second], true))
    }

    /// Borrows up to `max` bytes (rounded down to whole blocks) of buffered
    /// data to read in place, as at most two slices; [`ReadGrant::release`]
    /// frees them. Priming and end of stream apply as for [`read`](Self::read);
    /// nothing is counted as an underrun, since no fixed amount was due, but
    /// with [`ReArm::Prime`] an empty ring while streaming re-arms priming.
    ///
    /// Under `OverwriteOldest` the grant holds the consumer's claim: while it
    /// lives, overrunning writes drop their newest data instead of discarding
    /// the blocks being read. Release it promptly.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::new(2, 8))?;
    /// tx.write(&[1, 2, 3, 4])?;
    /// let grant = rx.read_grant(usize::MAX);
    /// let (a, b) = grant.as_slices();
    /// assert_eq!((a, b), (&[1, 2, 3, 4][..], &[][..]));
    /// grant.release(2)?;
    /// assert_eq!(rx.available(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_grant(&mut self, max: usize) -> ReadGrant<'_, 'a> {
        let view = self.begin();
        let deliverable = self.gate(&view);
        if self.streaming && view.available == 0 && !view.finished {
            self.ran_dry();
        }
        let len = deliverable.min(self.geometry.floor_blocks(max));
        ReadGrant {
            consumer: self,
            view,
            len,
            released: false,
        }
    }
}

impl core::fmt::Debug for Consumer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.geometry.capacity)
            .field("block_align", &self.geometry.block_align)
            .field("available", &self.available())
            .field("streaming", &self.streaming)
            .finish()
    }
}

/// Buffered data borrowed from the ring by [`Consumer::read_grant`]. Read
/// it, then [`release`](Self::release); dropping it releases nothing.
pub struct ReadGrant<'c, 'a> {
    consumer: &'c mut Consumer<'a>,
    view: View,
    len: usize,
    released: bool,
}

impl ReadGrant<'_, '_> {
    /// Bytes granted (whole blocks).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was granted.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The granted data as two slices: the second is non-empty only when the
    /// data wraps around the end of the storage.
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        let geometry = self.consumer.geometry;
        let offset = geometry.offset(self.view.read);
        let first = self.len.min(geometry.capacity - offset);
        // SAFETY: the granted range is published data that the consumer owns
        // (and, under `OverwriteOldest`, has claimed) until it releases it.
        unsafe {
            (
                self.consumer.shared.slice(offset, first),
                self.consumer.shared.slice(0, self.len - first),
            )
        }
    }

    /// Frees the first `len` bytes (whole blocks) of the grant.
    ///
    /// # Errors
    ///
    /// [`ReadError::NotWholeBlocks`] or [`ReadError::ReleaseTooLarge`];
    /// nothing is released then.
    pub fn release(mut self, len: usize) -> Result<ReadOutcome, ReadError> {
        self.consumer.check_blocks(len)?;
        if len > self.len {
            return Err(ReadError::ReleaseTooLarge {
                len,
                granted: self.len,
            });
        }
        self.released = true;
        let view = self.view;
        let consumer = &mut *self.consumer;
        consumer.end(&view, len);
        bump(&consumer.shared.header().read_bytes, len as u64);
        let after = view.available - len;
        Ok(ReadOutcome {
            data: len,
            priming: !consumer.streaming,
            low_watermark: consumer.low_watermark_edge(view.available, after),
            end_of_stream: view.finished && after == 0,
            ..ReadOutcome::default()
        })
    }
}

impl Drop for ReadGrant<'_, '_> {
    fn drop(&mut self) {
        if !self.released {
            let view = self.view;
            self.consumer.end(&view, 0);
        }
    }
}
