//! Typed errors. Every bad input is reported here; nothing panics.

use core::fmt;

use crate::KsState;

/// Why a stream call was refused. The stream's positions, its DMA buffer
/// geometry and the ring's contents are unchanged by a refused call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// A zero sample rate, a zero frame size, or a silence pattern that does
    /// not tile the frame.
    InvalidFormat {
        /// Frames per second.
        sample_rate: u32,
        /// Bytes per frame.
        block_align: u32,
    },
    /// The ring's frame size differs from the format's.
    RingFormatMismatch {
        /// The format's bytes per frame.
        format: usize,
        /// The ring's bytes per frame.
        ring: usize,
    },
    /// The requested DMA buffer is smaller than one frame
    /// (SYSVAD: `STATUS_UNSUCCESSFUL`).
    BufferTooSmall {
        /// Bytes requested.
        requested: usize,
        /// Bytes per frame.
        block_align: usize,
    },
    /// The requested DMA buffer is larger than [`MAX_DMA_BUFFER`](crate::MAX_DMA_BUFFER).
    BufferTooLarge {
        /// Bytes requested.
        requested: usize,
    },
    /// The notification count is not 1 or 2 (SYSVAD:
    /// `STATUS_INVALID_PARAMETER`).
    InvalidNotificationCount {
        /// The count given.
        count: u32,
    },
    /// The requested size is not a multiple of the notification count
    /// (SYSVAD: `STATUS_INVALID_PARAMETER`).
    SizeNotMultipleOfCount {
        /// Bytes requested.
        requested: usize,
        /// The notification count.
        count: u32,
    },
    /// The DMA buffer can only be allocated in STOP.
    NotStopped {
        /// The current state.
        state: KsState,
    },
    /// The stream needs a DMA buffer before it leaves STOP, or before a
    /// position update.
    NoBuffer,
    /// The DMA buffer passed in does not have the allocated size.
    DmaLength {
        /// The allocated size in bytes.
        expected: usize,
        /// The length passed in.
        got: usize,
    },
    /// A state change that skips a state (transitions go
    /// STOP ↔ ACQUIRE ↔ PAUSE ↔ RUN, one step at a time).
    InvalidTransition {
        /// The current state.
        from: KsState,
        /// The requested state.
        to: KsState,
    },
    /// A QPC frequency of 0.
    ZeroQpcFrequency,
    /// The QPC frequency differs from the one the stream started with (it is
    /// fixed at boot, so this is a caller bug).
    QpcFrequencyChanged {
        /// The frequency taken when the stream entered RUN.
        expected: u64,
        /// The frequency passed in.
        got: u64,
    },
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::InvalidFormat {
                sample_rate,
                block_align,
            } => write!(
                f,
                "invalid format: {sample_rate} Hz, {block_align}-byte frames (or a silence pattern that does not tile the frame)"
            ),
            Self::RingFormatMismatch { format, ring } => write!(
                f,
                "the ring holds {ring}-byte frames but the format has {format}-byte frames"
            ),
            Self::BufferTooSmall {
                requested,
                block_align,
            } => write!(
                f,
                "a DMA buffer of {requested} bytes is smaller than one {block_align}-byte frame"
            ),
            Self::BufferTooLarge { requested } => write!(
                f,
                "a DMA buffer of {requested} bytes is larger than the maximum {}",
                crate::MAX_DMA_BUFFER
            ),
            Self::InvalidNotificationCount { count } => {
                write!(f, "notification count {count}; it must be 1 or 2")
            }
            Self::SizeNotMultipleOfCount { requested, count } => write!(
                f,
                "a DMA buffer of {requested} bytes is not a multiple of the notification count {count}"
            ),
            Self::NotStopped { state } => {
                write!(f, "the DMA buffer can be allocated only in STOP, not {state:?}")
            }
            Self::NoBuffer => f.write_str("no DMA buffer was allocated"),
            Self::DmaLength { expected, got } => write!(
                f,
                "the DMA buffer passed in has {got} bytes; {expected} were allocated"
            ),
            Self::InvalidTransition { from, to } => {
                write!(f, "invalid state transition {from:?} -> {to:?}")
            }
            Self::ZeroQpcFrequency => f.write_str("the QPC frequency is 0"),
            Self::QpcFrequencyChanged { expected, got } => write!(
                f,
                "the QPC frequency changed from {expected} to {got}"
            ),
        }
    }
}

impl core::error::Error for StreamError {}
