//! The stream's clock: DMA buffer geometry, KS states and a QPC-driven
//! position that never loses or invents a frame.

use crate::{Format, StreamError};

/// The largest DMA buffer, in bytes (positions and sizes are `ULONG`s in
/// PortCls).
pub const MAX_DMA_BUFFER: usize = u32::MAX as usize;

/// A kernel-streaming state (`KSSTATE`). Transitions go one step at a time:
/// STOP ↔ ACQUIRE ↔ PAUSE ↔ RUN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum KsState {
    /// `KSSTATE_STOP`: positions and counters are reset.
    Stop = 0,
    /// `KSSTATE_ACQUIRE`: resources held, nothing moves.
    Acquire = 1,
    /// `KSSTATE_PAUSE`: positions frozen.
    Pause = 2,
    /// `KSSTATE_RUN`: positions follow the QPC.
    Run = 3,
}

impl KsState {
    /// The state for a `KSSTATE` value, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring_wavert::KsState;
    /// assert_eq!(KsState::from_u32(3), Some(KsState::Run));
    /// assert_eq!(KsState::from_u32(4), None);
    /// ```
    pub const fn from_u32(value: u32) -> Option<KsState> {
        match value {
            0 => Some(KsState::Stop),
            1 => Some(KsState::Acquire),
            2 => Some(KsState::Pause),
            3 => Some(KsState::Run),
            _ => None,
        }
    }
}

/// `KSAUDIO_POSITION`: byte offsets inside the cyclic DMA buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KsAudioPosition {
    /// Where the device is playing (render) or capturing (capture).
    pub play_offset: u64,
    /// Where the next data goes. A timer-driven stream moves both together,
    /// as SYSVAD does.
    pub write_offset: u64,
}

/// `KSAUDIO_PRESENTATION_POSITION`: frames since RUN first started (not
/// counting paused time) and the QPC value that position belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PresentationPosition {
    /// Frames ("blocks") presented.
    pub position_in_blocks: u64,
    /// The QPC value of the last position update.
    pub qpc_position: u64,
}

/// What the stream did since the last STOP. STOP resets them all, as
/// SYSVAD resets its packet counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamCounters {
    /// Position updates that moved the position.
    pub updates: u64,
    /// Position updates that found no new time: a second callback on the same
    /// QPC tick, or one whose QPC sample is older than the last (two timer
    /// expirations on two processors). They move nothing.
    pub stale_updates: u64,
    /// Data bytes moved between the ring and the DMA buffer.
    pub data_bytes: u64,
    /// Silence bytes written into the DMA buffer for a shortfall (capture).
    pub silence_bytes: u64,
    /// Silence bytes written ahead of the valid data (capture).
    pub silence_ahead_bytes: u64,
    /// Updates whose copy found the ring short while streaming (capture).
    pub underruns: u64,
    /// Bytes the ring did not take (render: the ring was full and rejected
    /// or truncated them).
    pub dropped_bytes: u64,
    /// Frames that moved more than a whole DMA buffer past the last update:
    /// only the last buffer's worth is copied, the rest is skipped (capture:
    /// consumed from the ring unheard; render: never read).
    pub skipped_frames: u64,
}

/// The clock and geometry of a WaveRT stream, independent of the direction
/// of its data.
///
/// The position is kept in whole frames with an exact remainder: after any
/// sequence of updates in RUN, the position is
/// `floor(elapsed_qpc * sample_rate / qpc_frequency)` frames, where
/// `elapsed_qpc` is the time spent in RUN. Nothing is rounded away.
///
/// # Examples
///
/// ```
/// use pcm_ring_wavert::{Format, KsState, Timing};
///
/// let mut t = Timing::new(Format::pcm(44_100, 2, 16)?);
/// t.allocate_buffer_with_notification(1764, 2)?; // 10 ms
/// for s in [KsState::Acquire, KsState::Pause, KsState::Run] {
///     t.set_state(s, 0, 10_000_000)?;
/// }
/// // 1 ms ticks: 44 or 45 frames each, never 44.1.
/// let mut moved = [0u64; 10];
/// for (i, m) in moved.iter_mut().enumerate() {
///     *m = t.advance((i as u64 + 1) * 10_000, 10_000_000)?;
/// }
/// assert_eq!(moved, [44, 44, 44, 44, 44, 44, 44, 44, 44, 45]);
/// assert_eq!(t.linear_position(), 441 * 4);
/// # Ok::<(), pcm_ring_wavert::StreamError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Timing {
    format: Format,
    state: KsState,
    /// DMA buffer size in bytes, whole frames (0: none).
    size: usize,
    notifications: u32,
    /// The QPC frequency taken at the first RUN (0 before).
    qpc_frequency: u64,
    /// The QPC value of the last update (or of RUN).
    last_qpc: u64,
    /// `elapsed * rate` not yet turned into a frame, in units of
    /// `1 / qpc_frequency` frames: always below `qpc_frequency`.
    carry: u64,
    /// The linear position in frames.
    frames: u64,
    /// Frames the data path has handled (≤ `frames`).
    copied: u64,
    counters: StreamCounters,
}

impl Timing {
    /// A stopped stream of `format` with no DMA buffer yet.
    pub const fn new(format: Format) -> Timing {
        Timing {
            format,
            state: KsState::Stop,
            size: 0,
            notifications: 0,
            qpc_frequency: 0,
            last_qpc: 0,
            carry: 0,
            frames: 0,
            copied: 0,
            counters: StreamCounters {
                updates: 0,
                stale_updates: 0,
                data_bytes: 0,
                silence_bytes: 0,
                silence_ahead_bytes: 0,
                underruns: 0,
                dropped_bytes: 0,
                skipped_frames: 0,
            },
        }
    }

    /// The stream's format.
    pub const fn format(&self) -> Format {
        self.format
    }

    /// The current state.
    pub const fn state(&self) -> KsState {
        self.state
    }

    /// `IMiniportWaveRTStreamNotification::AllocateBufferWithNotification`'s
    /// checks, as SYSVAD makes them: the size must hold a frame, the
    /// notification count must be 1 or 2 and divide the requested size; the
    /// size is then rounded down to whole frames. Returns the actual size,
    /// which is what the DMA buffer passed to the position updates must have.
    /// Allowed only in STOP.
    ///
    /// # Errors
    ///
    /// [`StreamError::NotStopped`], [`StreamError::BufferTooSmall`],
    /// [`StreamError::BufferTooLarge`],
    /// [`StreamError::InvalidNotificationCount`],
    /// [`StreamError::SizeNotMultipleOfCount`]; the previous buffer is kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring_wavert::{Format, StreamError, Timing};
    ///
    /// let mut t = Timing::new(Format::pcm(48_000, 6, 16)?); // 12-byte frames
    /// assert_eq!(t.allocate_buffer_with_notification(1000, 2)?, 996);
    /// assert_eq!(
    ///     t.allocate_buffer_with_notification(1000, 3),
    ///     Err(StreamError::InvalidNotificationCount { count: 3 })
    /// );
    /// # Ok::<(), StreamError>(())
    /// ```
    pub fn allocate_buffer_with_notification(
        &mut self,
        requested: usize,
        notification_count: u32,
    ) -> Result<usize, StreamError> {
        if self.state != KsState::Stop {
            return Err(StreamError::NotStopped { state: self.state });
        }
        let block_align = self.format.block_align();
        if requested < block_align {
            return Err(StreamError::BufferTooSmall {
                requested,
                block_align,
            });
        }
        if requested > MAX_DMA_BUFFER {
            return Err(StreamError::BufferTooLarge { requested });
        }
        if notification_count != 1 && notification_count != 2 {
            return Err(StreamError::InvalidNotificationCount {
                count: notification_count,
            });
        }
        if !requested.is_multiple_of(notification_count as usize) {
            return Err(StreamError::SizeNotMultipleOfCount {
                requested,
                count: notification_count,
            });
        }
        self.size = self.format.frames_in(requested) * block_align;
        self.notifications = notification_count;
        Ok(self.size)
    }

    /// Forgets the DMA buffer (`FreeBufferWithNotification`). Allowed only in
    /// STOP.
    ///
    /// # Errors
    ///
    /// [`StreamError::NotStopped`].
    pub fn free_buffer(&mut self) -> Result<(), StreamError> {
        if self.state != KsState::Stop {
            return Err(StreamError::NotStopped { state: self.state });
        }
        self.size = 0;
        self.notifications = 0;
        Ok(())
    }

    /// The DMA buffer size in bytes (0 if none).
    pub const fn buffer_size(&self) -> usize {
        self.size
    }

    /// The notification count (0 if no buffer).
    pub const fn notification_count(&self) -> u32 {
        self.notifications
    }

    /// Frames per notification (packet): the buffer's frames divided by the
    /// notification count, rounded down.
    pub fn packet_frames(&self) -> usize {
        self.format
            .frames_in(self.size)
            .checked_div(self.notifications as usize)
            .unwrap_or(0)
    }

    /// `SetState`. STOP resets the positions, the carry and the counters;
    /// ACQUIRE and PAUSE hold; RUN → PAUSE moves the position up to `qpc`
    /// and freezes it; RUN takes `qpc` as its new time base (paused time does
    /// not count), and `qpc_frequency` as the clock's frequency. Setting the
    /// current state again does nothing.
    ///
    /// # Errors
    ///
    /// [`StreamError::InvalidTransition`] for a skipped state,
    /// [`StreamError::NoBuffer`] when leaving STOP without a DMA buffer,
    /// [`StreamError::ZeroQpcFrequency`] and
    /// [`StreamError::QpcFrequencyChanged`] when entering or leaving RUN.
    /// The state is unchanged then.
    pub fn set_state(
        &mut self,
        to: KsState,
        qpc: u64,
        qpc_frequency: u64,
    ) -> Result<(), StreamError> {
        let from = self.state;
        if to == from {
            return Ok(());
        }
        if (from as u32).abs_diff(to as u32) != 1 {
            return Err(StreamError::InvalidTransition { from, to });
        }
        match (from, to) {
            (KsState::Stop, _) if self.size == 0 => return Err(StreamError::NoBuffer),
            (_, KsState::Stop) => {
                self.state = KsState::Stop;
                self.qpc_frequency = 0;
                self.last_qpc = 0;
                self.carry = 0;
                self.frames = 0;
                self.copied = 0;
                self.counters = StreamCounters::default();
                return Ok(());
            }
            (KsState::Pause, KsState::Run) => {
                self.check_frequency(qpc_frequency)?;
                self.qpc_frequency = qpc_frequency;
                self.last_qpc = qpc;
            }
            (KsState::Run, KsState::Pause) => {
                let _moved = self.advance(qpc, qpc_frequency)?;
            }
            _ => {}
        }
        self.state = to;
        Ok(())
    }

    fn check_frequency(&self, qpc_frequency: u64) -> Result<(), StreamError> {
        if qpc_frequency == 0 {
            return Err(StreamError::ZeroQpcFrequency);
        }
        if self.qpc_frequency != 0 && self.qpc_frequency != qpc_frequency {
            return Err(StreamError::QpcFrequencyChanged {
                expected: self.qpc_frequency,
                got: qpc_frequency,
            });
        }
        Ok(())
    }

    /// Moves the position to the QPC value `qpc` and returns the frames it
    /// moved. Outside RUN, and for a `qpc` not after the last update (a
    /// second timer callback on the same tick, or an older sample from
    /// another processor), it moves nothing. The data path is separate: the
    /// streams copy what the position moved ([`CaptureStream`](crate::CaptureStream),
    /// [`RenderStream`](crate::RenderStream)).
    ///
    /// # Errors
    ///
    /// [`StreamError::ZeroQpcFrequency`], [`StreamError::QpcFrequencyChanged`];
    /// nothing moves then.
    pub fn advance(&mut self, qpc: u64, qpc_frequency: u64) -> Result<u64, StreamError> {
        if self.state != KsState::Run {
            return Ok(0);
        }
        self.check_frequency(qpc_frequency)?;
        if qpc <= self.last_qpc {
            self.counters.stale_updates = self.counters.stale_updates.saturating_add(1);
            return Ok(0);
        }
        let elapsed = u128::from(qpc - self.last_qpc);
        let numerator = elapsed * u128::from(self.format.sample_rate()) + u128::from(self.carry);
        let frequency = u128::from(qpc_frequency);
        // `frequency > 0`, so neither division fails; the remainder is below
        // `qpc_frequency`, so it fits a u64.
        let moved = u64::try_from(numerator / frequency).unwrap_or(u64::MAX);
        self.carry = u64::try_from(numerator % frequency).unwrap_or(0);
        self.last_qpc = qpc;
        self.frames = self.frames.saturating_add(moved);
        self.counters.updates = self.counters.updates.saturating_add(1);
        Ok(moved)
    }

    /// The linear position in frames.
    pub const fn linear_frames(&self) -> u64 {
        self.frames
    }

    /// The linear position in bytes (`KSPROPERTY_AUDIO_LINEAR_BUFFER_POSITION`):
    /// always a whole number of frames.
    pub fn linear_position(&self) -> u64 {
        self.frames.saturating_mul(self.format.block_align() as u64)
    }

    /// The cyclic position (`KSPROPERTY_AUDIO_POSITION`): the linear
    /// position modulo the DMA buffer size (0 without a buffer).
    pub fn position(&self) -> KsAudioPosition {
        let offset = self
            .linear_position()
            .checked_rem(self.size as u64)
            .unwrap_or(0);
        KsAudioPosition {
            play_offset: offset,
            write_offset: offset,
        }
    }

    /// The presentation position, in frames, with its QPC value.
    pub const fn presentation_position(&self) -> PresentationPosition {
        PresentationPosition {
            position_in_blocks: self.frames,
            qpc_position: self.last_qpc,
        }
    }

    /// The stream's counters since the last STOP.
    pub const fn counters(&self) -> StreamCounters {
        self.counters
    }

    /// Frames the position moved that the data path has not handled yet.
    pub(crate) fn pending_frames(&self) -> u64 {
        self.frames.saturating_sub(self.copied)
    }

    /// The DMA offset, in bytes, where the data path continues.
    pub(crate) fn copy_offset(&self) -> usize {
        let bytes = self.copied.wrapping_mul(self.format.block_align() as u64);
        // `size <= u32::MAX`, so the remainder fits a usize.
        bytes.checked_rem(self.size as u64).unwrap_or(0) as usize
    }

    pub(crate) fn mark_copied(&mut self, frames: u64) {
        self.copied = self.copied.saturating_add(frames).min(self.frames);
    }

    pub(crate) fn counters_mut(&mut self) -> &mut StreamCounters {
        &mut self.counters
    }

    /// Checks a DMA buffer passed to an update against the allocated size.
    pub(crate) fn check_dma(&self, len: usize) -> Result<(), StreamError> {
        if self.size == 0 {
            return Err(StreamError::NoBuffer);
        }
        if len != self.size {
            return Err(StreamError::DmaLength {
                expected: self.size,
                got: len,
            });
        }
        Ok(())
    }
}
