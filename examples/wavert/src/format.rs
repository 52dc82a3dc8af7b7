//! The stream's format: what `WAVEFORMATEX` says about time and frames.

use pcm_ring::Silence;

use crate::StreamError;

/// The parts of a `WAVEFORMATEX` the stream needs: `nSamplesPerSec`,
/// `nBlockAlign` and the format's silence.
///
/// # Examples
///
/// ```
/// use pcm_ring_wavert::Format;
///
/// let surround = Format::pcm(48_000, 6, 16)?; // 5.1 at 16 bit
/// assert_eq!(surround.block_align(), 12);
/// let u8_stereo = Format::pcm(48_000, 2, 8)?;
/// assert_eq!(u8_stereo.silence().pattern(), &[0x80]);
/// # Ok::<(), pcm_ring_wavert::StreamError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    sample_rate: u32,
    block_align: u32,
    silence: Silence,
}

impl Format {
    /// Integer PCM with `channels` channels of `bits` bits (a multiple of 8).
    /// Silence is `0x80` for 8-bit (unsigned) and zero for wider samples.
    ///
    /// # Errors
    ///
    /// [`StreamError::InvalidFormat`] for a zero rate, zero channels, or bits
    /// that are 0 or not a multiple of 8.
    pub fn pcm(sample_rate: u32, channels: u16, bits: u16) -> Result<Format, StreamError> {
        if bits == 0 || !bits.is_multiple_of(8) || channels == 0 {
            return Err(StreamError::InvalidFormat {
                sample_rate,
                block_align: 0,
            });
        }
        let block_align = u32::from(channels) * u32::from(bits / 8);
        let silence = if bits == 8 {
            Silence::U8
        } else {
            Silence::ZERO
        };
        Format::new(sample_rate, block_align, silence)
    }

    /// Any format: `block_align` bytes per frame, `sample_rate` frames per
    /// second, and the silence pattern (which must tile the frame).
    ///
    /// # Errors
    ///
    /// [`StreamError::InvalidFormat`] for a zero rate or frame size, or a
    /// silence pattern that does not tile the frame.
    pub fn new(
        sample_rate: u32,
        block_align: u32,
        silence: Silence,
    ) -> Result<Format, StreamError> {
        let pattern = silence.pattern().len() as u32;
        if sample_rate == 0
            || block_align == 0
            || pattern == 0
            || !block_align.is_multiple_of(pattern)
        {
            return Err(StreamError::InvalidFormat {
                sample_rate,
                block_align,
            });
        }
        Ok(Format {
            sample_rate,
            block_align,
            silence,
        })
    }

    /// Frames per second (`nSamplesPerSec`).
    pub const fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Bytes per frame (`nBlockAlign`).
    pub const fn block_align(&self) -> usize {
        self.block_align as usize
    }

    /// Bytes per second (`nAvgBytesPerSec`).
    pub const fn bytes_per_second(&self) -> u64 {
        self.sample_rate as u64 * self.block_align as u64
    }

    /// The format's silence.
    pub const fn silence(&self) -> Silence {
        self.silence
    }

    /// Whole frames in `bytes` bytes (rounded down).
    pub(crate) fn frames_in(&self, bytes: usize) -> usize {
        bytes.checked_div(self.block_align()).unwrap_or(0)
    }
}
