//! The producer: the only side that writes data and moves the write position.

use crate::counters::{producer as field, Counters, Tally, PRODUCER_FIELDS};
use crate::format::{check_sample, SampleMismatch};
use crate::header::{Geometry, BUSY, FINISHED, GONE};
use crate::storage::Shared;
use crate::sync::{
    Ordering, OBSERVE_GONE, OBSERVE_READ, OVERWRITE_CAS, PEAK_EXACT, PRODUCER_CACHE_REFRESH,
    PUBLISH_DISCARDS, PUBLISH_FINISH, PUBLISH_GONE, PUBLISH_WRITE,
};
use crate::{Config, Overrun, Sample, SampleFormat, WriteError};
use core::cell::Cell;
use core::mem::MaybeUninit;

/// What a write did with its input.
///
/// Every byte of the input is in exactly one of `written`, `dropped` or
/// `held` (a [`write_stream`](Producer::write_stream) can also complete a
/// partial block held from an earlier call, which then counts in `written`).
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, Overrun};
///
/// let (mut tx, _rx) = pcm_ring::heap(&Config::raw(4, 8).overrun(Overrun::Truncate))?;
/// let out = tx.write_stream(&[0; 14])?; // 3 frames and 2 bytes; room for 2 frames
/// assert_eq!((out.written, out.dropped, out.held), (8, 6, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "the outcome says how much was written, dropped, overwritten or held"]
pub struct WriteOutcome {
    /// Bytes committed to the ring in whole blocks, visible to the consumer.
    pub written: usize,
    /// Bytes of the input that will never be read (the overrun policy, or the
    /// rest of a partial block dropped by an earlier overrun).
    pub dropped: usize,
    /// Older unread bytes that `OverwriteOldest` discarded to make room.
    pub overwritten: usize,
    /// Bytes of a trailing partial block now held privately by the producer.
    pub held: usize,
}

impl WriteOutcome {
    /// `written` bytes written, nothing else to report.
    const fn plain(written: usize) -> WriteOutcome {
        WriteOutcome {
            written,
            dropped: 0,
            overwritten: 0,
            held: 0,
        }
    }
}

/// The producing half of a ring. It is [`Send`]: move it to the thread, IOCTL
/// path or decoder that makes the audio.
///
/// Dropping the producer marks the end of the stream (see [`finish`](Self::finish))
/// and tells the consumer it is gone ([`Consumer::is_abandoned`](crate::Consumer::is_abandoned)).
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, Format, SampleFormat};
///
/// // 16-bit stereo, 480 frames (10 ms at 48 kHz).
/// let config = Config::new(Format::new(SampleFormat::I16, 2), 480);
/// let (mut producer, mut consumer) = pcm_ring::heap(&config)?;
/// let feeder = std::thread::spawn(move || {
///     let period = [0i16; 2 * 240];
///     producer.write_samples(&period).map(|out| out.written)
/// });
/// assert_eq!(feeder.join().unwrap()?, 960);
/// assert_eq!(consumer.available(), 960);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Producer<'a> {
    shared: Shared<'a>,
    geometry: Geometry,
    overrun: Overrun,
    /// The declared sample format, if the configuration has one.
    sample: Option<SampleFormat>,
    /// The write position; the header holds the published copy.
    write: usize,
    /// `write`'s offset into the storage.
    write_offset: usize,
    /// Bytes of a partial block stored (unpublished) at `write`.
    held: usize,
    /// Bytes of a partial block dropped by an overrun still to discard from
    /// the stream, so that the next block starts on a frame boundary.
    skip: usize,
    finished: bool,
    /// `finished || held > 0 || skip > 0`, or a handle on shared memory
    /// (whose positions are checked, and copies atomic if hardened): the
    /// whole-block write's fast path checks this one flag (kept up to date
    /// by `update_blocked`), and then needs to ask neither.
    blocked: bool,
    /// The free space from `write` as of the read position last loaded.
    /// Only the consumer (and, under `OverwriteOldest`, this producer's own
    /// discards, which update it) moves the read position, and only
    /// forward, so this never exceeds the true free space: a write that
    /// fits in it fits without looking, and the read position is loaded
    /// again only when it says there is not enough (or for the peak fill,
    /// see [`publish`](Self::publish)). A `Cell` so that [`free`](Self::free)
    /// and [`fill`](Self::fill), which load it anyway, refresh it.
    room: Cell<usize>,
    /// `capacity - peak fill`: a write that leaves less free space than
    /// this may have raised the peak.
    peak_room: usize,
    /// The counters only the producer writes.
    tally: Tally<PRODUCER_FIELDS>,
    /// Read positions from the peer that broke the protocol.
    protocol_errors: Cell<u64>,
    /// Whether the operation under way loaded the read position (hardened
    /// handles only; see `loaded_already`).
    loaded: Cell<bool>,
    /// `!BUSY` under `OverwriteOldest` (only its consumer sets the claim
    /// bit), else all ones: a set bit 31 is then an out-of-range position.
    read_mask: u32,
    /// Whether the read position is checked before use: on a ring in
    /// shared memory, where a peer (or anything else with the mapping) can
    /// write it. In one process only this crate's consumer writes it.
    check_peer: bool,
}

// SAFETY: the producer owns its side of the protocol; everything it shares
// with the consumer is either atomics or data ranges the protocol hands over
// with release/acquire pairs.
unsafe impl Send for Producer<'_> {}

impl<'a> Producer<'a> {
    pub(crate) fn new(
        shared: Shared<'a>,
        geometry: Geometry,
        config: &Config,
        start: usize,
    ) -> Self {
        Producer {
            shared,
            geometry,
            overrun: config.overrun,
            sample: config.sample_format(),
            write: start,
            write_offset: geometry.offset(start),
            held: 0,
            skip: 0,
            finished: false,
            blocked: false,
            room: Cell::new(geometry.capacity),
            peak_room: geometry.capacity,
            tally: Tally::new(),
            protocol_errors: Cell::new(0),
            loaded: Cell::new(false),
            read_mask: if config.overrun == Overrun::OverwriteOldest {
                !BUSY
            } else {
                u32::MAX
            },
            check_peer: false,
        }
    }

    /// Loads the read position after attaching to shared memory, where the
    /// ring need not be empty (and the consumer's position is unverified).
    pub(crate) fn attached(mut self) -> Self {
        self.check_peer = true;
        let _ = self.refresh_room();
        self.update_blocked();
        self
    }

    /// The capacity in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = pcm_ring::heap(&pcm_ring::Config::raw(6, 600))?;
    /// assert_eq!((tx.capacity(), tx.block_align()), (600, 6));
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
    /// // 5.1 at 16 bit: 12-byte frames.
    /// let (tx, _rx) = pcm_ring::heap(&Config::new(Format::new(SampleFormat::I16, 6), 100))?;
    /// assert_eq!(tx.block_align(), 12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn block_align(&self) -> usize {
        self.geometry.block_align
    }

    /// Whether the consumer was dropped: nobody will read what is written now.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 64))?;
    /// assert!(!tx.is_abandoned());
    /// drop(rx);
    /// assert!(tx.is_abandoned());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_abandoned(&self) -> bool {
        self.shared.header().consumer_flags.load(OBSERVE_GONE) & GONE != 0
    }

    /// The free space from `write` given the consumer's raw read position,
    /// if that position keeps the protocol: inside position space, at most
    /// the capacity behind `write`, on a block boundary. Anything else
    /// (memory corruption, or a peer across a trust boundary that
    /// misbehaves) is counted and never used as an index.
    #[inline]
    fn room_from(&self, raw: u32) -> Option<usize> {
        let read = (raw & self.read_mask) as usize;
        let g = &self.geometry;
        if !self.check_peer {
            return Some(g.capacity - g.distance(read, self.write));
        }
        // Wrapping: `read` may be anything here; one branch for all three
        // conditions.
        let used = if self.write >= read {
            self.write - read
        } else {
            self.write.wrapping_add(g.span).wrapping_sub(read)
        };
        if (read < g.span) & (used <= g.capacity) & g.whole_blocks_small(used) {
            Some(g.capacity - used)
        } else {
            self.protocol_error();
            None
        }
    }

    /// Counts a protocol error and forgets the cached free space.
    #[cold]
    fn protocol_error(&self) {
        self.protocol_errors
            .set(self.protocol_errors.get().wrapping_add(1));
        self.room.set(0);
    }

    /// Loads the read position and returns the free space from `write`,
    /// refreshing the cached value; `None` (and no free space cached) if the
    /// position broke the protocol.
    #[inline]
    fn try_refresh_room(&self) -> Option<usize> {
        if self.check_peer {
            return self.refresh_room_attached();
        }
        let room = self.fresh_room_in_process();
        self.room.set(room);
        Some(room)
    }

    /// The free space from `write` as of a fresh load of the read position,
    /// which in one process only this crate's consumer writes (not checked;
    /// the cache is not updated).
    #[inline(always)]
    fn fresh_room_in_process(&self) -> usize {
        let raw = self.shared.header().read.load(OBSERVE_READ);
        let g = &self.geometry;
        g.capacity - g.distance((raw & self.read_mask) as usize, self.write)
    }

    /// The free space left after [`publish`](Self::publish) adds `n` bytes,
    /// on shared memory: the read position checked, loaded at most once per
    /// operation by a hardened handle, and `cached` if it broke the
    /// protocol (the write was checked against that).
    #[inline(never)]
    fn publish_room_attached(&self, n: usize, cached: usize) -> usize {
        self.refresh_room_attached()
            .unwrap_or(cached)
            .saturating_sub(n)
    }

    /// [`try_refresh_room`](Self::try_refresh_room) on shared memory: the
    /// position checked, and loaded at most once per operation by a
    /// hardened handle.
    #[inline(never)]
    fn refresh_room_attached(&self) -> Option<usize> {
        if self.loaded_already() {
            return Some(self.room.get());
        }
        let room = self.room_from(self.shared.header().read.load(OBSERVE_READ))?;
        self.room.set(room);
        Some(room)
    }

    /// Whether this operation of a hardened handle loaded the read position
    /// already (and marks that it has now): a hardened handle loads the
    /// peer's position at most once per operation and works with that one
    /// value, so a peer that changes it meanwhile cannot make one operation
    /// act on two. Operations that may load start with `begin_op`.
    #[inline]
    fn loaded_already(&self) -> bool {
        self.shared.untrusted() && self.loaded.replace(true)
    }

    /// Starts an operation that may load the read position.
    #[inline(always)]
    fn begin_op(&self) {
        self.loaded.set(false);
    }

    /// [`try_refresh_room`](Self::try_refresh_room), with a broken position
    /// read as a full ring.
    #[inline]
    fn refresh_room(&self) -> usize {
        self.try_refresh_room().unwrap_or(0)
    }

    /// The cached free space if it holds `want` bytes, else the fresh one;
    /// `None` if the fresh position broke the protocol.
    #[inline(always)]
    fn room_for(&self, want: usize) -> Option<usize> {
        let room = self.room.get();
        if want <= room || !PRODUCER_CACHE_REFRESH {
            Some(room)
        } else {
            self.try_refresh_room()
        }
    }

    /// Brings `blocked` up to date after `finished`, `held` or `skip`
    /// changed (or the handle was attached).
    #[inline]
    fn update_blocked(&mut self) {
        self.blocked = self.finished || self.held > 0 || self.skip > 0 || self.check_peer;
    }

    /// The space reserved by a held partial block.
    #[inline]
    fn reserved(&self) -> usize {
        if self.held > 0 {
            self.geometry.block_align
        } else {
            0
        }
    }

    /// Bytes buffered and visible to the consumer now: a value that was
    /// true when the consumer's position was read (the producer's own
    /// position cannot change meanwhile).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 16))?;
    /// tx.write(&[0; 8])?;
    /// assert_eq!((tx.fill(), tx.free()), (8, 8));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn fill(&self) -> usize {
        self.begin_op();
        self.geometry.capacity - self.refresh_room()
    }

    /// Bytes a write can add now without an overrun: whole blocks, not
    /// counting the block a held partial block occupies.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 16))?;
    /// let _ = tx.write_stream(&[0; 6])?; // one frame and a held half frame
    /// assert_eq!(tx.free(), 8); // 16 - 4 buffered - 4 reserved for the held bytes
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn free(&self) -> usize {
        self.begin_op();
        self.refresh_room().saturating_sub(self.reserved())
    }

    /// How many bytes to write now (whole blocks, at most [`free`](Self::free))
    /// to bring the fill level up to `target` bytes; 0 if it is there already.
    /// Pace the producer with this instead of a wall-clock sleep.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 64))?;
    /// tx.write(&[0; 20])?;
    /// assert_eq!(tx.bytes_to_reach(30), 12); // rounded up to whole blocks
    /// assert_eq!(tx.bytes_to_reach(10), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn bytes_to_reach(&self, target: usize) -> usize {
        let fill = self.fill();
        let target = target.min(self.geometry.capacity);
        if fill >= target {
            return 0;
        }
        let missing = target - fill;
        let up = self
            .geometry
            .floor_blocks(missing + self.geometry.block_align - 1);
        up.min(
            self.geometry
                .capacity
                .saturating_sub(fill + self.reserved()),
        )
    }

    /// The counters, read without locks (see [`Counters`] for how).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 8))?;
    /// let _ = tx.write(&[0; 8])?;
    /// assert!(tx.write(&[0; 4]).is_err()); // Reject: refused, nothing lost
    /// let c = tx.counters();
    /// assert_eq!((c.written, c.refused, c.overruns, c.peak_fill), (8, 1, 0, 8));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn counters(&self) -> Counters {
        let header = self.shared.header();
        let consumer = self.shared.peer_counters(&header.consumer_counters);
        if consumer.is_none() {
            self.protocol_errors
                .set(self.protocol_errors.get().wrapping_add(1));
        }
        Counters::from_sides(
            self.tally.values(),
            consumer.unwrap_or_default(),
            self.protocol_errors.get(),
        )
    }

    /// The trailing partial block held from the last
    /// [`write_stream`](Self::write_stream) (empty if none). The consumer
    /// never sees it until a later stream write completes it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 64))?;
    /// let _ = tx.write_stream(&[1, 2, 3, 4, 5])?;
    /// assert_eq!((tx.held_partial(), rx.available()), (&[5][..], 4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn held_partial(&self) -> &[u8] {
        let offset = self.write_offset;
        // SAFETY: `held < block_align`, the block at `write` is free space
        // owned by the producer (reserved while `held > 0`), and it does not
        // wrap because offsets are whole blocks and the capacity is too.
        unsafe { self.shared.slice(offset, self.held) }
    }

    /// Drops the held partial block, and any rest of a partial block an
    /// overrun dropped, so that the next stream byte starts a new frame (use
    /// it to resynchronise after a source restarts). Returns the bytes
    /// discarded, which count as dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 64))?;
    /// let _ = tx.write_stream(&[1, 2, 3, 4, 5, 6])?;
    /// assert_eq!(tx.discard_partial(), 2);
    /// assert_eq!(tx.write(&[7, 8, 9, 10])?.written, 4); // on a frame boundary again
    /// assert_eq!(tx.counters().dropped, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn discard_partial(&mut self) -> usize {
        let held = self.held;
        self.held = 0;
        self.skip = 0;
        self.update_blocked();
        if held > 0 {
            self.tally.add(field::DROPPED, held as u64);
            self.publish_counters();
        }
        held
    }

    /// Marks the end of the stream: the consumer drains what is buffered,
    /// even below its start threshold, then reports the end. A held partial
    /// block cannot be delivered and is discarded (returned, and counted as
    /// dropped). Later writes fail with [`WriteError::Finished`]. Dropping the
    /// producer does the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::Config;
    ///
    /// let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(2, 16).start_threshold(8))?;
    /// tx.write_stream(&[1, 1, 2])?; // one block and a held byte
    /// assert_eq!(tx.finish(), 1);
    /// let mut out = [0u8; 4];
    /// let got = rx.read(&mut out)?; // below the threshold, but drained
    /// assert_eq!((got.data, got.end_of_stream), (2, true));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(&mut self) -> usize {
        if self.finished {
            return 0;
        }
        let discarded = self.discard_partial();
        self.finished = true;
        self.update_blocked();
        self.shared
            .header()
            .producer_flags
            .store(FINISHED, PUBLISH_FINISH);
        discarded
    }

    /// Whether [`finish`](Self::finish) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 64))?;
    /// assert!(!tx.is_finished());
    /// let _ = tx.finish();
    /// assert!(tx.is_finished());
    /// assert_eq!(tx.write(&[0; 4]), Err(pcm_ring::WriteError::Finished));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Writes whole blocks. The overrun policy decides what happens when they
    /// do not all fit.
    ///
    /// # Errors
    ///
    /// - [`WriteError::NotWholeBlocks`]: `src` is not a whole number of blocks;
    /// - [`WriteError::Full`]: [`Overrun::Reject`] and `src` does not fit;
    /// - [`WriteError::PartialBlockHeld`] / [`WriteError::DiscardingPartialBlock`]:
    ///   a stream write left the stream in the middle of a frame;
    /// - [`WriteError::Finished`].
    ///
    /// In every case nothing was written and nothing buffered was lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, WriteError};
    ///
    /// let (mut tx, _rx) = pcm_ring::heap(&Config::raw(6, 60))?; // 24-bit stereo
    /// assert_eq!(tx.write(&[0; 12])?.written, 12);
    /// assert_eq!(
    ///     tx.write(&[0; 7]),
    ///     Err(WriteError::NotWholeBlocks { len: 7, block_align: 6 })
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(always)]
    pub fn write(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        // The common case, kept short and inlined into the caller: whole
        // blocks that fit in the cached free space, without loading the
        // read position.
        let len = src.len();
        if !self.blocked && len <= self.room.get() && self.geometry.whole_blocks_small(len) {
            return Ok(self.write_trusted(src));
        }
        // The slow path's result comes back through `slot`, and only when
        // it is not a plain write of all of `src`: returned in memory, the
        // caller would merge the two paths' outcomes there, and the fast
        // path's would make the trip through memory too (see `WriteError`'s
        // layout). It is not initialised here: three stores on every slow
        // write, which is most writes across threads (a stale cache).
        let mut slot = MaybeUninit::uninit();
        if self.write_slow(src, &mut slot) {
            return Ok(WriteOutcome::plain(len));
        }
        // SAFETY: `write_slow` initialises `slot` whenever it returns false.
        unsafe { slot.assume_init() }
    }

    /// The fast path's write: `src` is whole blocks that fit in the cached
    /// free space, and the handle is not `blocked`.
    #[inline(always)]
    fn write_trusted(&mut self, src: &[u8]) -> WriteOutcome {
        let len = src.len();
        self.copy_at_trusted(src);
        self.publish_with::<false>(len);
        self.publish_counters();
        WriteOutcome::plain(len)
    }

    /// [`write`](Self::write) when the cached free space is not enough (or
    /// the call is an error). Returns whether it wrote all of `src` with
    /// nothing else to report (the common case: the cache was stale);
    /// otherwise it initialises `slot` with the result.
    #[inline(never)]
    fn write_slow(
        &mut self,
        src: &[u8],
        slot: &mut MaybeUninit<Result<WriteOutcome, WriteError>>,
    ) -> bool {
        match self.look_again(src.len()) {
            Some(Ok(())) => {
                let _ = self.write_trusted(src);
                true
            }
            Some(Err(e)) => {
                slot.write(Err(e));
                false
            }
            None => {
                slot.write(self.write_general(src));
                false
            }
        }
    }

    /// [`write_slow`](Self::write_slow) when a fresh look at the read
    /// position did not settle it.
    #[inline(always)]
    fn write_general(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        self.begin_op();
        self.check_block_boundary()?;
        let len = src.len();
        if self.geometry.rem_blocks(len) != 0 {
            return Err(WriteError::NotWholeBlocks {
                len,
                block_align: self.geometry.block_align,
            });
        }
        let Some(room) = self.room_for(len) else {
            return Err(WriteError::Protocol);
        };
        if len <= room {
            self.copy_at(src);
            self.publish(len);
            self.publish_counters();
            return Ok(WriteOutcome::plain(len));
        }
        if self.overrun == Overrun::Reject {
            // `room` is fresh here: refuse without loading it again.
            self.count_refused();
            return Err(WriteError::Full {
                needed: len,
                free: room,
            });
        }
        self.write_inner(src)
    }

    /// Writes a piece of a byte stream that arrives in arbitrary lengths (an
    /// IOCTL, a pipe, a socket). Whole blocks are committed; a trailing
    /// partial block is held privately until a later call completes it, so
    /// the consumer never sees a partial frame. If an overrun drops a partial
    /// block, the rest of that frame is dropped from the next calls, so the
    /// stream never shifts by a partial block.
    ///
    /// The trailing partial block needs a free block to be held in. Under
    /// `OverwriteOldest` it is the newest data and is kept like any other:
    /// an input longer than the ring keeps its last whole blocks that fit
    /// beside it. Under `Truncate` (and `OverwriteOldest` while the consumer
    /// holds its claim) the whole blocks take the space first and a partial
    /// block that finds none is dropped.
    ///
    /// # Errors
    ///
    /// [`WriteError::Full`] ([`Overrun::Reject`]: everything, including the
    /// trailing partial block, must fit), [`WriteError::Finished`]. Nothing
    /// is written then.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 64))?;
    /// let out = tx.write_stream(&[1, 2, 3, 4, 5, 6])?;
    /// assert_eq!((out.written, out.held), (4, 2));
    /// assert_eq!((rx.available(), tx.held_partial()), (4, &[5, 6][..]));
    /// let out = tx.write_stream(&[7, 8])?;
    /// assert_eq!((out.written, out.held), (4, 0));
    /// assert_eq!(rx.available(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_stream(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        self.begin_op();
        self.write_inner(src)
    }

    /// Writes typed samples as whole blocks. If the ring was made with a
    /// [`Format`](crate::Format), `T` must be its sample type (`f32` samples
    /// cannot go into a ring declared for `i16`); a ring made with
    /// [`Config::raw`] takes any [`Sample`] type whose size divides the block.
    ///
    /// # Errors
    ///
    /// [`WriteError::SampleFormat`] if `T` is not the declared sample format,
    /// [`WriteError::SampleSize`] if (for a raw ring) its size does not divide
    /// the block, and the errors of [`write`](Self::write).
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Format, SampleFormat, WriteError};
    ///
    /// let stereo_i16 = Format::new(SampleFormat::I16, 2);
    /// let (mut tx, mut rx) = pcm_ring::heap(&Config::new(stereo_i16, 16))?;
    /// let _ = tx.write_samples(&[1i16, -1, 2, -2])?;
    /// assert_eq!(
    ///     tx.write_samples(&[0.5f32, -0.5]),
    ///     Err(WriteError::SampleFormat { expected: SampleFormat::I16, found: SampleFormat::F32 })
    /// );
    /// let mut out = [0i16; 4];
    /// let _ = rx.read_samples(&mut out)?;
    /// assert_eq!(out, [1, -1, 2, -2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_samples<T: Sample>(&mut self, samples: &[T]) -> Result<WriteOutcome, WriteError> {
        check_sample::<T>(self.sample, self.geometry.block_align)
            .map_err(SampleMismatch::write_error)?;
        self.write(bytemuck::cast_slice(samples))
    }

    /// Borrows up to `len` bytes of free space (whole blocks) to fill in
    /// place, as at most two slices; [`WriteGrant::commit`] publishes them.
    /// The overrun policy applies to the space asked for: `Reject` refuses if
    /// `len` is not free, `Truncate` grants what is free (the rest counts as
    /// dropped), `OverwriteOldest` discards the oldest blocks to make room
    /// when the grant is made (counted as overwritten even if less is
    /// committed).
    ///
    /// # Errors
    ///
    /// As for [`write`](Self::write).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, rx) = pcm_ring::heap(&pcm_ring::Config::raw(2, 8))?;
    /// let mut grant = tx.grant(6)?;
    /// let (a, b) = grant.as_mut_slices();
    /// a.fill(1);
    /// b.fill(1);
    /// grant.commit(6)?;
    /// assert_eq!(rx.available(), 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn grant(&mut self, len: usize) -> Result<WriteGrant<'_, 'a>, WriteError> {
        // As in `write`: whole blocks that fit in the cached free space.
        if !self.blocked && len <= self.room.get() && self.geometry.whole_blocks_small(len) {
            return Ok(WriteGrant {
                producer: self,
                len,
            });
        }
        self.grant_slow(len)
    }

    /// [`grant`](Self::grant) when the cached free space is not enough (or
    /// the call is an error).
    #[inline(never)]
    fn grant_slow(&mut self, len: usize) -> Result<WriteGrant<'_, 'a>, WriteError> {
        match self.look_again(len) {
            Some(Ok(())) => {
                return Ok(WriteGrant {
                    producer: self,
                    len,
                })
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
        self.begin_op();
        self.check_block_boundary()?;
        let (capacity, block) = (self.geometry.capacity, self.geometry.block_align);
        if self.geometry.rem_blocks(len) != 0 {
            return Err(WriteError::NotWholeBlocks {
                len,
                block_align: block,
            });
        }
        let Some((room, overwritten)) = self.make_room(len.min(capacity)) else {
            return Err(WriteError::Protocol);
        };
        if self.overrun == Overrun::Reject && room < len {
            self.count_refused();
            return Err(WriteError::Full {
                needed: len,
                free: room,
            });
        }
        // `room` is whole blocks: free space, or `len` itself.
        let granted = len.min(room);
        if self.count_overrun(len - granted, overwritten) {
            self.publish_counters();
        }
        Ok(WriteGrant {
            producer: self,
            len: granted,
        })
    }

    #[inline(always)]
    fn check_block_boundary(&self) -> Result<(), WriteError> {
        if !self.finished && (self.held | self.skip) == 0 {
            Ok(())
        } else {
            self.boundary_error()
        }
    }

    #[cold]
    fn boundary_error(&self) -> Result<(), WriteError> {
        if self.finished {
            Err(WriteError::Finished)
        } else if self.held > 0 {
            Err(WriteError::PartialBlockHeld { held: self.held })
        } else if self.skip > 0 {
            Err(WriteError::DiscardingPartialBlock {
                remaining: self.skip,
            })
        } else {
            Ok(())
        }
    }

    /// The second look of `write` and `grant`, when the cached free space
    /// was not enough for `len` bytes: in one process with nothing held or
    /// finished (not `blocked`), one load of the read position, as rtrb and
    /// ringbuf do. Not under `OverwriteOldest`, whose general path loads
    /// the position itself to move it (a look here first would load it
    /// twice on every overwriting write).
    ///
    /// `Some(Ok(()))`: `len` is whole blocks that fit now, so the fast
    /// path's work follows; `Some(Err(Full))`: under [`Overrun::Reject`]
    /// whole blocks that do not fit, refused (and counted) against this
    /// fresh value without loading it again; `None`: the general path
    /// decides (other policies, errors, a blocked handle).
    #[inline(always)]
    fn look_again(&mut self, len: usize) -> Option<Result<(), WriteError>> {
        if self.blocked || self.overrun == Overrun::OverwriteOldest || !PRODUCER_CACHE_REFRESH {
            return None;
        }
        let room = self.fresh_room_in_process();
        self.room.set(room);
        if len <= room {
            // `len` is at most the capacity, as the one-multiplication test
            // needs.
            return self.geometry.whole_blocks_small(len).then_some(Ok(()));
        }
        if self.overrun == Overrun::Reject && self.geometry.rem_blocks(len) == 0 {
            self.count_refused();
            return Some(Err(WriteError::Full {
                needed: len,
                free: room,
            }));
        }
        None
    }

    /// Makes room for `want` bytes (`want <= capacity`) as far as the policy
    /// allows. Returns the free bytes now (the cached value if it is enough,
    /// else a fresh one) and the bytes overwritten.
    ///
    /// `OverwriteOldest`: the consumer's claim (the busy bit) means it may be
    /// copying any of the buffered blocks, so the producer then leaves the
    /// read position alone and the write falls back to dropping the newest.
    /// A failed compare-and-swap means the consumer moved in between; retry
    /// with what it published (lock-free: each retry follows consumer progress).
    fn make_room(&mut self, want: usize) -> Option<(usize, usize)> {
        let cached = self.room.get();
        if want <= cached || !PRODUCER_CACHE_REFRESH || self.loaded_already() {
            return Some((cached, 0));
        }
        let header = self.shared.header();
        let mut raw = header.read.load(OBSERVE_READ);
        loop {
            let read = (raw & !BUSY) as usize;
            let free = self.room_from(raw)?;
            if want <= free || self.overrun != Overrun::OverwriteOldest || raw & BUSY != 0 {
                self.room.set(free);
                return Some((free, 0));
            }
            let deficit = want - free;
            let new_read = self.geometry.advance(read, deficit);
            match header
                .read
                .compare_exchange(raw, new_read as u32, OVERWRITE_CAS, OBSERVE_READ)
            {
                Ok(_) => {
                    // After the move: a consumer whose loads straddle it sees
                    // the count change (see `Consumer::positions`).
                    let discards = header.discards.load(Ordering::Relaxed);
                    header
                        .discards
                        .store(discards.wrapping_add(1), PUBLISH_DISCARDS);
                    self.room.set(want);
                    return Some((want, deficit));
                }
                Err(current) => raw = current,
            }
        }
    }

    /// Copies `src` into the ring at the write position, across the wrap.
    #[inline]
    fn copy_at(&self, src: &[u8]) {
        if self.shared.untrusted() {
            self.copy_at_with::<true>(src);
        } else {
            self.copy_at_with::<false>(src);
        }
    }

    /// [`copy_at`](Self::copy_at) for a handle known not to be hardened
    /// (`blocked` is false).
    #[inline(always)]
    fn copy_at_trusted(&self, src: &[u8]) {
        self.copy_at_with::<false>(src);
    }

    /// Copies `src` (at most the free space) to the write position. A copy
    /// that stops before the end of the storage is one `memcpy` here; one
    /// that crosses it (once per capacity's worth of data at most) is out
    /// of line, so that fewer values live across the call and the caller
    /// saves no registers to the stack around it: those stores cost time
    /// where a copy's own stores fill the store buffer.
    #[inline(always)]
    fn copy_at_with<const HARDENED: bool>(&self, src: &[u8]) {
        let offset = self.write_offset;
        if src.len() <= self.geometry.capacity - offset {
            // SAFETY: the range is inside the storage (it ends at or before
            // the end) and is free space, which only the producer touches.
            // `HARDENED` is the handle's (the callers ask `untrusted`, or
            // know the answer from `blocked`).
            unsafe { self.shared.copy_in_as::<HARDENED>(offset, src) }
        } else {
            self.copy_across_end::<HARDENED>(src);
        }
    }

    /// [`copy_at_with`](Self::copy_at_with) for a copy that crosses the end
    /// of the storage: the part up to the end, then the rest from the start.
    #[cold]
    #[inline(never)]
    fn copy_across_end<const HARDENED: bool>(&self, src: &[u8]) {
        let offset = self.write_offset;
        let first = src.len().min(self.geometry.capacity - offset);
        let (a, b) = src.split_at(first);
        // SAFETY: both ranges are inside the storage (`first` stops at the
        // end, `b` is shorter than the free space that follows) and are free
        // space, which only the producer touches. `HARDENED` is the handle's,
        // as in `copy_at_with`.
        unsafe {
            self.shared.copy_in_as::<HARDENED>(offset, a);
            if !b.is_empty() {
                self.shared.copy_in_as::<HARDENED>(0, b);
            }
        }
    }

    /// Moves the write position on by `n` (at most the free space) and
    /// publishes it; counts the bytes and the peak fill (published with the
    /// next [`publish_counters`](Self::publish_counters)).
    ///
    /// The peak is the fill right after the write as measured against a read
    /// position loaded during this call, as it was before the cache: the
    /// cached free space gives an upper bound of the fill, and only when
    /// that bound would raise the peak is the read position loaded (before
    /// the store, so the peak never under-reports a fill the ring had).
    /// Once the peak is the capacity, it costs nothing.
    #[inline]
    fn publish(&mut self, n: usize) {
        if self.check_peer {
            self.publish_with::<true>(n);
        } else {
            self.publish_with::<false>(n);
        }
    }

    /// [`publish`](Self::publish) for a handle known to be attached to
    /// shared memory (`ATTACHED`) or not.
    #[inline(always)]
    fn publish_with<const ATTACHED: bool>(&mut self, n: usize) {
        let capacity = self.geometry.capacity;
        let room = self.room.get();
        // Whether the cached free space is not enough to say: the fill after
        // this write could be above the peak. (Otherwise the peak stays.)
        // Signed (capacities fit): `n > room` makes it negative, below any
        // `peak_room`.
        let left = room.wrapping_sub(n) as isize;
        let look = left
            < if PEAK_EXACT {
                self.peak_room as isize
            } else {
                0
            };
        let (write, write_offset) =
            self.geometry
                .advance_with_offset(self.write, self.write_offset, n);
        let room = if !look {
            // `n <= room`.
            let room = room - n;
            if !PEAK_EXACT {
                self.tally.raise(field::PEAK_FILL, (capacity - room) as u64);
            }
            room
        } else {
            let fill = if ATTACHED {
                // Checked; a hardened handle that loaded the position
                // already in this operation gets that value again.
                capacity - self.publish_room_attached(n, room)
            } else {
                // The fill after the write, against a fresh read position.
                let raw = self.shared.header().read.load(OBSERVE_READ);
                self.geometry
                    .distance((raw & self.read_mask) as usize, write)
            };
            if fill as u64 > self.tally.get(field::PEAK_FILL) {
                self.tally.raise(field::PEAK_FILL, fill as u64);
                self.peak_room = capacity.saturating_sub(fill);
            }
            capacity.saturating_sub(fill)
        };
        self.room.set(room);
        (self.write, self.write_offset) = (write, write_offset);
        let header = self.shared.header();
        header.write.store(write as u32, PUBLISH_WRITE);
        self.tally.add(field::WRITTEN, n as u64);
    }

    /// Makes the counters changed since the last call visible to readers.
    #[inline(always)]
    fn publish_counters(&mut self) {
        self.tally.publish(&self.shared.header().producer_counters);
    }

    /// Counts a write that lost audio. Returns whether it counted anything.
    fn count_overrun(&mut self, dropped: usize, overwritten: usize) -> bool {
        if dropped == 0 && overwritten == 0 {
            return false;
        }
        self.tally.add(field::OVERRUNS, 1);
        self.tally.add(field::DROPPED, dropped as u64);
        self.tally.add(field::OVERWRITTEN, overwritten as u64);
        true
    }

    /// A refused write: the caller keeps its bytes, so it is no overrun.
    fn count_refused(&mut self) {
        self.tally.add(field::REFUSED, 1);
        self.publish_counters();
    }

    fn write_inner(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        let out = self.write_inner_body(src);
        self.update_blocked();
        out
    }

    fn write_inner_body(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        if self.finished {
            return Err(WriteError::Finished);
        }
        let (capacity, block) = (self.geometry.capacity, self.geometry.block_align);
        // The rest of a frame an overrun dropped, then the held partial block.
        let skip = self.skip.min(src.len());
        let rest = &src[skip..];
        let to_held = if self.held > 0 {
            (block - self.held).min(rest.len())
        } else {
            0
        };
        let (to_held, rest) = rest.split_at(to_held);
        // `min`: the remainder is below the length anyway; it lets the
        // optimiser drop `split_at`'s panic.
        let tail_len = self.geometry.rem_blocks(rest.len()).min(rest.len());
        let (whole, tail) = rest.split_at(rest.len() - tail_len);
        let tail_block = if tail_len > 0 { block } else { 0 };

        if self.overrun == Overrun::Reject && !rest.is_empty() {
            // All or nothing: check before changing anything. The cached
            // free space serves if it is enough; `make_room` below then
            // uses it too, so the read position is loaded at most once.
            let needed_room = whole.len() + tail_block + self.reserved();
            let Some(free) = self.room_for(needed_room) else {
                return Err(WriteError::Protocol);
            };
            let free = free.saturating_sub(self.reserved());
            let needed = whole.len() + tail_block;
            if needed > free {
                self.count_refused();
                return Err(WriteError::Full { needed, free });
            }
        }

        let mut out = WriteOutcome {
            dropped: skip,
            ..WriteOutcome::default()
        };
        self.skip -= skip;
        self.tally.add(field::DROPPED, skip as u64);

        if !to_held.is_empty() {
            let offset = self.write_offset + self.held;
            // SAFETY: the held block at `write` is reserved free space owned
            // by the producer, and `held + to_held <= block` keeps the range
            // inside it.
            unsafe { self.shared.copy_in(offset, to_held) };
            self.held += to_held.len();
            if self.held == block {
                self.held = 0;
                self.publish(block);
                out.written += block;
            }
        }
        if rest.is_empty() {
            self.publish_counters();
            out.held = self.held;
            return Ok(out);
        }

        // Here no partial block is held: the input completed it.
        let mut whole = whole;
        let mut dropped = 0;
        // Keep only the newest capacity's worth, the trailing partial block
        // (the newest bytes) included.
        let keep = capacity - tail_block;
        if self.overrun == Overrun::OverwriteOldest && whole.len() > keep {
            dropped += whole.len() - keep;
            whole = &whole[whole.len() - keep..];
        }
        let want = (whole.len() + tail_block).min(capacity);
        // A broken read position reads as a full ring: the input is dropped
        // (and the protocol error counted).
        let (room, overwritten) = self.make_room(want).unwrap_or((0, 0));
        // `room` is whole blocks: free space, or `want` itself.
        let n = whole.len().min(room);
        self.copy_at(&whole[..n]);
        dropped += whole.len() - n;
        if tail_len > 0 {
            if room - n >= block {
                let offset = self.geometry.offset(self.geometry.advance(self.write, n));
                // SAFETY: a whole free block at that offset is owned by the
                // producer; the tail is shorter than a block.
                unsafe { self.shared.copy_in(offset, tail) };
                self.held = tail_len;
            } else {
                dropped += tail_len;
                self.skip = block - tail_len;
            }
        }
        if n > 0 {
            self.publish(n);
        }
        self.count_overrun(dropped, overwritten);
        self.publish_counters();
        out.written += n;
        out.dropped += dropped;
        out.overwritten = overwritten;
        out.held = self.held;
        Ok(out)
    }
}

impl Drop for Producer<'_> {
    fn drop(&mut self) {
        let _ = self.finish();
        self.shared
            .header()
            .producer_flags
            .store(FINISHED | GONE, PUBLISH_GONE);
    }
}

impl core::fmt::Debug for Producer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.geometry.capacity)
            .field("block_align", &self.geometry.block_align)
            .field("overrun", &self.overrun)
            .field("fill", &self.fill())
            .field("held", &self.held)
            .field("finished", &self.finished)
            .finish()
    }
}

/// Free space borrowed from the ring by [`Producer::grant`]. Fill it, then
/// [`commit`](Self::commit); dropping it commits nothing.
///
/// # Examples
///
/// ```
/// let (mut tx, rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 16))?;
/// let mut grant = tx.grant(8)?;
/// let (first, _wrapped) = grant.as_mut_slices();
/// first[..4].copy_from_slice(&[1, 2, 3, 4]);
/// assert_eq!(grant.commit(4)?, 4); // the other 4 bytes go back unused
/// assert_eq!(rx.available(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a grant commits nothing unless `commit` is called"]
pub struct WriteGrant<'p, 'a> {
    producer: &'p mut Producer<'a>,
    len: usize,
}

impl core::fmt::Debug for WriteGrant<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WriteGrant")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl WriteGrant<'_, '_> {
    /// Bytes granted (whole blocks).
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Overrun};
    ///
    /// let (mut tx, _rx) = pcm_ring::heap(&Config::raw(4, 8).overrun(Overrun::Truncate))?;
    /// let grant = tx.grant(12)?; // only 8 bytes are free
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
    /// use pcm_ring::{Config, Overrun};
    ///
    /// let (mut tx, _rx) = pcm_ring::heap(&Config::raw(4, 8).overrun(Overrun::Truncate))?;
    /// let _ = tx.write(&[0; 8])?;
    /// assert!(tx.grant(4)?.is_empty()); // full: the 4 bytes count as dropped
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The granted space as two slices: the second is non-empty only when the
    /// space wraps around the end of the storage.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(2, 8))?;
    /// let _ = tx.write(&[0; 6])?;
    /// let mut out = [0u8; 6];
    /// let _ = rx.read(&mut out)?; // both positions now 2 bytes before the end
    /// let mut grant = tx.grant(6)?;
    /// let (a, b) = grant.as_mut_slices();
    /// assert_eq!((a.len(), b.len()), (2, 4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn as_mut_slices(&mut self) -> (&mut [u8], &mut [u8]) {
        let geometry = self.producer.geometry;
        let offset = self.producer.write_offset;
        let first = self.len.min(geometry.capacity - offset);
        // SAFETY: the granted range is free space owned by the producer,
        // borrowed mutably through `self` for the slices' lifetime; the two
        // parts are disjoint and inside the storage.
        unsafe {
            (
                self.producer.shared.slice_mut(offset, first),
                self.producer.shared.slice_mut(0, self.len - first),
            )
        }
    }

    /// Publishes the first `len` bytes (whole blocks) of the grant.
    ///
    /// # Errors
    ///
    /// [`WriteError::NotWholeBlocks`] or [`WriteError::CommitTooLarge`];
    /// nothing is committed then.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::WriteError;
    ///
    /// let (mut tx, rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 16))?;
    /// let grant = tx.grant(8)?;
    /// assert_eq!(grant.commit(12), Err(WriteError::CommitTooLarge { len: 12, granted: 8 }));
    /// assert_eq!(tx.grant(8)?.commit(8)?, 8);
    /// assert_eq!(rx.available(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn commit(self, len: usize) -> Result<usize, WriteError> {
        // `len <= self.len` first: the one-multiplication block test needs
        // a length below the capacity.
        if len > self.len || !self.producer.geometry.whole_blocks_small(len) {
            return Err(self.commit_error(len));
        }
        if len > 0 {
            self.producer.publish(len);
            self.producer.publish_counters();
        }
        Ok(len)
    }

    /// Why `commit(len)` is refused: not whole blocks, else too large.
    #[cold]
    fn commit_error(&self, len: usize) -> WriteError {
        if self.producer.geometry.rem_blocks(len) != 0 {
            WriteError::NotWholeBlocks {
                len,
                block_align: self.producer.geometry.block_align,
            }
        } else {
            WriteError::CommitTooLarge {
                len,
                granted: self.len,
            }
        }
    }
}
