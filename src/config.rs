//! The ring's configuration and its policies.

use crate::{header, ConfigError, Silence};

/// The largest block (frame) size in bytes.
pub const MAX_BLOCK_ALIGN: usize = 1 << 20;
/// The largest capacity in bytes (1 GiB). Positions run over twice the
/// capacity and one bit of the read position is the consumer's claim, so they
/// fit a 32-bit field.
pub const MAX_CAPACITY: usize = 1 << 30;

/// What a write does when the free space is smaller than its input.
///
/// | policy | on overrun | what is counted |
/// |---|---|---|
/// | `Reject` | nothing is written; the error says how much is free | one overrun (the caller keeps its bytes: nothing is dropped) |
/// | `Truncate` | the whole blocks that fit are written, the rest dropped | one overrun, the dropped bytes |
/// | `OverwriteOldest` | the oldest unread blocks are discarded so the newest data fits | one overrun, the discarded bytes as overwritten |
///
/// `OverwriteOldest` stays lock-free with the handles split: the consumer
/// claims the region it copies by setting a busy bit on its read position with
/// a compare-and-swap, and the producer advances the read position (by
/// compare-and-swap) only while no claim is held. A write that meets a claim
/// falls back to `Truncate` for that write, so a block is never overwritten
/// while the consumer copies it and the consumer never returns a torn block.
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

/// Everything that shapes a ring. Build it with [`Config::new`] and the
/// builder methods; it is checked when a ring is made from it.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, Overrun, ReArm, Silence, Underrun};
///
/// // 48 kHz, 16-bit stereo: 4-byte frames, 40 ms of buffer.
/// let config = Config::new(4, 4 * 1920)
///     .overrun(Overrun::OverwriteOldest)
///     .underrun(Underrun::SilenceFill)
///     .silence(Silence::ZERO)
///     .start_threshold(4 * 480) // start with 10 ms buffered
///     .rearm(ReArm::Immediate)
///     .low_watermark(4 * 960); // signal below 20 ms
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
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
    /// A ring of `capacity` bytes holding `block_align`-byte frames, with the
    /// defaults: [`Overrun::Reject`], [`Underrun::SilenceFill`] with
    /// [`Silence::ZERO`], start immediately, [`ReArm::Immediate`], no low
    /// watermark.
    ///
    /// `capacity` must be a whole number of blocks; any block size from 1 to
    /// [`MAX_BLOCK_ALIGN`] works, powers of two or not.
    pub const fn new(block_align: usize, capacity: usize) -> Config {
        Config {
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

    /// The raw byte form: `block_align` bytes per frame (a `WAVEFORMATEX`'s
    /// `nBlockAlign`) and a capacity of `capacity` bytes, which must be a
    /// whole number of frames.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pcm_ring::Config::raw(12, 12 * 480); // 5.1 at 16 bit, 480 frames
    /// assert_eq!(config.capacity(), 5760);
    /// ```
    pub const fn raw(block_align: usize, capacity: usize) -> Config {
        Config::new(block_align, capacity)
    }

    /// Sets the overrun policy.
    pub const fn overrun(mut self, overrun: Overrun) -> Config {
        self.overrun = overrun;
        self
    }

    /// Sets the underrun policy.
    pub const fn underrun(mut self, underrun: Underrun) -> Config {
        self.underrun = underrun;
        self
    }

    /// Sets the silence pattern used for silence fill.
    pub const fn silence(mut self, silence: Silence) -> Config {
        self.silence = silence;
        self
    }

    /// Bytes that must be buffered before the first read delivers data
    /// (0 starts at once, as Windows' port drivers do).
    pub const fn start_threshold(mut self, bytes: usize) -> Config {
        self.start_threshold = bytes;
        self
    }

    /// Sets what happens after the ring runs dry while streaming.
    pub const fn rearm(mut self, rearm: ReArm) -> Config {
        self.rearm = rearm;
        self
    }

    /// A read reports once when the fill level falls below this many bytes
    /// (0 disables the signal). The report re-arms when a read finds the
    /// fill back at or above the watermark; it starts armed, so the first
    /// read that leaves the fill below the watermark reports it even if the
    /// fill was never above (the producer has work to do either way).
    pub const fn low_watermark(mut self, bytes: usize) -> Config {
        self.low_watermark = bytes;
        self
    }

    /// Starts the positions `blocks` blocks into the position space (which
    /// runs over twice the capacity) instead of at 0, so that tests can start
    /// right before the positions wrap. The value is taken modulo the space.
    #[doc(hidden)]
    pub const fn start_position_blocks(mut self, blocks: usize) -> Config {
        self.start_position = blocks;
        self
    }

    /// The block size in bytes.
    pub const fn block_align(&self) -> usize {
        self.block_align
    }

    /// The capacity in bytes.
    pub const fn capacity(&self) -> usize {
        self.capacity
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
    ///     Config::new(6, 100).validate(),
    ///     Err(ConfigError::CapacityNotWholeBlocks { capacity: 100, block_align: 6 })
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (block_align, capacity) = (self.block_align, self.capacity);
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
    /// let config = pcm_ring::Config::new(4, 1024);
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
        Config::new(1, 4096)
    }
}
