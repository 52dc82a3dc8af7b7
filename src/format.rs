//! Sample formats: what a frame is made of, so that a ring can be declared in
//! channels and frames rather than raw bytes, and typed reads and writes can
//! be checked against it.

use crate::{ReadError, Silence, WriteError};

/// How one sample is encoded (little-endian, interleaved PCM).
///
/// # Examples
///
/// ```
/// use pcm_ring::{SampleFormat, Silence};
///
/// assert_eq!(SampleFormat::I24.bytes(), 3); // packed 24-bit
/// assert_eq!(SampleFormat::U8.silence(), Silence::U8);
/// assert_eq!(SampleFormat::F32.silence(), Silence::ZERO);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SampleFormat {
    /// Unsigned 8-bit (WAVE's 8-bit PCM; silence `0x80`).
    U8,
    /// Signed 8-bit.
    I8,
    /// Signed 16-bit.
    I16,
    /// Unsigned 16-bit (silence `0x8000`).
    U16,
    /// Signed 24-bit packed in 3 bytes.
    I24,
    /// Signed 32-bit (also 24-bit audio in a 32-bit container).
    I32,
    /// Unsigned 32-bit (silence `0x8000_0000`).
    U32,
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
}

impl SampleFormat {
    /// Bytes per sample.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(pcm_ring::SampleFormat::F64.bytes(), 8);
    /// ```
    #[must_use]
    pub const fn bytes(self) -> usize {
        match self {
            SampleFormat::U8 | SampleFormat::I8 => 1,
            SampleFormat::I16 | SampleFormat::U16 => 2,
            SampleFormat::I24 => 3,
            SampleFormat::I32 | SampleFormat::U32 | SampleFormat::F32 => 4,
            SampleFormat::F64 => 8,
        }
    }

    /// The format's silence: zero for signed and float samples, the midpoint
    /// for unsigned ones.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{SampleFormat, Silence};
    ///
    /// assert_eq!(SampleFormat::U16.silence().pattern(), &[0x00, 0x80]);
    /// assert_eq!(SampleFormat::I16.silence(), Silence::ZERO);
    /// ```
    #[must_use]
    pub const fn silence(self) -> Silence {
        match self {
            SampleFormat::U8 => Silence::U8,
            SampleFormat::U16 => Silence::U16_LE,
            SampleFormat::U32 => Silence::U32_LE,
            SampleFormat::I8
            | SampleFormat::I16
            | SampleFormat::I24
            | SampleFormat::I32
            | SampleFormat::F32
            | SampleFormat::F64 => Silence::ZERO,
        }
    }
}

/// A stream's frame: a sample format and a channel count. A frame (block) is
/// one sample of every channel.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Format, SampleFormat};
///
/// let surround = Format::new(SampleFormat::I16, 6); // 5.1 at 16 bit
/// assert_eq!(surround.block_align(), 12);
/// assert_eq!((surround.sample(), surround.channels()), (SampleFormat::I16, 6));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Format {
    sample: SampleFormat,
    channels: u16,
}

impl Format {
    /// `channels` interleaved samples of `sample` per frame. A channel count
    /// of 0 is refused when a ring is made
    /// ([`ConfigError::ZeroChannels`](crate::ConfigError::ZeroChannels)).
    ///
    /// # Examples
    ///
    /// ```
    /// let stereo = pcm_ring::Format::new(pcm_ring::SampleFormat::F32, 2);
    /// assert_eq!(stereo.block_align(), 8);
    /// ```
    #[must_use]
    pub const fn new(sample: SampleFormat, channels: u16) -> Format {
        Format { sample, channels }
    }

    /// The sample format.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Format, SampleFormat};
    ///
    /// assert_eq!(Format::new(SampleFormat::U8, 1).sample(), SampleFormat::U8);
    /// ```
    #[must_use]
    pub const fn sample(&self) -> SampleFormat {
        self.sample
    }

    /// The number of channels.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Format, SampleFormat};
    ///
    /// assert_eq!(Format::new(SampleFormat::I32, 8).channels(), 8);
    /// ```
    #[must_use]
    pub const fn channels(&self) -> u16 {
        self.channels
    }

    /// Bytes per frame (`nBlockAlign`).
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Format, SampleFormat};
    ///
    /// assert_eq!(Format::new(SampleFormat::I24, 2).block_align(), 6);
    /// ```
    #[must_use]
    pub const fn block_align(&self) -> usize {
        self.channels as usize * self.sample.bytes()
    }
}

/// A sample type that typed reads and writes accept, and the
/// [`SampleFormat`] it is. Implemented for `u8`, `i8`, `i16`, `u16`, `i32`,
/// `u32`, `f32` and `f64`; implement it for your own `bytemuck::Pod` sample
/// type to use it with [`Producer::write_samples`](crate::Producer::write_samples)
/// and [`Consumer::read_samples`](crate::Consumer::read_samples).
///
/// # Examples
///
/// ```
/// use pcm_ring::{Sample, SampleFormat};
///
/// /// Packed 24-bit little-endian.
/// #[derive(Clone, Copy)]
/// #[repr(transparent)]
/// struct I24([u8; 3]);
///
/// // SAFETY: a transparent wrapper of a byte array: any bit pattern is
/// // valid, no padding.
/// unsafe impl bytemuck::Zeroable for I24 {}
/// // SAFETY: as above.
/// unsafe impl bytemuck::Pod for I24 {}
///
/// impl Sample for I24 {
///     const FORMAT: SampleFormat = SampleFormat::I24;
/// }
/// assert_eq!(<i16 as Sample>::FORMAT, SampleFormat::I16);
/// ```
pub trait Sample: bytemuck::Pod {
    /// The sample format of this type.
    const FORMAT: SampleFormat;
}

macro_rules! samples {
    ($($t:ty => $f:ident),* $(,)?) => {
        $(impl Sample for $t {
            const FORMAT: SampleFormat = SampleFormat::$f;
        })*
    };
}

samples!(u8 => U8, i8 => I8, i16 => I16, u16 => U16, i32 => I32, u32 => U32, f32 => F32, f64 => F64);

/// Why a typed read or write does not fit the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SampleMismatch {
    /// The ring declared another sample format.
    Format {
        expected: SampleFormat,
        found: SampleFormat,
    },
    /// A raw ring, and the sample's size does not divide the block.
    Size { sample: usize, block_align: usize },
}

impl SampleMismatch {
    /// As a write's error.
    pub(crate) fn write_error(self) -> WriteError {
        match self {
            Self::Format { expected, found } => WriteError::SampleFormat { expected, found },
            Self::Size {
                sample,
                block_align,
            } => WriteError::SampleSize {
                sample,
                block_align,
            },
        }
    }

    /// As a read's error.
    pub(crate) fn read_error(self) -> ReadError {
        match self {
            Self::Format { expected, found } => ReadError::SampleFormat { expected, found },
            Self::Size {
                sample,
                block_align,
            } => ReadError::SampleSize {
                sample,
                block_align,
            },
        }
    }
}

/// Checks that `T` fits a ring with the declared `format` (if any) and
/// `block_align`.
#[inline]
pub(crate) fn check_sample<T: Sample>(
    format: Option<SampleFormat>,
    block_align: usize,
) -> Result<(), SampleMismatch> {
    match format {
        Some(expected) if expected != T::FORMAT => Err(SampleMismatch::Format {
            expected,
            found: T::FORMAT,
        }),
        // A type of the user's that claims the format must also have its size
        // (a 24-bit sample in a 4-byte container is not packed 24-bit).
        Some(expected) if core::mem::size_of::<T>() != expected.bytes() => {
            Err(SampleMismatch::Size {
                sample: core::mem::size_of::<T>(),
                block_align,
            })
        }
        Some(_) => Ok(()),
        None => {
            let sample = core::mem::size_of::<T>();
            if sample == 0 || block_align % sample != 0 {
                Err(SampleMismatch::Size {
                    sample,
                    block_align,
                })
            } else {
                Ok(())
            }
        }
    }
}
