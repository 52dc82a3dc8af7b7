//! The ring's configuration and its policies.

use crate::{header, ConfigError, Format, SampleFormat, Silence};

/// The largest block (frame) size in bytes.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, ConfigError, MAX_BLOCK_ALIGN};
///
/// let too_big = MAX_BLOCK_ALIGN + 1;
/// assert_eq!(
///     Config::raw(too_big, too_big).validate(),
///     Err(ConfigError::BlockAlignTooLarge { block_align: too_big, max: MAX_BLOCK_ALIGN })
/// );
/// ```
pub const MAX_BLOCK_ALIGN: usize = 1 << 20;
/// The largest capacity in bytes (1 GiB). Positions run over twice the
/// capacity and one bit of the read position is the consumer's claim, so they
/// fit a 32-bit field.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, ConfigError, MAX_CAPACITY};
///
/// assert!(Config::raw(4, MAX_CAPACITY).validate().is_ok());
/// assert_eq!(
///     Config::raw(4, MAX_CAPACITY + 4).validate(),
///     Err(ConfigError::CapacityTooLarge { capacity: MAX_CAPACITY + 4, max: MAX_CAPACITY })
/// );
/// ```
pub const MAX_CAPACITY: usize = 1 << 30;

/// What a write does when the free space is smaller than its input.
///
/// | policy | on overrun | what is counted |
/// |---|---|---|
/// | `Reject` | nothing is written; the error says how much is free | one refusal in [`Counters::refused`](crate::Counters::refused), not an overrun (the caller keeps its bytes: nothing is lost) |
/// | `Truncate` | the whole blocks that fit are written, the rest dropped | one overrun, the dropped bytes |
/// | `OverwriteOldest` | the oldest unread blocks are discarded so the newest data fits | one overrun, the discarded bytes as overwritten |
///
/// A write that `Reject` refuses is counted in
/// [`Counters::refused`](crate::Counters::refused), not as an overrun: it
/// lost nothing.
/// `OverwriteOldest` stays lock-free with the handles split: the consumer
/// claims the region it copies by setting a busy bit on its read position with
/// a compare-and-swap, and the producer advances the read position (by
/// compare-and-swap) only while no claim is held. A write that meets a claim
/// falls back to `Truncate` for that write, so a block is never overwritten
/// while the consumer copies it and the consumer never returns a torn block.
/// The consumer claims only while it copies data (not for an empty or
/// priming ring), so under contention most lost audio is still the oldest.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, Overrun};
///
/// let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(1, 4).overrun(Overrun::OverwriteOldest))?;
/// let out = tx.write(&[1, 2, 3, 4, 5, 6])?;
/// assert_eq!((out.written, out.dropped), (4, 2)); // the input's first 2 bytes
/// let out = tx.write(&[7])?;
/// assert_eq!(out.overwritten, 1); // byte 3, the oldest
/// let mut all = [0u8; 4];
/// let _ = rx.read(&mut all)?;
/// assert_eq!(all, [4, 5, 6, 7]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overrun {
    /// All or nothing.
    #[default]
    Reject,
    /// Drop the newest: write what fits in whole blocks.
    Truncate,
    /// Drop the oldest: discard unread blocks so the newest data fits.
    OverwriteOldest,
}

/// What a copying read does when fewer bytes are buffered than it asks for.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, Underrun};
///
/// let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(2, 8).underrun(Underrun::Partial))?;
/// let _ = tx.write(&[1, 2])?;
/// let mut out = [9u8; 6];
/// let got = rx.read(&mut out)?;
/// assert_eq!((got.data, got.silence), (2, 0));
/// assert_eq!(out, [1, 2, 9, 9, 9, 9]); // the rest is untouched
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Underrun {
    /// Fill the whole destination: the available data first, then silence.
    #[default]
    SilenceFill,
    /// Return only the available whole blocks.
    Partial,
}

/// What the consumer does after the ring runs dry while streaming.
///
/// Windows' port drivers resume as soon as any data is there (the default).
/// [`ReArm::Prime`] waits until `restart_threshold` bytes are buffered again,
/// which adds latency headroom after a glitch but turns a short stall into a
/// long silence: after a 1 ms hiccup, a 50 % restart threshold on a 40 ms ring
/// plays 20 ms of silence even though data kept arriving.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, ReArm};
///
/// let config = Config::raw(1, 8).rearm(ReArm::Prime { restart_threshold: 4 });
/// let (mut tx, mut rx) = pcm_ring::heap(&config)?;
/// let mut out = [0u8; 2];
/// let _ = tx.write(&[1, 2])?;
/// let _ = rx.read(&mut out)?; // streaming
/// let _ = rx.read(&mut out)?; // ran dry: back to priming
/// let _ = tx.write(&[3, 4])?;
/// let got = rx.read(&mut out)?;
/// assert_eq!((got.data, got.priming), (0, true)); // 2 buffered, 4 needed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReArm {
    /// Keep streaming; deliver data as soon as any arrives.
    #[default]
    Immediate,
    /// Go back to priming until this many bytes are buffered.
    Prime {
        /// Bytes that must be buffered before data flows again.
        restart_threshold: usize,
    },
}

/// Everything that shapes a ring. Build it with [`Config::new`] (a sample
/// format, a channel count and a capacity in frames) or [`Config::raw`]
/// (bytes per frame and bytes of capacity) and the builder methods; it is
/// checked when a ring is made from it.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, Format, Overrun, ReArm, SampleFormat, Underrun};
///
/// // 48 kHz, 16-bit stereo, 40 ms of buffer.
/// let config = Config::new(Format::new(SampleFormat::I16, 2), 1920)
///     .overrun(Overrun::OverwriteOldest)
///     .underrun(Underrun::SilenceFill)
///     .start_threshold(4 * 480) // bytes: start with 10 ms buffered
///     .rearm(ReArm::Immediate)
///     .low_watermark(4 * 960); // signal below 20 ms
/// assert_eq!((config.block_align(), config.capacity()), (4, 7680));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) format: Option<Format>,
    pub(crate) block_align: usize,
    pub(crate) capacity: usize,
    pub(crate) overrun: Overrun,
    pub(crate) underrun: Underrun,
    pub(crate) silence: Silence,
    pub(crate) start_threshold: usize,
    pub(crate) rearm: ReArm,
    pub(crate) low_watermark: usize,
    pub(crate) start_position: usize,
}

impl Config {
    /// A ring of `frames` frames of `format`, with the format's silence and
    /// the defaults: [`Overrun::Reject`], [`Underrun::SilenceFill`], start
    /// immediately, [`ReArm::Immediate`], no low watermark. Typed reads and
    /// writes are then checked against the format's sample type.
    ///
    /// The thresholds and the watermark set afterwards are in bytes, like
    /// every length on the audio path (`frames * config.block_align()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Format, SampleFormat, Silence};
    ///
    /// let config = Config::new(Format::new(SampleFormat::U8, 2), 441); // 10 ms at 44.1 kHz
    /// assert_eq!((config.block_align(), config.capacity()), (2, 882));
    /// assert_eq!(config.silence_pattern(), Silence::U8);
    /// ```
    #[must_use]
    pub const fn new(format: Format, frames: usize) -> Config {
        let block_align = format.block_align();
        // An overflowing capacity is refused by `validate`.
        let capacity = match frames.checked_mul(block_align) {
            Some(bytes) => bytes,
            None => usize::MAX,
        };
        let mut config = Config::raw(block_align, capacity);
        config.format = Some(format);
        config.silence = format.sample().silence();
        config
    }

    /// A ring of `capacity` bytes holding `block_align`-byte frames (a
    /// `WAVEFORMATEX`'s `nBlockAlign`), with the defaults of [`new`](Self::new)
    /// and [`Silence::ZERO`]. `capacity` must be a whole number of frames,
    /// so swapped arguments are refused when the ring is made (unless they
    /// are equal). Any block size from 1 to [`MAX_BLOCK_ALIGN`] works, powers
    /// of two or not. Typed reads and writes then take any [`Sample`](crate::Sample)
    /// type whose size divides the block.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, ConfigError};
    ///
    /// let config = Config::raw(12, 12 * 480); // 5.1 at 16 bit, 480 frames
    /// assert_eq!(config.capacity(), 5760);
    /// assert_eq!(
    ///     Config::raw(5760, 12).validate(), // swapped
    ///     Err(ConfigError::CapacityNotWholeBlocks { capacity: 12, block_align: 5760 })
    /// );
    /// ```
    #[must_use]
    pub const fn raw(block_align: usize, capacity: usize) -> Config {
        Config {
            format: None,
            block_align,
            capacity,
            overrun: Overrun::Reject,
            underrun: Underrun::SilenceFill,
            silence: Silence::ZERO,
            start_threshold: 0,
            rearm: ReArm::Immediate,
            low_watermark: 0,
            start_position: 0,
        }
    }

    /// Sets the overrun policy (default [`Overrun::Reject`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Overrun};
    ///
    /// let config = Config::raw(4, 64).overrun(Overrun::Truncate);
    /// assert_eq!(config.overrun_policy(), Overrun::Truncate);
    /// ```
    #[must_use = "the builder returns the changed configuration; it does not change `self`"]
    pub const fn overrun(mut self, overrun: Overrun) -> Config {
        self.overrun = overrun;
        self
    }

    /// Sets the underrun policy (default [`Underrun::SilenceFill`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Underrun};
    ///
    /// let config = Config::raw(4, 64).underrun(Underrun::Partial);
    /// assert_eq!(config.underrun_policy(), Underrun::Partial);
    /// ```
    #[must_use = "the builder returns the changed configuration; it does not change `self`"]
    pub const fn underrun(mut self, underrun: Underrun) -> Config {
        self.underrun = underrun;
        self
    }

    /// Sets the silence pattern used for silence fill ([`Config::new`] takes
    /// it from the format; [`Config::raw`] starts with [`Silence::ZERO`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Silence};
    ///
    /// let config = Config::raw(2, 64).silence(Silence::U16_LE); // unsigned 16-bit mono
    /// assert_eq!(config.silence_pattern(), Silence::U16_LE);
    /// ```
    #[must_use = "the builder returns the changed configuration; it does not change `self`"]
    pub const fn silence(mut self, silence: Silence) -> Config {
        self.silence = silence;
        self
    }

    /// Bytes that must be buffered before the first read delivers data
    /// (0 starts at once, as Windows' port drivers do).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pcm_ring::Config::raw(4, 7680).start_threshold(1920); // 10 ms at 48 kHz
    /// let (mut tx, mut rx) = pcm_ring::heap(&config)?;
    /// let _ = tx.write(&[1; 960])?;
    /// let mut out = [0u8; 960];
    /// assert!(rx.read(&mut out)?.priming); // silence until 1920 bytes are buffered
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "the builder returns the changed configuration; it does not change `self`"]
    pub const fn start_threshold(mut self, bytes: usize) -> Config {
        self.start_threshold = bytes;
        self
    }

    /// Sets what happens after the ring runs dry while streaming (default
    /// [`ReArm::Immediate`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, ReArm};
    ///
    /// let config = Config::raw(4, 64).rearm(ReArm::Prime { restart_threshold: 32 });
    /// assert_eq!(config.rearm_policy(), ReArm::Prime { restart_threshold: 32 });
    /// ```
    #[must_use = "the builder returns the changed configuration; it does not change `self`"]
    pub const fn rearm(mut self, rearm: ReArm) -> Config {
        self.rearm = rearm;
        self
    }

    /// A read reports once when the fill level falls below this many bytes
    /// (0 disables the signal). The report re-arms when a read finds the
    /// fill back at or above the watermark; it starts armed, so the first
    /// read that leaves the fill below the watermark reports it even if the
    /// fill was never above (the producer has work to do either way).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(1, 16).low_watermark(4))?;
    /// let _ = tx.write(&[0; 8])?;
    /// let mut out = [0u8; 3];
    /// assert!(!rx.read(&mut out)?.low_watermark); // 5 left
    /// assert!(rx.read(&mut out)?.low_watermark); // 2 left: wake the producer
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "the builder returns the changed configuration; it does not change `self`"]
    pub const fn low_watermark(mut self, bytes: usize) -> Config {
        self.low_watermark = bytes;
        self
    }

    /// Starts the positions `blocks` blocks into the position space (which
    /// runs over twice the capacity) instead of at 0, so that tests can start
    /// right before the positions wrap. The value is taken modulo the space.
    #[doc(hidden)]
    #[must_use = "the builder returns the changed configuration; it does not change `self`"]
    pub const fn start_position_blocks(mut self, blocks: usize) -> Config {
        self.start_position = blocks;
        self
    }

    /// The block (frame) size in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Format, SampleFormat};
    ///
    /// assert_eq!(Config::new(Format::new(SampleFormat::I24, 2), 10).block_align(), 6);
    /// ```
    #[must_use]
    pub const fn block_align(&self) -> usize {
        self.block_align
    }

    /// The capacity in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Format, SampleFormat};
    ///
    /// assert_eq!(Config::new(Format::new(SampleFormat::I24, 2), 10).capacity(), 60);
    /// ```
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    /// The declared format ([`Config::new`]), or `None` for a raw ring.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Format, SampleFormat};
    ///
    /// let stereo = Format::new(SampleFormat::F32, 2);
    /// assert_eq!(Config::new(stereo, 64).format(), Some(stereo));
    /// assert_eq!(Config::raw(8, 512).format(), None);
    /// ```
    #[must_use]
    pub const fn format(&self) -> Option<Format> {
        self.format
    }

    /// The overrun policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Overrun};
    ///
    /// assert_eq!(Config::raw(1, 8).overrun_policy(), Overrun::Reject);
    /// ```
    #[must_use]
    pub const fn overrun_policy(&self) -> Overrun {
        self.overrun
    }

    /// The underrun policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Underrun};
    ///
    /// assert_eq!(Config::raw(1, 8).underrun_policy(), Underrun::SilenceFill);
    /// ```
    #[must_use]
    pub const fn underrun_policy(&self) -> Underrun {
        self.underrun
    }

    /// The silence pattern.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Format, SampleFormat, Silence};
    ///
    /// let unsigned = Config::new(Format::new(SampleFormat::U8, 2), 64);
    /// assert_eq!(unsigned.silence_pattern(), Silence::U8);
    /// ```
    #[must_use]
    pub const fn silence_pattern(&self) -> Silence {
        self.silence
    }

    /// The re-arm policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, ReArm};
    ///
    /// assert_eq!(Config::raw(1, 8).rearm_policy(), ReArm::Immediate);
    /// ```
    #[must_use]
    pub const fn rearm_policy(&self) -> ReArm {
        self.rearm
    }

    /// The declared sample format, if any.
    pub(crate) const fn sample_format(&self) -> Option<SampleFormat> {
        match self.format {
            Some(format) => Some(format.sample()),
            None => None,
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`ConfigError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, ConfigError};
    ///
    /// assert_eq!(
    ///     Config::raw(6, 100).validate(),
    ///     Err(ConfigError::CapacityNotWholeBlocks { capacity: 100, block_align: 6 })
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (block_align, capacity) = (self.block_align, self.capacity);
        if let Some(format) = self.format {
            if format.channels() == 0 {
                return Err(ConfigError::ZeroChannels);
            }
        }
        if block_align == 0 {
            return Err(ConfigError::ZeroBlockAlign);
        }
        if block_align > MAX_BLOCK_ALIGN {
            return Err(ConfigError::BlockAlignTooLarge {
                block_align,
                max: MAX_BLOCK_ALIGN,
            });
        }
        if capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        if capacity > MAX_CAPACITY {
            return Err(ConfigError::CapacityTooLarge {
                capacity,
                max: MAX_CAPACITY,
            });
        }
        if capacity % block_align != 0 {
            return Err(ConfigError::CapacityNotWholeBlocks {
                capacity,
                block_align,
            });
        }
        if self.start_threshold > capacity {
            return Err(ConfigError::StartThresholdAboveCapacity {
                threshold: self.start_threshold,
                capacity,
            });
        }
        if let ReArm::Prime { restart_threshold } = self.rearm {
            if restart_threshold > capacity {
                return Err(ConfigError::RestartThresholdAboveCapacity {
                    threshold: restart_threshold,
                    capacity,
                });
            }
        }
        if self.low_watermark > capacity {
            return Err(ConfigError::LowWatermarkAboveCapacity {
                watermark: self.low_watermark,
                capacity,
            });
        }
        let pattern_len = self.silence.pattern().len();
        // `checked_rem`: no division-by-zero panic path (a pattern is never
        // empty, but the optimiser cannot know).
        if block_align.checked_rem(pattern_len) != Some(0) {
            return Err(ConfigError::SilenceDoesNotTile {
                pattern_len,
                block_align,
            });
        }
        Ok(())
    }

    /// Bytes of memory a ring with this configuration needs when it lives in
    /// caller-provided memory ([`borrowed`](crate::borrowed)): the shared
    /// header, worst-case alignment padding, and the capacity.
    ///
    /// # Errors
    ///
    /// The configuration's [`ConfigError`], if it is invalid.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pcm_ring::Config::raw(4, 1024);
    /// assert!(config.required_memory()? > 1024);
    /// # Ok::<(), pcm_ring::ConfigError>(())
    /// ```
    pub fn required_memory(&self) -> Result<usize, ConfigError> {
        self.validate()?;
        Ok(header::HEADER_SIZE + header::HEADER_ALIGN - 1 + self.capacity)
    }
}

impl Default for Config {
    /// One-byte blocks, 4096 bytes, all policies at their defaults.
    fn default() -> Self {
        Config::raw(1, 4096)
    }
}
