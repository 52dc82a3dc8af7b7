//! A WaveRT miniport stream over pcm-ring: the virtual microphone done right.
//!
//! A user-mode app feeds a virtual microphone by IOCTL; the IOCTL dispatch
//! routine writes into a [`pcm_ring`] ring, and the stream's timer copies the
//! ring into the cyclic DMA buffer that the audio engine reads. This crate
//! models that stream the way Microsoft's SYSVAD sample drives one, so that
//! it runs (and is tested) on any host:
//!
//! - [`Timing`]: `AllocateBufferWithNotification`'s checks, the
//!   STOP / ACQUIRE / PAUSE / RUN state machine and a QPC-driven position
//!   that carries exactly in whole frames (SYSVAD carries in milliseconds and
//!   bytes, so at 44.1 kHz it moves by 176.4 bytes per millisecond; this
//!   position is always `floor(elapsed_qpc * sample_rate / qpc_frequency)`
//!   frames);
//! - [`CaptureStream`]: ring → DMA buffer through
//!   [`Consumer::read_cyclic`](pcm_ring::Consumer::read_cyclic), silence for
//!   any shortfall, and silence written ahead of the valid data, as
//!   WaveCyclic does;
//! - [`RenderStream`]: DMA buffer → ring, for a user-mode reader (the other
//!   half of a virtual cable).
//!
//! Everything here is `no_std`, allocation-free, free of floating point and
//! free of panics: every bad input is a typed [`StreamError`].
//!
//! ```
//! use pcm_ring::{Config, Overrun, Silence};
//! use pcm_ring_wavert::{CaptureStream, Format, KsState};
//!
//! // 48 kHz 16-bit stereo; a 40 ms ring in memory the driver provides.
//! let format = Format::pcm(48_000, 2, 16)?;
//! let config = Config::raw(4, 4 * 1920).overrun(Overrun::OverwriteOldest);
//! let mut memory = [0u8; 16384];
//! let (mut ioctl, ring) = pcm_ring::borrowed(&config, &mut memory)?;
//! let mut stream = CaptureStream::new(format, ring)?;
//!
//! // PortCls: allocate a 10 ms DMA buffer with two notifications, then run.
//! let size = stream.allocate_buffer_with_notification(1920, 2)?;
//! let mut dma = [0u8; 1920];
//! let qpc_frequency = 10_000_000; // 100 ns ticks
//! for state in [KsState::Acquire, KsState::Pause, KsState::Run] {
//!     stream.set_state(state, 0, qpc_frequency)?;
//! }
//!
//! // The IOCTL dispatch routine: the app's bytes, any length.
//! let _ = ioctl.write_stream(&[0x11; 1000])?;
//!
//! // The timer DPC, 5 ms later: 240 frames move into the DMA buffer.
//! let tick = stream.update_position(&mut dma[..size], 50_000, qpc_frequency)?;
//! assert_eq!((tick.frames, tick.data, tick.silence), (240, 960, 0));
//! assert_eq!(stream.timing().position().write_offset, 960);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod capture;
mod error;
mod format;
mod render;
mod timing;

#[cfg(test)]
mod tests;

pub use capture::{CaptureStream, CaptureTick};
pub use error::StreamError;
pub use format::Format;
pub use render::{RenderStream, RenderTick};
pub use timing::{
    KsAudioPosition, KsState, PresentationPosition, StreamCounters, Timing, MAX_DMA_BUFFER,
};

/// Fills `dst` with `pattern` repeated, starting at the pattern's first byte.
/// An empty pattern leaves `dst` untouched.
pub(crate) fn fill_pattern(dst: &mut [u8], pattern: &[u8]) {
    if pattern.is_empty() {
        return;
    }
    for chunk in dst.chunks_mut(pattern.len()) {
        let n = chunk.len();
        chunk.copy_from_slice(&pattern[..n.min(pattern.len())]);
    }
}
