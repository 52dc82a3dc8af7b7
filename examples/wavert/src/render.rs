//! The render direction: cyclic DMA buffer → ring → a user-mode reader (the
//! render half of a virtual cable).

use pcm_ring::{Counters, Producer, WriteError};

use crate::{Format, KsState, StreamError, Timing};

/// What one render position update did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderTick {
    /// Frames the position moved.
    pub frames: u64,
    /// Bytes the ring took.
    pub written: usize,
    /// Bytes the ring did not take (full under `Reject` or `Truncate`).
    pub dropped: usize,
    /// Older unread bytes the ring discarded to take these
    /// (`OverwriteOldest`).
    pub overwritten: usize,
}

/// A render stream: the timer moves the position and copies what the audio
/// engine wrote into the cyclic DMA buffer into the ring, where a reader
/// (an IOCTL from user mode, or a capture stream: a virtual cable) takes it.
/// The ring's overrun policy decides what happens when the reader is slow.
///
/// # Examples
///
/// ```
/// use pcm_ring::Config;
/// use pcm_ring_wavert::{Format, KsState, RenderStream};
///
/// let format = Format::pcm(48_000, 2, 16)?;
/// let config = Config::raw(4, 1920);
/// let mut memory = vec![0u8; config.required_memory()?];
/// let (ring, mut reader) = pcm_ring::borrowed(&config, &mut memory)?;
/// let mut stream = RenderStream::new(format, ring)?;
/// let size = stream.allocate_buffer_with_notification(384, 2)?; // 2 ms
/// let dma: Vec<u8> = (0..size).map(|i| i as u8).collect(); // the engine's audio
/// for s in [KsState::Acquire, KsState::Pause, KsState::Run] {
///     stream.set_state(s, 0, 1_000_000)?;
/// }
/// let tick = stream.update_position(&dma, 1_000, 1_000_000)?; // 1 ms: 48 frames
/// assert_eq!(tick.written, 192);
/// let mut out = [0u8; 192];
/// let _ = reader.read(&mut out)?;
/// assert_eq!(&out[..], &dma[..192]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RenderStream<'a> {
    timing: Timing,
    producer: Producer<'a>,
}

impl<'a> RenderStream<'a> {
    /// A stopped render stream of `format` that writes `producer`.
    ///
    /// # Errors
    ///
    /// [`StreamError::RingFormatMismatch`] if the ring's frame size is not
    /// the format's.
    pub fn new(format: Format, producer: Producer<'a>) -> Result<Self, StreamError> {
        if producer.block_align() != format.block_align() {
            return Err(StreamError::RingFormatMismatch {
                format: format.block_align(),
                ring: producer.block_align(),
            });
        }
        Ok(RenderStream {
            timing: Timing::new(format),
            producer,
        })
    }

    /// The clock, geometry and positions.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// The ring's producer (for its fill level and counters).
    pub fn producer(&self) -> &Producer<'a> {
        &self.producer
    }

    /// The ring's counters.
    pub fn ring_counters(&self) -> Counters {
        self.producer.counters()
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

    /// See [`Timing::set_state`].
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

    /// The timer path (`UpdatePosition` then `ReadBytes`): moves the position
    /// to `qpc` and writes every frame it moved from `dma` (the whole DMA
    /// buffer, of the allocated size) into the ring, across the wrap. If the
    /// position moved more than a whole buffer, only the last buffer's worth
    /// is taken (the engine could not have written the rest; counted as
    /// skipped).
    ///
    /// # Errors
    ///
    /// [`StreamError::NoBuffer`], [`StreamError::DmaLength`] and the errors
    /// of [`Timing::advance`]; nothing moves then.
    pub fn update_position(
        &mut self,
        dma: &[u8],
        qpc: u64,
        qpc_frequency: u64,
    ) -> Result<RenderTick, StreamError> {
        self.timing.check_dma(dma.len())?;
        let frames = self.timing.advance(qpc, qpc_frequency)?;
        let mut tick = RenderTick {
            frames,
            ..RenderTick::default()
        };
        let format = self.timing.format();
        let size = dma.len();
        let size_frames = format.frames_in(size) as u64;
        let mut pending = self.timing.pending_frames();
        if pending > size_frames {
            let excess = pending - size_frames;
            self.timing.mark_copied(excess);
            let counters = self.timing.counters_mut();
            counters.skipped_frames = counters.skipped_frames.saturating_add(excess);
            pending = size_frames;
        }
        if pending > 0 {
            let len = (pending as usize)
                .saturating_mul(format.block_align())
                .min(size);
            let offset = self.timing.copy_offset();
            let first = len.min(size - offset);
            let parts = [
                dma.get(offset..offset + first).unwrap_or(&[]),
                dma.get(..len - first).unwrap_or(&[]),
            ];
            for part in parts {
                if part.is_empty() {
                    continue;
                }
                match self.producer.write(part) {
                    Ok(outcome) => {
                        tick.written += outcome.written;
                        tick.dropped += outcome.dropped;
                        tick.overwritten += outcome.overwritten;
                    }
                    // Full (Reject), finished, or a stream write left a
                    // partial frame: the device moves on, these bytes are
                    // lost to the reader.
                    Err(WriteError::Full { .. }) | Err(_) => tick.dropped += part.len(),
                }
            }
            self.timing.mark_copied(pending);
        }
        let counters = self.timing.counters_mut();
        counters.data_bytes = counters.data_bytes.saturating_add(tick.written as u64);
        counters.dropped_bytes = counters.dropped_bytes.saturating_add(tick.dropped as u64);
        Ok(tick)
    }
}
