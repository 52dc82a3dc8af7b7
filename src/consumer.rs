//! The consumer: the only side that reads data and (except for
//! `OverwriteOldest`'s discards) moves the read position.

use crate::counters::{consumer as field, Counters, Tally, CONSUMER_FIELDS};
use crate::format::{check_sample, SampleMismatch};
use crate::header::{Geometry, Header, BUSY, FINISHED, GONE};
use crate::storage::Shared;
use crate::sync::{
    Ordering, CACHE_EXACT_EDGES, CHECK_DISCARDS, CLAIM_CAS, CLAIM_LOOKS_AGAIN, CLAIM_ONLY_TO_COPY,
    CONSISTENT_POSITIONS, CONSUMER_CACHE_REFRESH, OBSERVE_DISCARDS, OBSERVE_FINISH, OBSERVE_GONE,
    OBSERVE_READ, OBSERVE_WRITE, OVERWRITE_FRESH_READ, PUBLISH_GONE, PUBLISH_READ, USE_CLAIM,
};
use crate::{Config, Overrun, ReArm, ReadError, Sample, SampleFormat, Silence, Underrun};
use core::cell::Cell;

/// Attempts a consumer in shared memory makes under `OverwriteOldest` to
/// load a settled pair of positions before it counts a protocol error.
const OVERWRITE_PAIR_TRIES: u32 = 64;

/// What a read delivered and what it noticed.
///
/// # Examples
///
/// ```
/// let config = pcm_ring::Config::raw(2, 8).low_watermark(4);
/// let (mut tx, mut rx) = pcm_ring::heap(&config)?;
/// let _ = tx.write(&[1, 1, 2, 2])?;
/// let _ = tx.finish();
/// let mut out = [0u8; 6];
/// let got = rx.read(&mut out)?;
/// assert_eq!((got.data, got.silence), (4, 2));
/// assert!(got.low_watermark && got.end_of_stream);
/// assert!(!got.underrun); // the stream ended: silence after the end is no underrun
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "the outcome says how much of the destination is data"]
#[repr(C)]
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
    /// The producer's write position broke the protocol (out of range, more
    /// than the capacity ahead of the read position, or not on a block
    /// boundary): a peer across a trust boundary misbehaved, or the shared
    /// memory was corrupted. The read treated the ring as empty (silence
    /// under [`Underrun::SilenceFill`]) and counted it in
    /// [`Counters::protocol_errors`]; the next read looks again.
    pub protocol_error: bool,
}

/// [`ReadOutcome`]'s layout with its five flags as one word.
#[repr(C)]
struct RawOutcome {
    data: usize,
    silence: usize,
    flags: u64,
}

impl ReadOutcome {
    /// An outcome whose flags are written with one store: a caller that
    /// copies the outcome by words then reads them back from the store
    /// buffer, where five one-byte stores would make it wait for them to
    /// reach the cache.
    #[inline(always)]
    fn packed(data: usize, silence: usize, flags: [bool; 5]) -> Self {
        let [a, b, c, d, e] = flags.map(u8::from);
        let raw = RawOutcome {
            data,
            silence,
            flags: u64::from_ne_bytes([a, b, c, d, e, 0, 0, 0]),
        };
        // SAFETY: both types are `repr(C)` with the same size (checked by
        // `transmute`): two `usize`s, then five `bool`s and padding in
        // `ReadOutcome`, the eight bytes of `flags` in `RawOutcome`, whose
        // first five (in memory order, `from_ne_bytes`) are 0 or 1, valid
        // `bool`s, in field order.
        unsafe { core::mem::transmute::<RawOutcome, ReadOutcome>(raw) }
    }
}

/// What one read saw when it started.
#[derive(Clone, Copy, Debug)]
struct View {
    read: usize,
    available: usize,
    /// `FINISHED` and `CLAIMED`, in one word: a grant carries its view
    /// across calls, and a caller's move of the grant then copies it by
    /// words, which one-byte stores of two `bool`s would stall (see
    /// [`ReadOutcome::packed`]).
    flags: usize,
}

impl View {
    const FINISHED: usize = 1;
    const CLAIMED: usize = 2;

    /// `claimed`: whether the read holds the overwrite claim (then it must
    /// store the read position back, which drops the claim).
    #[inline(always)]
    fn new(read: usize, available: usize, finished: bool, claimed: bool) -> Self {
        View {
            read,
            available,
            flags: (usize::from(finished) * Self::FINISHED)
                | (usize::from(claimed) * Self::CLAIMED),
        }
    }

    /// Whether the end of the stream was seen (before the write position).
    #[inline(always)]
    fn finished(&self) -> bool {
        self.flags & Self::FINISHED != 0
    }

    /// Whether the read holds the overwrite claim.
    #[inline(always)]
    fn claimed(&self) -> bool {
        self.flags & Self::CLAIMED != 0
    }
}

/// The consuming half of a ring. It is [`Send`]: move it to the audio
/// callback or the DMA timer.
///
/// Dropping it tells the producer it is gone
/// ([`Producer::is_abandoned`](crate::Producer::is_abandoned)).
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, Format, SampleFormat};
///
/// let config = Config::new(Format::new(SampleFormat::F32, 2), 256);
/// let (mut producer, mut consumer) = pcm_ring::heap(&config)?;
/// let _ = producer.write_samples(&[0.25f32; 2 * 64])?;
/// let callback = std::thread::spawn(move || {
///     let mut period = [1.0f32; 2 * 128]; // what an audio callback would fill
///     let got = consumer.read_samples(&mut period);
///     (got, period)
/// });
/// let (got, period) = callback.join().unwrap();
/// let got = got?;
/// assert_eq!((got.data, got.silence), (512, 512)); // bytes: 64 frames of data, 64 of silence
/// assert_eq!((period[0], period[255]), (0.25, 0.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Consumer<'a> {
    shared: Shared<'a>,
    geometry: Geometry,
    overwrite: bool,
    underrun: Underrun,
    silence: Silence,
    rearm: ReArm,
    low_watermark: usize,
    /// The declared sample format, if the configuration has one.
    sample: Option<SampleFormat>,
    /// The read position (authoritative unless `overwrite`, where the
    /// producer may move it and the header's copy rules).
    read: usize,
    /// `read`'s offset into the storage.
    read_offset: usize,
    /// Bytes that must be buffered before priming ends.
    threshold: usize,
    streaming: bool,
    /// `read`'s fast path applies: streaming, not `OverwriteOldest` (where
    /// the producer moves the read position), not on shared memory (where
    /// positions are checked, and copies atomic if hardened). Kept with
    /// `streaming` by `set_streaming`.
    fast: bool,
    /// The same under `OverwriteOldest`: streaming, not on shared memory
    /// (see `take_claimed`).
    fast_overwrite: bool,
    /// Whether a read that delivers no data may take `read_silence`:
    /// `SilenceFill`, not `OverwriteOldest`, not on shared memory.
    silence_short: bool,
    below_low_watermark: bool,
    /// Bytes buffered from `read` as of the write position last loaded
    /// (not under `OverwriteOldest`, where `read` is not authoritative).
    /// Only the producer moves the write position, and only forward, so
    /// this never exceeds what is buffered: a read that the cached value
    /// covers with more to spare than the low watermark needs takes the data
    /// without looking, and gets the same outcome a fresh look would give
    /// (see [`read`](Self::read)). A `Cell` so that
    /// [`available`](Self::available), which loads it anyway, refreshes it.
    cached: Cell<usize>,
    /// The counters only the consumer writes.
    tally: Tally<CONSUMER_FIELDS>,
    /// Write positions from the peer that broke the protocol.
    protocol_errors: Cell<u64>,
    /// Whether a position loaded since the last read began broke it.
    fault: Cell<bool>,
    /// Whether the write position is checked before use: on a ring in
    /// shared memory, where a peer (or anything else with the mapping) can
    /// write it. In one process only this crate's producer writes it.
    check_peer: bool,
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
            sample: config.sample_format(),
            read: start,
            read_offset: geometry.offset(start),
            threshold: config.start_threshold,
            streaming: false,
            fast: false,
            fast_overwrite: false,
            silence_short: config.underrun == Underrun::SilenceFill
                && config.overrun != Overrun::OverwriteOldest,
            below_low_watermark: false,
            cached: Cell::new(0),
            tally: Tally::new(),
            protocol_errors: Cell::new(0),
            fault: Cell::new(false),
            check_peer: false,
        }
    }

    /// A consumer attached to shared memory: it checks every write
    /// position it loads.
    pub(crate) fn attached(mut self) -> Self {
        self.check_peer = true;
        self.silence_short = false;
        self
    }

    /// Bytes available from `read` given the producer's raw write position,
    /// if that position keeps the protocol: inside position space, at most
    /// the capacity ahead, on a block boundary. Anything else (memory
    /// corruption, or a peer across a trust boundary that misbehaves) is
    /// counted and never used as an index.
    #[inline]
    fn available_from(&self, read: usize, raw: u32) -> Option<usize> {
        let write = raw as usize;
        let g = &self.geometry;
        if !self.check_peer {
            return Some(g.distance(read, write));
        }
        // Wrapping: `write` may be anything here; one branch for all three
        // conditions.
        let available = if write >= read {
            write - read
        } else {
            write.wrapping_add(g.span).wrapping_sub(read)
        };
        if (write < g.span) & (available <= g.capacity) & g.whole_blocks_small(available) {
            Some(available)
        } else {
            self.protocol_error();
            None
        }
    }

    /// Counts a protocol error, flags it for the read under way, and
    /// forgets the cached fill.
    #[cold]
    fn protocol_error(&self) {
        self.protocol_errors
            .set(self.protocol_errors.get().wrapping_add(1));
        self.fault.set(true);
        self.cached.set(0);
    }

    /// The capacity in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = pcm_ring::heap(&pcm_ring::Config::raw(6, 600))?;
    /// assert_eq!((rx.capacity(), rx.block_align()), (600, 6));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.geometry.capacity
    }

    /// The block (frame) size in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Format, SampleFormat};
    ///
    /// let (_tx, rx) = pcm_ring::heap(&Config::new(Format::new(SampleFormat::I24, 2), 100))?;
    /// assert_eq!(rx.block_align(), 6); // packed 24-bit stereo
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn block_align(&self) -> usize {
        self.geometry.block_align
    }

    /// Whether the producer was dropped: nothing more will be written. What
    /// it wrote can still be read (see also
    /// [`is_end_of_stream`](Self::is_end_of_stream)).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 64))?;
    /// let _ = tx.write(&[0; 8])?;
    /// assert!(!rx.is_abandoned());
    /// drop(tx);
    /// assert!(rx.is_abandoned());
    /// assert_eq!(rx.available(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_abandoned(&self) -> bool {
        self.shared.header().producer_flags.load(OBSERVE_GONE) & GONE != 0
    }

    /// The read position and the write position, as they were at one
    /// instant (under `OverwriteOldest`, where the producer also moves the
    /// read position, the read position is loaded again after the write
    /// position and the pair is taken only if it did not move).
    #[inline]
    fn positions(&self) -> (usize, usize) {
        let header = self.shared.header();
        if !self.overwrite || !OVERWRITE_FRESH_READ {
            let available = if CONSUMER_CACHE_REFRESH {
                // A broken position reads as an empty ring.
                self.available_from(self.read, header.write.load(OBSERVE_WRITE))
                    .unwrap_or(0)
            } else {
                self.cached.get()
            };
            self.cached.set(available);
            return (self.read, self.geometry.advance(self.read, available));
        }
        if self.check_peer {
            return self.checked_positions();
        }
        loop {
            let discards = header.discards.load(OBSERVE_DISCARDS);
            let read = (header.read.load(OBSERVE_READ) & !BUSY) as usize;
            let write = header.write.load(OBSERVE_WRITE) as usize;
            let again = (header.read.load(OBSERVE_READ) & !BUSY) as usize;
            let discards_again = header.discards.load(OBSERVE_DISCARDS);
            // Lock-free: it retries only when the producer discarded blocks
            // between the loads. Only a discard moves the read position
            // while the consumer is here. One that completed between the two
            // read loads changes the read position; several that bring it
            // back to the same value (twice the capacity discarded) change
            // the discard count, which the producer stores after each move.
            if !CONSISTENT_POSITIONS
                || (read == again
                    && (!CHECK_DISCARDS || discards == discards_again)
                    && self.geometry.distance(read, write) <= self.geometry.capacity)
            {
                return (read, write);
            }
        }
    }

    /// Ends a read that saw a protocol error: clears the flag and publishes
    /// the right read position again (if the broken value was this side's
    /// own field, overwritten, the producer would otherwise see a full ring
    /// until the next read that takes data).
    #[cold]
    fn after_protocol_error(&mut self) {
        self.fault.set(false);
        if !self.overwrite {
            self.shared
                .header()
                .read
                .store(self.read as u32, PUBLISH_READ);
        }
    }

    /// [`positions`](Self::positions) in shared memory under
    /// `OverwriteOldest`: the same loads, each position checked before use,
    /// and a pair that never settles is a protocol error rather than a
    /// reason to spin forever.
    #[cold]
    #[inline(never)]
    fn checked_positions(&self) -> (usize, usize) {
        let header = self.shared.header();
        let mut tries = 0u32;
        loop {
            let discards = header.discards.load(OBSERVE_DISCARDS);
            let read = (header.read.load(OBSERVE_READ) & !BUSY) as usize;
            let write = header.write.load(OBSERVE_WRITE) as usize;
            let again = (header.read.load(OBSERVE_READ) & !BUSY) as usize;
            let discards_again = header.discards.load(OBSERVE_DISCARDS);
            tries += 1;
            let settled = read == again && discards == discards_again;
            if let Some(pair) = self.checked_pair(read, write, again, settled, tries) {
                return pair;
            }
        }
    }

    /// For [`checked_positions`](Self::checked_positions): the pair to use,
    /// or `None` to load again (the producer discarded between the loads).
    /// Positions that break the protocol, or a pair that does not settle
    /// within a bound, read as an empty ring (counted).
    fn checked_pair(
        &self,
        read: usize,
        write: usize,
        again: usize,
        settled: bool,
        tries: u32,
    ) -> Option<(usize, usize)> {
        let g = &self.geometry;
        let in_range = |p: usize| p < g.span && g.whole_blocks_small(p);
        if !in_range(read) || !in_range(again) || (!settled && tries > OVERWRITE_PAIR_TRIES) {
            self.protocol_error();
            return Some((self.read, self.read));
        }
        if !settled {
            return None;
        }
        // `write` came from a `u32`, so the conversion is exact.
        match self.available_from(read, write as u32) {
            Some(_) => Some((read, write)),
            // Counted by `available_from`.
            None => Some((read, read)),
        }
    }

    /// Bytes buffered now (whole blocks): never more than the capacity, and
    /// a value that was true at one instant during the call. Under
    /// `OverwriteOldest` the producer may discard some before the next read.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 64))?;
    /// let _ = tx.write(&[0; 12])?;
    /// assert_eq!(rx.available(), 12);
    /// let mut out = [0u8; 8];
    /// let _ = rx.read(&mut out)?;
    /// assert_eq!(rx.available(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn available(&self) -> usize {
        let (read, write) = self.positions();
        self.geometry.distance(read, write)
    }

    /// Whether the consumer delivers data (streaming) rather than waiting for
    /// its start or restart threshold (priming).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 64).start_threshold(8))?;
    /// let mut out = [0u8; 4];
    /// let _ = tx.write(&[0; 4])?;
    /// let _ = rx.read(&mut out)?;
    /// assert!(!rx.is_streaming()); // 4 bytes buffered, 8 needed
    /// let _ = tx.write(&[0; 4])?;
    /// let _ = rx.read(&mut out)?;
    /// assert!(rx.is_streaming());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Whether the producer finished the stream and everything was read.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 64))?;
    /// let _ = tx.write(&[0; 4])?;
    /// let _ = tx.finish();
    /// assert!(!rx.is_end_of_stream()); // 4 bytes still to read
    /// let mut out = [0u8; 4];
    /// let _ = rx.read(&mut out)?;
    /// assert!(rx.is_end_of_stream());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_end_of_stream(&self) -> bool {
        // Before the positions: if the end is seen, so is the last write.
        self.finished() && self.available() == 0
    }

    /// Whether the producer marked the end of the stream.
    #[inline]
    fn finished(&self) -> bool {
        finished_in(self.shared.header())
    }

    /// The counters, read without locks (see [`Counters`] for how).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 64))?;
    /// let _ = tx.write(&[0; 8])?;
    /// let mut out = [0u8; 12];
    /// let _ = rx.read(&mut out)?;
    /// let c = rx.counters();
    /// assert_eq!((c.written, c.read, c.silence_underrun, c.underruns), (8, 8, 4, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn counters(&self) -> Counters {
        let header = self.shared.header();
        let producer = self.shared.peer_counters(&header.producer_counters);
        if producer.is_none() {
            self.protocol_errors
                .set(self.protocol_errors.get().wrapping_add(1));
        }
        Counters::from_sides(
            producer.unwrap_or_default(),
            self.tally.values(),
            self.protocol_errors.get(),
        )
    }

    /// Whether a read that finds `available` bytes delivers any.
    #[inline]
    fn delivers(&self, available: usize, finished: bool) -> bool {
        available > 0 && (self.streaming || finished || available >= self.threshold)
    }

    /// Starts a read of up to `want` bytes: sees how much is published and,
    /// under `OverwriteOldest`, claims the read position if there is
    /// something to copy, so the producer cannot discard it meanwhile. A
    /// read that will copy nothing (an empty or priming ring) claims nothing,
    /// so it never makes the producer drop its newest data.
    fn begin(&mut self, want: usize) -> View {
        self.fault.set(false);
        let header = self.shared.header();
        if self.overwrite {
            // Only the consumer sets the claim bit, and every read releases
            // it, so a bit still set here is the claim of a read grant that
            // was leaked (`mem::forget`). While it is set the producer leaves
            // the read position alone, so it is this side's to release;
            // otherwise the claim below would never succeed.
            let raw = header.read.load(Ordering::Relaxed);
            if raw & BUSY != 0 {
                header.read.store(raw & !BUSY, PUBLISH_READ);
            }
        }
        // Before the write position: if the end is seen, so is the last write.
        let finished = self.finished();
        loop {
            let (read, write) = self.positions();
            let available = self.geometry.distance(read, write);
            let view = View::new(read, available, finished, false);
            let copies = want > 0 && self.delivers(available, finished);
            if !self.overwrite || !USE_CLAIM || (CLAIM_ONLY_TO_COPY && !copies) {
                return view;
            }
            // Lock-free: the claim fails only when the producer discarded
            // blocks since the positions were read.
            let raw = read as u32;
            if header
                .read
                .compare_exchange(raw, raw | BUSY, CLAIM_CAS, Ordering::Relaxed)
                .is_ok()
            {
                // Again after the claim, for the newest data: while the claim
                // holds, the producer only adds.
                let write = header.write.load(OBSERVE_WRITE);
                let available = if self.check_peer {
                    // A broken position reads as an empty ring (the claim
                    // is released by `end` all the same).
                    self.available_from(read, write).unwrap_or(0)
                } else {
                    self.geometry.distance(read, write as usize)
                };
                return View::new(view.read, available, view.finished(), true);
            }
        }
    }

    /// Ends a read of `n` bytes: publishes the read position, which also
    /// drops the claim. A read that copied nothing and holds no claim stores
    /// nothing (under `OverwriteOldest` the producer may have moved it).
    #[inline]
    fn end(&mut self, view: View, n: usize) {
        self.read = self.geometry.advance(view.read, n);
        if !self.overwrite || !OVERWRITE_FRESH_READ {
            // For `read`'s fast path (under `OverwriteOldest` the read
            // position is the header's).
            self.read_offset = self.geometry.offset(self.read);
        }
        self.cached.set(view.available - n);
        if n > 0 || view.claimed() {
            self.shared
                .header()
                .read
                .store(self.read as u32, PUBLISH_READ);
        }
    }

    /// Priming: bytes this read may deliver.
    fn gate(&mut self, view: &View) -> usize {
        if !self.streaming
            && (view.finished() || (view.available > 0 && view.available >= self.threshold))
        {
            self.set_streaming(true);
        }
        if self.streaming {
            view.available
        } else {
            0
        }
    }

    /// Makes the counters changed since the last call visible to readers.
    #[inline(always)]
    fn publish_counters(&mut self) {
        self.tally.publish(&self.shared.header().consumer_counters);
    }

    /// Goes back to priming if the policy says so.
    fn ran_dry(&mut self) {
        if let ReArm::Prime { restart_threshold } = self.rearm {
            self.set_streaming(false);
            self.threshold = restart_threshold;
        }
    }

    /// Starts or stops streaming, and with it `read`'s fast path.
    #[inline]
    fn set_streaming(&mut self, on: bool) {
        self.streaming = on;
        self.fast = on && (!self.overwrite || !OVERWRITE_FRESH_READ) && !self.check_peer;
        self.fast_overwrite = on && self.overwrite && OVERWRITE_FRESH_READ && !self.check_peer;
    }

    /// The low-watermark edge: re-armed when the fill is at or above it,
    /// reported once when it falls below.
    #[inline]
    fn low_watermark_edge(&mut self, before: usize, after: usize) -> bool {
        // Without branches. `below_low_watermark` says whether the last
        // read left the fill below: this read reports the edge if it leaves
        // it below and either the last one did not or the fill was back at
        // or above it before this read (re-armed by writes meanwhile).
        let below = after < self.low_watermark;
        let edge = below & ((before >= self.low_watermark) | !self.below_low_watermark);
        self.below_low_watermark = below;
        edge
    }

    /// [`low_watermark_edge`](Self::low_watermark_edge) for a read that
    /// leaves the fill at `level`, where it found it (silence of an empty or
    /// priming ring): the same edge, with the flag stored only if it
    /// changes (see `read_silence`).
    #[inline(always)]
    fn low_watermark_edge_at(&mut self, level: usize) -> bool {
        let below = level < self.low_watermark;
        // `level >= low_watermark` is `!below`: the edge needs `below`.
        let edge = below & !self.below_low_watermark;
        if below != self.below_low_watermark {
            self.below_low_watermark = below;
        }
        edge
    }

    /// Copies the ring from position `pos` into `dst`, across the wrap.
    #[inline]
    fn copy_at(&self, pos: usize, dst: &mut [u8]) {
        let offset = self.geometry.offset(pos);
        if self.shared.untrusted() {
            self.copy_at_with::<true>(offset, dst);
        } else {
            self.copy_at_with::<false>(offset, dst);
        }
    }

    /// Copies the ring from storage offset `offset` into `dst`. A copy that
    /// stops before the end of the storage is one `memcpy` here; one that
    /// crosses it is out of line, so that the caller saves no registers to
    /// the stack around the call (as the producer's `copy_at_with`).
    #[inline(always)]
    fn copy_at_with<const HARDENED: bool>(&self, offset: usize, dst: &mut [u8]) {
        if dst.len() <= self.geometry.capacity - offset {
            // SAFETY: the range is inside the storage (it ends at or before
            // the end) and inside the published region this read observed
            // (and, under `OverwriteOldest`, claimed), which the producer
            // does not write until the read position moves. `HARDENED` is
            // the handle's (the callers ask `untrusted`, or know the answer
            // from `fast`).
            unsafe { self.shared.copy_out_as::<HARDENED>(offset, dst) }
        } else {
            self.copy_across_end::<HARDENED>(offset, dst);
        }
    }

    /// [`copy_at_with`](Self::copy_at_with) for a copy that crosses the end
    /// of the storage: the part up to the end, then the rest from the start.
    #[cold]
    #[inline(never)]
    fn copy_across_end<const HARDENED: bool>(&self, offset: usize, dst: &mut [u8]) {
        let first = dst.len().min(self.geometry.capacity - offset);
        let (a, b) = dst.split_at_mut(first);
        // SAFETY: both ranges are inside the storage and inside the published
        // region this read observed (and, under `OverwriteOldest`, claimed),
        // which the producer does not write until the read position moves.
        // `HARDENED` is the handle's, as in `copy_at_with`.
        unsafe {
            self.shared.copy_out_as::<HARDENED>(offset, a);
            if !b.is_empty() {
                self.shared.copy_out_as::<HARDENED>(0, b);
            }
        }
    }

    /// The one copying read: data into `d0` then `d1`, then (if `fill`)
    /// silence for the rest.
    #[inline(always)]
    fn read_parts(&mut self, d0: &mut [u8], d1: &mut [u8], fill: bool) -> ReadOutcome {
        let view = self.begin(d0.len() + d1.len());
        self.read_view(view, d0, d1, fill)
    }

    /// The rest of a read once `view` is known: copy, release, silence,
    /// counters, outcome.
    #[inline(always)]
    fn read_view(&mut self, view: View, d0: &mut [u8], d1: &mut [u8], fill: bool) -> ReadOutcome {
        let want = d0.len() + d1.len();
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
        // The claim ends here: the silence and the bookkeeping follow it.
        self.end(view, n);

        self.tally.add(field::READ, n as u64);
        let after = view.available - n;
        let short = want - n;
        let mut underrun = false;
        let mut silence = 0;
        if short > 0 {
            let counter = if !self.streaming {
                field::SILENCE_PRIMING
            } else if view.finished() {
                field::SILENCE_END
            } else {
                underrun = true;
                self.tally.add(field::UNDERRUNS, 1);
                field::SILENCE_UNDERRUN
            };
            if fill {
                self.silence.fill(&mut d0[n0..]);
                if n1 < d1.len() {
                    self.silence.fill(&mut d1[n1..]);
                }
                self.tally.add(counter, short as u64);
                silence = short;
            }
            if underrun {
                self.ran_dry();
            }
        }
        self.publish_counters();
        let priming = !self.streaming;
        let low_watermark = self.low_watermark_edge(view.available, after);
        let protocol_error = self.fault.get();
        if protocol_error {
            self.after_protocol_error();
        }
        ReadOutcome::packed(
            n,
            silence,
            [
                underrun,
                priming,
                low_watermark,
                view.finished() && after == 0,
                protocol_error,
            ],
        )
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
    /// let config = Config::raw(2, 8).silence(Silence::U8);
    /// let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    /// tx.write(&[1, 2])?;
    /// let mut out = [0u8; 4];
    /// let got = rx.read(&mut out)?;
    /// assert_eq!(out, [1, 2, 0x80, 0x80]);
    /// assert_eq!((got.data, got.silence, got.underrun), (2, 2, true));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(always)]
    pub fn read(&mut self, dst: &mut [u8]) -> Result<ReadOutcome, ReadError> {
        let len = dst.len();
        // The common case, kept short and inlined into the caller:
        // streaming, and it is all there.
        if self.fast {
            // Whole blocks: tested once `len` is known to be at most the
            // capacity (by the cache, or by what is available), as the
            // one-multiplication test needs.
            let cached = self.cached.get();
            if self.cache_covers(len, cached) && self.geometry.whole_blocks_small(len) {
                return Ok(self.take_cached::<false>(dst, cached));
            }
            // Before the write position: if the end is seen, so is the last
            // write.
            let header = self.shared.header();
            let finished = finished_in(header);
            let available = if CONSUMER_CACHE_REFRESH {
                let raw = header.write.load(OBSERVE_WRITE);
                self.geometry.distance(self.read, raw as usize)
            } else {
                cached
            };
            if len <= available && self.geometry.whole_blocks_small(len) {
                self.take_as::<false>(dst, available);
                return Ok(self.took(len, available, finished));
            }
        } else if self.fast_overwrite {
            // `OverwriteOldest`, streaming, in one process: inlined too, so
            // that its read does not pay for a call and the registers the
            // out-of-line paths save.
            if let Some(out) = self.take_claimed(dst) {
                return Ok(out);
            }
        }
        if self.silence_short {
            // Nothing to deliver (an empty ring, or priming below the
            // threshold): silence, inlined as well.
            if let Some(out) = self.read_silence(dst) {
                return Ok(out);
            }
        }
        // Not all there, not streaming, an `OverwriteOldest` read that its
        // short path leaves to the general one, shared memory (where
        // `begin` checks the write position, and a hardened handle loads it
        // once), or an error. Its result comes back through `slot`:
        // returned in memory, it would make the caller merge every path's
        // outcome there, and the short paths would store theirs too.
        let mut slot = Ok(ReadOutcome::default());
        self.read_general(dst, &mut slot);
        slot
    }

    /// [`read`](Self::read) when none of its short paths applies: not all
    /// there, not streaming, an `OverwriteOldest` read its short path left,
    /// shared memory, or an error; the result into `slot`. Out of line, so
    /// that the short paths do not pay for the registers it needs.
    #[inline(never)]
    fn read_general(&mut self, dst: &mut [u8], slot: &mut Result<ReadOutcome, ReadError>) {
        *slot = self.read_general_result(dst);
    }

    /// [`read_general`](Self::read_general)'s result.
    #[inline(always)]
    fn read_general_result(&mut self, dst: &mut [u8]) -> Result<ReadOutcome, ReadError> {
        self.check_blocks(dst.len())?;
        if self.check_peer && self.streaming && !self.overwrite {
            return Ok(if self.shared.untrusted() {
                self.read_attached::<true>(dst)
            } else {
                self.read_attached::<false>(dst)
            });
        }
        let fill = self.underrun == Underrun::SilenceFill;
        Ok(self.read_parts(dst, &mut [], fill))
    }

    /// A read under [`Underrun::SilenceFill`] that delivers no data, in one
    /// process and not under `OverwriteOldest` (where the producer moves
    /// the read position, and an empty ring takes the general path's
    /// consistent look): the ring is empty (an underrun if streaming), or
    /// priming and not yet at its threshold. Only silence and its counters
    /// change, so it looks once, publishes, and fills (priming silence in
    /// place from the second such read on, see [`Tally`]). `None` leaves
    /// the read to the general path: data to deliver, the end of the
    /// stream, an empty or partial-block destination.
    #[inline(always)]
    fn read_silence(&mut self, dst: &mut [u8]) -> Option<ReadOutcome> {
        let len = dst.len();
        let g = self.geometry;
        if len == 0 || u32::try_from(len).is_err() || !g.whole_blocks_small(len) {
            return None;
        }
        let header = self.shared.header();
        // Before the write position: if the end is seen, so is the last
        // write.
        if finished_in(header) {
            return None;
        }
        let available = if CONSUMER_CACHE_REFRESH {
            g.distance(self.read, header.write.load(OBSERVE_WRITE) as usize)
        } else {
            self.cached.get()
        };
        if self.delivers(available, false) {
            return None;
        }
        // The bookkeeping first, the fill last: across the fill's call only
        // the outcome stays live, and the fill's own stores, which fill the
        // store buffer, are not followed by more. (The counters may show the
        // silence a moment before the buffer holds it; only the caller sees
        // the buffer, when the call returns.) The cache is stored only if
        // it changed: on an empty ring this read repeats with the same
        // values, and a store costs time even when it changes nothing.
        if self.cached.get() != available {
            self.cached.set(available);
        }
        let underrun = self.streaming;
        if self.streaming {
            // Empty while streaming: an underrun (two counters).
            self.tally.add(field::UNDERRUNS, 1);
            self.tally.add(field::SILENCE_UNDERRUN, len as u64);
            self.ran_dry();
            self.publish_counters();
        } else {
            self.tally.add(field::SILENCE_PRIMING, len as u64);
            self.tally
                .publish_alone(field::SILENCE_PRIMING, &header.consumer_counters);
        }
        let low_watermark = self.low_watermark_edge_at(available);
        let out = ReadOutcome::packed(
            0,
            len,
            [underrun, !self.streaming, low_watermark, false, false],
        );
        self.silence.fill(dst);
        Some(out)
    }

    /// A streaming read of whole blocks on shared memory (not
    /// `OverwriteOldest`): as `read`'s fast path, with the write position
    /// checked and loaded at most once. The cache serves if it covers the
    /// read (what it holds was checked when it was loaded); else one look,
    /// and a broken position reads as an empty ring.
    #[inline(always)]
    fn read_attached<const HARDENED: bool>(&mut self, dst: &mut [u8]) -> ReadOutcome {
        let len = dst.len();
        let cached = self.cached.get();
        if self.cache_covers(len, cached) {
            return self.take_cached::<HARDENED>(dst, cached);
        }
        self.fault.set(false);
        let header = self.shared.header();
        // Before the write position: if the end is seen, so is the last
        // write.
        let finished = finished_in(header);
        let available = self
            .available_from(self.read, header.write.load(OBSERVE_WRITE))
            .unwrap_or(0);
        if len <= available && !self.fault.get() {
            self.take_as::<HARDENED>(dst, available);
            return self.took(len, available, finished);
        }
        // Not enough, or broken: finish with this one look.
        let view = View::new(self.read, available, finished, false);
        let fill = self.underrun == Underrun::SilenceFill;
        self.read_view(view, dst, &mut [], fill)
    }

    /// Whether a read of `len` bytes has the outcome a fresh look at the
    /// write position would give, from the cached `cached` bytes alone:
    /// streaming (checked by the caller), more buffered than it takes (so
    /// no end of stream and no underrun), and at least the low watermark left
    /// (so no edge to report, and the edge re-arms). The buffered bytes are
    /// at least the cached ones, so every fresh value would agree.
    #[inline(always)]
    fn cache_covers(&self, len: usize, cached: usize) -> bool {
        if CACHE_EXACT_EDGES {
            len < cached && cached - len >= self.low_watermark
        } else {
            len > 0 && len <= cached
        }
    }

    /// A read from the cache alone (`cache_covers`): more is buffered than
    /// this read takes (no end of stream), and what stays is at or above
    /// the low watermark (no edge, and the edge re-arms). The buffered bytes
    /// are at least the cached ones, so a fresh look would give the same
    /// outcome.
    #[inline(always)]
    fn take_cached<const HARDENED: bool>(&mut self, dst: &mut [u8], cached: usize) -> ReadOutcome {
        let len = dst.len();
        self.take_as::<HARDENED>(dst, cached);
        let edge = if CACHE_EXACT_EDGES {
            self.below_low_watermark = false;
            false
        } else {
            self.low_watermark_edge(cached, cached - len)
        };
        ReadOutcome::packed(len, 0, [false, false, edge, false, false])
    }

    /// The short read: copies `dst.len() <= available` bytes from `read`,
    /// publishes the new read position and counts them.
    #[inline(always)]
    fn take_as<const HARDENED: bool>(&mut self, dst: &mut [u8], available: usize) {
        let len = dst.len();
        self.copy_at_with::<HARDENED>(self.read_offset, dst);
        (self.read, self.read_offset) =
            self.geometry
                .advance_with_offset(self.read, self.read_offset, len);
        self.took_whole(len, available - len);
    }

    /// The bookkeeping of a whole read of `len` bytes that moved `read` on:
    /// caches the `left` bytes, publishes the read position (which releases
    /// a claim under `OverwriteOldest`), counts the bytes.
    #[inline(always)]
    fn took_whole(&mut self, len: usize, left: usize) {
        self.cached.set(left);
        self.shared
            .header()
            .read
            .store(self.read as u32, PUBLISH_READ);
        self.tally.add(field::READ, len as u64);
        self.publish_counters();
    }

    /// `read`'s fast path under `OverwriteOldest`: streaming, and it is all
    /// there. The producer moves the read position too, so the consumer
    /// claims it (the busy bit, [`claim_fresh`](Self::claim_fresh)) only
    /// once it has seen the data to copy, so that a read that copies
    /// nothing claims nothing, and loads the write position again under the
    /// claim, when only the producer's additions move it: the pair is then
    /// one instant's, as in [`begin`](Self::begin), without its checks
    /// around unclaimed loads. `None` leaves the read to the general path:
    /// not enough data (as far as it can tell), a claim left by a leaked
    /// grant, a claim lost to discards, an empty or partial-block
    /// destination.
    #[inline(always)]
    fn take_claimed(&mut self, dst: &mut [u8]) -> Option<ReadOutcome> {
        let len = dst.len();
        let g = self.geometry;
        if len == 0 || len > g.capacity || !g.whole_blocks_small(len) {
            return None;
        }
        let view = self.claim_fresh(len)?;
        self.copy_at_with::<false>(g.offset(view.read), dst);
        self.read = g.advance(view.read, len);
        // Releases the claim.
        self.took_whole(len, view.available - len);
        Some(self.took(len, view.available, view.finished()))
    }

    /// The claim of a streaming read or read grant under `OverwriteOldest`
    /// in one process, for at least `need` bytes that the caller checked
    /// are whole blocks, `0 < need <= capacity`. It loads the end flag and
    /// the write position and, if `need` bytes look buffered, claims the
    /// read position with one compare-and-swap that expects this handle's
    /// own last one (what it last published or saw): unless the producer
    /// discarded since, the claim needs no load of the read position
    /// first, and so no second transfer of its line when the producer has
    /// been loading it. If the producer did discard, the failed swap
    /// returns where the read position is now, and the claim is tried once
    /// more from there. Under the claim only the producer's additions move
    /// the write position, so its load then pairs with the read position
    /// as one instant's (the first load only said whether to claim: a
    /// producer that discarded twice the capacity meanwhile brings the read
    /// position back to the same value, with other data behind it).
    /// `None` (nothing claimed) leaves the caller to the general path: too
    /// little (as far as this look can tell), a claim left by a leaked
    /// grant, a claim lost twice to discards.
    #[inline(always)]
    fn claim_fresh(&self, need: usize) -> Option<View> {
        let g = self.geometry;
        let header = self.shared.header();
        // Before the write position: if the end is seen, so is the last
        // write.
        let finished = finished_in(header);
        let write = header.write.load(OBSERVE_WRITE) as usize;
        let mut read = self.read;
        if need > g.distance(read, write) {
            return None;
        }
        let mut raw = read as u32;
        if USE_CLAIM {
            // Lock-free: fails only if the producer discarded since this
            // handle last saw the read position (or a leaked grant's claim
            // is still set).
            if let Err(now) =
                header
                    .read
                    .compare_exchange(raw, raw | BUSY, CLAIM_CAS, Ordering::Relaxed)
            {
                read = now as usize;
                if now & BUSY != 0 || need > g.distance(read, write) {
                    return None;
                }
                raw = now;
                header
                    .read
                    .compare_exchange(raw, raw | BUSY, CLAIM_CAS, Ordering::Relaxed)
                    .ok()?;
            }
        }
        let available = if CLAIM_LOOKS_AGAIN {
            g.distance(read, header.write.load(OBSERVE_WRITE) as usize)
        } else {
            g.distance(read, write)
        };
        if need > available {
            // The first look was not this instant's (the producer moved the
            // read position away and back since): release the claim and
            // let the general path look again.
            header.read.store(raw, PUBLISH_READ);
            return None;
        }
        Some(View::new(read, available, finished, true))
    }

    /// The outcome of a read that took all `len` bytes it asked for out of
    /// `available` (so no silence and no underrun): the low-watermark edge,
    /// and the end of the stream if `finished` and nothing is left.
    #[inline(always)]
    fn took(&mut self, len: usize, available: usize, finished: bool) -> ReadOutcome {
        let after = available - len;
        let low_watermark = self.low_watermark_edge(available, after);
        ReadOutcome::packed(
            len,
            0,
            [false, false, low_watermark, finished && after == 0, false],
        )
    }

    /// Reads typed samples; `dst` must hold whole frames, and counts in the
    /// outcome are bytes. If the ring was made with a
    /// [`Format`](crate::Format), `T` must be its sample type; a ring made
    /// with [`Config::raw`](crate::Config::raw) takes any [`Sample`] type
    /// whose size divides the block.
    ///
    /// # Errors
    ///
    /// [`ReadError::SampleFormat`], [`ReadError::SampleSize`] or
    /// [`ReadError::NotWholeBlocks`]; nothing is read then.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Format, ReadError, SampleFormat};
    ///
    /// let (mut tx, mut rx) = pcm_ring::heap(&Config::new(Format::new(SampleFormat::I16, 2), 16))?;
    /// let _ = tx.write_samples(&[1i16, -1, 2, -2])?;
    /// let mut floats = [0f32; 2];
    /// assert_eq!(
    ///     rx.read_samples(&mut floats),
    ///     Err(ReadError::SampleFormat { expected: SampleFormat::I16, found: SampleFormat::F32 })
    /// );
    /// let mut out = [0i16; 4];
    /// let _ = rx.read_samples(&mut out)?;
    /// assert_eq!(out, [1, -1, 2, -2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_samples<T: Sample>(&mut self, dst: &mut [T]) -> Result<ReadOutcome, ReadError> {
        check_sample::<T>(self.sample, self.geometry.block_align)
            .map_err(SampleMismatch::read_error)?;
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
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(2, 16))?;
    /// let _ = tx.write(&[1, 1, 2, 2])?;
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
    /// Under `OverwriteOldest` a grant with data holds the consumer's claim:
    /// while it lives, overrunning writes drop their newest data instead of
    /// discarding the blocks being read. Release it promptly. A grant leaked
    /// with `mem::forget` keeps the claim until the consumer's next read,
    /// which releases it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(2, 8))?;
    /// let _ = tx.write(&[1, 2, 3, 4])?;
    /// let grant = rx.read_grant(usize::MAX);
    /// let (a, b) = grant.as_slices();
    /// assert_eq!((a, b), (&[1, 2, 3, 4][..], &[][..]));
    /// let _ = grant.release(2)?;
    /// assert_eq!(rx.available(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn read_grant(&mut self, max: usize) -> ReadGrant<'_, 'a> {
        let want = self.geometry.floor_blocks(max);
        let cached = self.cached.get();
        if self.streaming
            && (!self.overwrite || !OVERWRITE_FRESH_READ)
            && self.cache_covers(want, cached)
        {
            // As in `read`: the release's outcome is the one a fresh look
            // would give, for any length it releases.
            let view = View::new(self.read, cached, false, false);
            return ReadGrant {
                consumer: self,
                view,
                len: want,
            };
        }
        let view = if self.fast {
            // One look, as in `read`'s fast path.
            let header = self.shared.header();
            let finished = finished_in(header);
            let write = header.write.load(OBSERVE_WRITE) as usize;
            let available = if CONSUMER_CACHE_REFRESH {
                self.geometry.distance(self.read, write)
            } else {
                cached
            };
            self.cached.set(available);
            View::new(self.read, available, finished, false)
        } else if self.fast_overwrite && want > 0 {
            // As in `read`: claimed with one swap if at least a block is
            // there; else the general path.
            match self.claim_fresh(self.geometry.block_align) {
                Some(view) => view,
                None => self.begin(want),
            }
        } else {
            self.begin(want)
        };
        let deliverable = self.gate(&view);
        if self.streaming && view.available == 0 && !view.finished() {
            self.ran_dry();
        }
        let len = deliverable.min(want);
        ReadGrant {
            consumer: self,
            view,
            len,
        }
    }
}

/// Whether the producer marked the end of the stream in `header`.
#[inline(always)]
fn finished_in(header: &Header) -> bool {
    header.producer_flags.load(OBSERVE_FINISH) & FINISHED != 0
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

impl Drop for Consumer<'_> {
    fn drop(&mut self) {
        self.shared
            .header()
            .consumer_flags
            .store(GONE, PUBLISH_GONE);
    }
}

/// Buffered data borrowed from the ring by [`Consumer::read_grant`]. Read
/// it, then [`release`](Self::release); dropping it releases nothing.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 16))?;
/// let _ = tx.write(&[1, 2, 3, 4, 5, 6, 7, 8])?;
/// let grant = rx.read_grant(8);
/// let sum: u32 = grant.as_slices().0.iter().map(|&b| u32::from(b)).sum();
/// assert_eq!(sum, 36);
/// let got = grant.release(8)?;
/// assert_eq!(got.data, 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a grant releases nothing unless `release` is called"]
pub struct ReadGrant<'c, 'a> {
    consumer: &'c mut Consumer<'a>,
    view: View,
    len: usize,
}

impl core::fmt::Debug for ReadGrant<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReadGrant")
            .field("len", &self.len)
            .field("available", &self.view.available)
            .field("end_of_stream", &self.view.finished())
            .finish_non_exhaustive()
    }
}

impl ReadGrant<'_, '_> {
    /// Bytes granted (whole blocks).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 16))?;
    /// let _ = tx.write(&[0; 12])?;
    /// let grant = rx.read_grant(10); // rounded down to whole frames
    /// assert_eq!((grant.len(), grant.is_empty()), (8, false));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was granted.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 16))?;
    /// assert!(rx.read_grant(16).is_empty()); // nothing buffered
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The granted data as two slices: the second is non-empty only when the
    /// data wraps around the end of the storage.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(2, 8))?;
    /// let _ = tx.write(&[0; 6])?;
    /// let mut out = [0u8; 6];
    /// let _ = rx.read(&mut out)?;
    /// let _ = tx.write(&[1, 1, 2, 2, 3, 3])?; // wraps after the first frame
    /// let grant = rx.read_grant(6);
    /// assert_eq!(grant.as_slices(), (&[1, 1][..], &[2, 2, 3, 3][..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    #[inline]
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
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::ReadError;
    ///
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 16))?;
    /// let _ = tx.write(&[0; 8])?;
    /// let grant = rx.read_grant(8);
    /// assert_eq!(grant.release(12), Err(ReadError::ReleaseTooLarge { len: 12, granted: 8 }));
    /// let _ = rx.read_grant(8).release(4)?;
    /// assert_eq!(rx.available(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn release(self, len: usize) -> Result<ReadOutcome, ReadError> {
        // `len <= self.len` first: the one-multiplication block test needs
        // a length below the capacity.
        if len > self.len || !self.consumer.geometry.whole_blocks_small(len) {
            self.consumer.check_blocks(len)?;
            return Err(ReadError::ReleaseTooLarge {
                len,
                granted: self.len,
            });
        }
        let mut grant = core::mem::ManuallyDrop::new(self);
        let view = grant.view;
        let consumer = &mut *grant.consumer;
        consumer.end(view, len);
        if len > 0 {
            consumer.tally.add(field::READ, len as u64);
            consumer.publish_counters();
        }
        let after = view.available - len;
        let low_watermark = consumer.low_watermark_edge(view.available, after);
        Ok(ReadOutcome::packed(
            len,
            0,
            [
                false,
                !consumer.streaming,
                low_watermark,
                view.finished() && after == 0,
                false,
            ],
        ))
    }
}

impl Drop for ReadGrant<'_, '_> {
    fn drop(&mut self) {
        self.consumer.end(self.view, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_outcome_puts_each_flag_in_its_field() {
        for bits in 0u8..32 {
            let flag = |i: u8| bits & (1 << i) != 0;
            let flags = [flag(0), flag(1), flag(2), flag(3), flag(4)];
            let (data, silence) = (usize::MAX - usize::from(bits), usize::from(bits) << 3);
            let out = ReadOutcome::packed(data, silence, flags);
            let expected = ReadOutcome {
                data,
                silence,
                underrun: flags[0],
                priming: flags[1],
                low_watermark: flags[2],
                end_of_stream: flags[3],
                protocol_error: flags[4],
            };
            assert_eq!(out, expected, "flags {flags:?}");
        }
    }
}
