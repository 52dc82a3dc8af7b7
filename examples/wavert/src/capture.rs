//! The capture direction: ring → cyclic DMA buffer (a virtual microphone).

use pcm_ring::{Consumer, Counters};

use crate::{fill_pattern, Format, KsState, StreamError, Timing};

/// What one capture position update did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptureTick {
    /// Frames the position moved.
    pub frames: u64,
    /// Bytes of ring data copied into the DMA buffer.
    pub data: usize,
    /// Bytes of silence written for a shortfall (priming, underrun or end).
    pub silence: usize,
    /// Bytes of silence written ahead of the new write position.
    pub silence_ahead: usize,
    /// The ring was short while streaming: an underrun (counted by the ring
    /// and by the stream).
    pub underrun: bool,
    /// The ring's fill fell below its low watermark: set the event the app
    /// waits on.
    pub low_watermark: bool,
}

/// A capture stream: the timer moves the position and copies the ring's
/// data into the cyclic DMA buffer, with silence for any shortfall (so the
/// audio engine never hears stale audio), and optionally silence ahead of
/// the valid data, as WaveCyclic writes after the end of the valid data.
///
/// The producer side of the ring belongs to the IOCTL dispatch routine.
///
/// # Examples
///
/// ```
/// use pcm_ring::Config;
/// use pcm_ring_wavert::{CaptureStream, Format, KsState};
///
/// let format = Format::pcm(48_000, 2, 8)?; // unsigned: silence is 0x80
/// let config = Config::raw(2, 960).silence(format.silence());
/// let mut memory = vec![0u8; config.required_memory()?];
/// let (mut ioctl, ring) = pcm_ring::borrowed(&config, &mut memory)?;
/// let mut stream = CaptureStream::new(format, ring)?;
/// let size = stream.allocate_buffer_with_notification(96, 1)?; // 1 ms
/// let mut dma = vec![0u8; size];
/// for s in [KsState::Acquire, KsState::Pause, KsState::Run] {
///     stream.set_state(s, 0, 1_000_000)?;
/// }
/// let _ = ioctl.write(&[1, 2, 3, 4])?; // two frames
/// let tick = stream.update_position(&mut dma, 100, 1_000_000)?; // 100 µs: 4 frames
/// assert_eq!(&dma[..8], &[1, 2, 3, 4, 0x80, 0x80, 0x80, 0x80]);
/// assert!(tick.underrun);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CaptureStream<'a> {
    timing: Timing,
    consumer: Consumer<'a>,
    silence_ahead: usize,
}

impl<'a> CaptureStream<'a> {
    /// A stopped capture stream of `format` that reads `consumer`.
    ///
    /// # Errors
    ///
    /// [`StreamError::RingFormatMismatch`] if the ring's frame size is not
    /// the format's.
    pub fn new(format: Format, consumer: Consumer<'a>) -> Result<Self, StreamError> {
        if consumer.block_align() != format.block_align() {
            return Err(StreamError::RingFormatMismatch {
                format: format.block_align(),
                ring: consumer.block_align(),
            });
        }
        Ok(CaptureStream {
            timing: Timing::new(format),
            consumer,
            silence_ahead: 0,
        })
    }

    /// Writes silence over up to `bytes` (rounded down to frames) of the DMA
    /// buffer ahead of each new write position, so that a reader that
    /// extrapolates the position past the last update reads silence rather
    /// than audio a buffer old. It never covers bytes written by the same
    /// update, but it does cover the oldest bytes of the buffer, which the
    /// engine may not have read yet: in a buffer of two packets, after a
    /// pause (the update at PAUSE copies a packet the engine reads only
    /// after RUN) 1 ms of silence ahead was heard in the simulator. Keep it
    /// below the engine's slack, or leave it at 0 (the default: off).
    pub fn set_silence_ahead(&mut self, bytes: usize) {
        let format = self.timing.format();
        self.silence_ahead = format.frames_in(bytes) * format.block_align();
    }

    /// The clock, geometry and positions.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// The ring's consumer (for its fill level and counters).
    pub fn consumer(&self) -> &Consumer<'a> {
        &self.consumer
    }

    /// The ring's counters.
    pub fn ring_counters(&self) -> Counters {
        self.consumer.counters()
    }

    /// See [`Timing::allocate_buffer_with_notification`].
    ///
    /// # Errors
    ///
    /// As there.
    pub fn allocate_buffer_with_notification(
        &mut self,
        requested: usize,
        notification_count: u32,
    ) -> Result<usize, StreamError> {
        self.timing
            .allocate_buffer_with_notification(requested, notification_count)
    }

    /// See [`Timing::set_state`]. Leaving RUN for PAUSE moves the position
    /// to `qpc`; the next update copies those frames.
    ///
    /// # Errors
    ///
    /// As there.
    pub fn set_state(
        &mut self,
        to: KsState,
        qpc: u64,
        qpc_frequency: u64,
    ) -> Result<(), StreamError> {
        self.timing.set_state(to, qpc, qpc_frequency)
    }

    /// The timer path (`UpdatePosition` then `WriteBytes`): moves the
    /// position to `qpc` and copies every frame it moved from the ring into
    /// `dma` (the whole DMA buffer, of the allocated size) at the cyclic
    /// offset, across the wrap, with the format's silence for a shortfall.
    /// If the position moved more than a whole buffer since the last update,
    /// only the last buffer's worth is copied and the older frames are
    /// consumed from the ring unheard (counted as skipped), so the work is
    /// bounded by the buffer size. Safe at DISPATCH_LEVEL: no allocation, no
    /// lock, no floating point.
    ///
    /// # Errors
    ///
    /// [`StreamError::NoBuffer`], [`StreamError::DmaLength`] and the errors
    /// of [`Timing::advance`]; nothing moves and nothing is read then.
    pub fn update_position(
        &mut self,
        dma: &mut [u8],
        qpc: u64,
        qpc_frequency: u64,
    ) -> Result<CaptureTick, StreamError> {
        self.timing.check_dma(dma.len())?;
        let frames = self.timing.advance(qpc, qpc_frequency)?;
        let mut tick = CaptureTick {
            frames,
            ..CaptureTick::default()
        };
        let format = self.timing.format();
        let block_align = format.block_align();
        let size = dma.len();
        let size_frames = format.frames_in(size) as u64;
        let mut pending = self.timing.pending_frames();
        if pending > size_frames {
            // Older than a whole buffer: it would be overwritten before
            // anyone read it. Consume it from the ring so the stream keeps
            // time, without copying.
            let excess = pending - size_frames;
            let bytes =
                usize::try_from(excess.saturating_mul(block_align as u64)).unwrap_or(usize::MAX);
            let grant = self.consumer.read_grant(bytes);
            let n = grant.len();
            if let Ok(outcome) = grant.release(n) {
                tick.low_watermark |= outcome.low_watermark;
            }
            self.timing.mark_copied(excess);
            let counters = self.timing.counters_mut();
            counters.skipped_frames = counters.skipped_frames.saturating_add(excess);
            pending = size_frames;
        }
        if pending > 0 {
            // `pending <= size_frames`, so this fits a usize.
            let len = (pending as usize).saturating_mul(block_align).min(size);
            let offset = self.timing.copy_offset();
            match self.consumer.read_cyclic(dma, offset, len) {
                Ok(outcome) => {
                    tick.data = outcome.data;
                    tick.silence = outcome.silence;
                    tick.underrun = outcome.underrun;
                    tick.low_watermark |= outcome.low_watermark;
                }
                Err(_) => {
                    // Unreachable: the ring's frame size is the format's and
                    // offset, length and buffer are whole frames. Play
                    // silence rather than stale audio all the same.
                    fill_cyclic(dma, offset, len, format.silence().pattern());
                    tick.silence = len;
                }
            }
            self.timing.mark_copied(pending);
            if self.silence_ahead > 0 && len < size {
                let ahead = self.silence_ahead.min(size - len);
                let start = (offset + len) % size;
                fill_cyclic(dma, start, ahead, format.silence().pattern());
                tick.silence_ahead = ahead;
            }
        }
        let counters = self.timing.counters_mut();
        counters.data_bytes = counters.data_bytes.saturating_add(tick.data as u64);
        counters.silence_bytes = counters.silence_bytes.saturating_add(tick.silence as u64);
        counters.silence_ahead_bytes = counters
            .silence_ahead_bytes
            .saturating_add(tick.silence_ahead as u64);
        if tick.underrun {
            counters.underruns = counters.underruns.saturating_add(1);
        }
        Ok(tick)
    }
}

/// Fills `len` bytes of the cyclic `dst` from `offset` with `pattern`
/// (tiling from each frame start: `offset` and the wrap are whole frames).
pub(crate) fn fill_cyclic(dst: &mut [u8], offset: usize, len: usize, pattern: &[u8]) {
    let size = dst.len();
    if size == 0 {
        return;
    }
    let offset = offset % size;
    let len = len.min(size);
    let first = len.min(size - offset);
    if let Some(a) = dst.get_mut(offset..offset + first) {
        fill_pattern(a, pattern);
    }
    if let Some(b) = dst.get_mut(..len - first) {
        fill_pattern(b, pattern);
    }
}
