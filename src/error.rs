//! Typed errors. Every misuse is reported here; no public function panics.

use core::fmt;

use crate::SampleFormat;

/// Why a [`Config`](crate::Config) or a storage cannot make a ring.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, ConfigError};
///
/// let err = Config::raw(4, 4096).start_threshold(8192).validate().unwrap_err();
/// assert_eq!(
///     err,
///     ConfigError::StartThresholdAboveCapacity { threshold: 8192, capacity: 4096 }
/// );
/// assert_eq!(err.to_string(), "start threshold 8192 is above the capacity 4096");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `block_align` is 0: a frame has at least one byte.
    ZeroBlockAlign,
    /// A [`Format`](crate::Format) with no channels.
    ZeroChannels,
    /// `block_align` is larger than [`MAX_BLOCK_ALIGN`](crate::MAX_BLOCK_ALIGN).
    BlockAlignTooLarge {
        /// The requested block size in bytes.
        block_align: usize,
        /// The largest supported block size.
        max: usize,
    },
    /// The capacity is 0.
    ZeroCapacity,
    /// The capacity is not a whole number of blocks.
    CapacityNotWholeBlocks {
        /// The requested capacity in bytes.
        capacity: usize,
        /// The block size in bytes.
        block_align: usize,
    },
    /// The capacity is larger than [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    CapacityTooLarge {
        /// The requested capacity in bytes.
        capacity: usize,
        /// The largest supported capacity.
        max: usize,
    },
    /// The start threshold is above the capacity, so the ring could never start.
    StartThresholdAboveCapacity {
        /// The threshold in bytes.
        threshold: usize,
        /// The capacity in bytes.
        capacity: usize,
    },
    /// The restart threshold is above the capacity, so the ring could never restart.
    RestartThresholdAboveCapacity {
        /// The threshold in bytes.
        threshold: usize,
        /// The capacity in bytes.
        capacity: usize,
    },
    /// The low watermark is above the capacity.
    LowWatermarkAboveCapacity {
        /// The watermark in bytes.
        watermark: usize,
        /// The capacity in bytes.
        capacity: usize,
    },
    /// A silence pattern is empty or longer than
    /// [`Silence::MAX_PATTERN`](crate::Silence::MAX_PATTERN).
    SilencePatternLength {
        /// The pattern's length in bytes.
        len: usize,
    },
    /// The silence pattern does not tile the block (the block is not a whole
    /// number of patterns).
    SilenceDoesNotTile {
        /// The pattern's length in bytes.
        pattern_len: usize,
        /// The block size in bytes.
        block_align: usize,
    },
    /// The memory given to hold the ring is too small.
    BufferTooSmall {
        /// Bytes the ring needs (see [`Config::required_memory`](crate::Config::required_memory)).
        needed: usize,
        /// Bytes that were given.
        available: usize,
    },
    /// [`StaticRing::try_split`](crate::StaticRing::try_split) was already
    /// called on this ring: its handles exist (or existed) elsewhere.
    AlreadySplit,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ZeroBlockAlign => f.write_str("block_align is 0; a frame has at least one byte"),
            Self::ZeroChannels => {
                f.write_str("the format has 0 channels; a frame has at least one")
            }
            Self::BlockAlignTooLarge { block_align, max } => {
                write!(
                    f,
                    "block_align {block_align} is larger than the maximum {max}"
                )
            }
            Self::ZeroCapacity => f.write_str("capacity is 0"),
            Self::CapacityNotWholeBlocks {
                capacity,
                block_align,
            } => write!(
                f,
                "capacity {capacity} is not a whole number of {block_align}-byte blocks"
            ),
            Self::CapacityTooLarge { capacity, max } => {
                write!(f, "capacity {capacity} is larger than the maximum {max}")
            }
            Self::StartThresholdAboveCapacity {
                threshold,
                capacity,
            } => write!(
                f,
                "start threshold {threshold} is above the capacity {capacity}"
            ),
            Self::RestartThresholdAboveCapacity {
                threshold,
                capacity,
            } => write!(
                f,
                "restart threshold {threshold} is above the capacity {capacity}"
            ),
            Self::LowWatermarkAboveCapacity {
                watermark,
                capacity,
            } => write!(
                f,
                "low watermark {watermark} is above the capacity {capacity}"
            ),
            Self::SilencePatternLength { len } => write!(
                f,
                "silence pattern of {len} bytes; it must have 1 to {} bytes",
                crate::Silence::MAX_PATTERN
            ),
            Self::SilenceDoesNotTile {
                pattern_len,
                block_align,
            } => write!(
                f,
                "a {pattern_len}-byte silence pattern does not tile a {block_align}-byte block"
            ),
            Self::BufferTooSmall { needed, available } => write!(
                f,
                "the ring needs {needed} bytes of memory but {available} were given"
            ),
            Self::AlreadySplit => f.write_str("the static ring was already split"),
        }
    }
}

/// Why a write was refused. Nothing was written and nothing already in the
/// ring was lost.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, WriteError};
///
/// let (mut tx, _rx) = pcm_ring::heap(&Config::raw(4, 8))?;
/// let _ = tx.write(&[0; 8])?;
/// let err = tx.write(&[1; 4]).unwrap_err(); // Reject: all or nothing
/// assert_eq!(err, WriteError::Full { needed: 4, free: 0 });
/// assert_eq!(err.to_string(), "ring full: the write needs 4 bytes, 0 are free");
/// assert_eq!(tx.fill(), 8); // nothing lost
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
// A whole-word tag: without it the compiler lays `Result<WriteOutcome,
// WriteError>` out with the one-byte fields of `SampleFormat` over
// `written`, and a caller that checks `written` after `Producer::write`
// stores it in byte-sized pieces and loads it back as one word, a load
// that waits for those stores to leave the core (on the copy API's
// producer, about a tenth of a two-thread stream's time).
#[repr(u64)]
pub enum WriteError {
    /// A strict write or a commit whose length is not a whole number of blocks.
    NotWholeBlocks {
        /// The length in bytes.
        len: usize,
        /// The block size in bytes.
        block_align: usize,
    },
    /// [`Overrun::Reject`](crate::Overrun::Reject): the input does not fit.
    Full {
        /// Bytes the write needed (rounded up to whole blocks).
        needed: usize,
        /// Free bytes in the ring.
        free: usize,
    },
    /// A stream write left a partial block held; a strict write or a grant
    /// would misalign the stream. Complete it with
    /// [`Producer::write_stream`](crate::Producer::write_stream) or drop it
    /// with [`Producer::discard_partial`](crate::Producer::discard_partial).
    PartialBlockHeld {
        /// Bytes of the partial block held by the producer.
        held: usize,
    },
    /// An overrun dropped a partial block from a stream write; the next
    /// `remaining` stream bytes (the rest of that frame) are still to be
    /// discarded, so a strict write or a grant would misalign the stream.
    DiscardingPartialBlock {
        /// Bytes of the dropped frame still to come.
        remaining: usize,
    },
    /// The producer marked the end of the stream.
    Finished,
    /// A typed write with a sample type whose size does not divide the block
    /// (or is zero) on a raw ring, or, on a ring with a declared format, a
    /// type that claims the format but is not its size.
    SampleSize {
        /// `size_of::<T>()`.
        sample: usize,
        /// The block size in bytes.
        block_align: usize,
    },
    /// A typed write whose sample type is not the ring's declared format.
    SampleFormat {
        /// The ring's sample format.
        expected: SampleFormat,
        /// The sample type's format.
        found: SampleFormat,
    },
    /// A commit larger than the grant.
    CommitTooLarge {
        /// Bytes the caller tried to commit.
        len: usize,
        /// Bytes granted.
        granted: usize,
    },
    /// The consumer's read position broke the protocol (out of range, more
    /// than the capacity behind the write position, or not on a block
    /// boundary): a peer across a trust boundary misbehaved, or the shared
    /// memory was corrupted. Nothing was written; the error is counted in
    /// [`Counters::protocol_errors`](crate::Counters::protocol_errors), and
    /// the next write looks again.
    Protocol,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotWholeBlocks { len, block_align } => write!(
                f,
                "{len} bytes is not a whole number of {block_align}-byte blocks"
            ),
            Self::Full { needed, free } => {
                write!(
                    f,
                    "ring full: the write needs {needed} bytes, {free} are free"
                )
            }
            Self::PartialBlockHeld { held } => write!(
                f,
                "a partial block of {held} bytes is held from a stream write"
            ),
            Self::DiscardingPartialBlock { remaining } => write!(
                f,
                "{remaining} bytes of a dropped partial block are still to be discarded"
            ),
            Self::Finished => f.write_str("the stream was marked finished"),
            Self::SampleSize {
                sample,
                block_align,
            } => write!(
                f,
                "a {sample}-byte sample does not divide the {block_align}-byte block"
            ),
            Self::SampleFormat { expected, found } => write!(
                f,
                "{found:?} samples given to a ring of {expected:?} samples"
            ),
            Self::CommitTooLarge { len, granted } => {
                write!(f, "commit of {len} bytes exceeds the grant of {granted}")
            }
            Self::Protocol => {
                f.write_str("the consumer's read position in the shared header breaks the protocol")
            }
        }
    }
}

/// Why a read was refused. Nothing was read and nothing in the ring was lost.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, ReadError};
///
/// let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 64))?;
/// let _ = tx.write(&[0; 8])?;
/// let mut odd = [0u8; 6];
/// let err = rx.read(&mut odd).unwrap_err();
/// assert_eq!(err, ReadError::NotWholeBlocks { len: 6, block_align: 4 });
/// assert_eq!(rx.available(), 8); // nothing lost
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// A destination, offset or release length that is not a whole number of blocks.
    NotWholeBlocks {
        /// The length or offset in bytes.
        len: usize,
        /// The block size in bytes.
        block_align: usize,
    },
    /// A cyclic destination's offset or length is outside it.
    OutOfRange {
        /// The offset or length that does not fit.
        value: usize,
        /// The destination's length.
        len: usize,
    },
    /// A typed read with a sample type whose size does not divide the block
    /// (or is zero) on a raw ring, or, on a ring with a declared format, a
    /// type that claims the format but is not its size.
    SampleSize {
        /// `size_of::<T>()`.
        sample: usize,
        /// The block size in bytes.
        block_align: usize,
    },
    /// A typed read whose sample type is not the ring's declared format.
    SampleFormat {
        /// The ring's sample format.
        expected: SampleFormat,
        /// The sample type's format.
        found: SampleFormat,
    },
    /// A release larger than the grant.
    ReleaseTooLarge {
        /// Bytes the caller tried to release.
        len: usize,
        /// Bytes granted.
        granted: usize,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotWholeBlocks { len, block_align } => write!(
                f,
                "{len} bytes is not a whole number of {block_align}-byte blocks"
            ),
            Self::OutOfRange { value, len } => write!(
                f,
                "{value} is out of range for a {len}-byte cyclic destination"
            ),
            Self::SampleSize {
                sample,
                block_align,
            } => write!(
                f,
                "a {sample}-byte sample does not divide the {block_align}-byte block"
            ),
            Self::SampleFormat { expected, found } => write!(
                f,
                "{found:?} samples asked of a ring of {expected:?} samples"
            ),
            Self::ReleaseTooLarge { len, granted } => {
                write!(f, "release of {len} bytes exceeds the grant of {granted}")
            }
        }
    }
}

/// Why [`shm::init`](crate::shm::init) or an attach refused a shared-memory
/// region. Nothing in the region was changed (by an attach at all; by `init`
/// unless it succeeded).
///
/// # Examples
///
/// ```
/// use core::ptr::NonNull;
/// use pcm_ring::{shm, AttachError, Config};
///
/// let config = Config::raw(4, 64);
/// let mut region = vec![0u32; shm::region_size(&config)? / 4]; // 4-byte aligned
/// let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
/// // Not initialised: all zero.
/// // SAFETY: `region` outlives the (failed) attach.
/// let err = unsafe { shm::attach_consumer(&config, base, len) }.unwrap_err();
/// assert_eq!(err, AttachError::Magic { found: 0 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachError {
    /// The configuration itself is invalid.
    Config(ConfigError),
    /// The region does not start on a 4-byte boundary.
    Misaligned {
        /// The region's address modulo the alignment.
        offset: usize,
        /// The alignment a region needs, [`shm::REGION_ALIGN`](crate::shm::REGION_ALIGN).
        align: usize,
    },
    /// The region is shorter than the header and the configured capacity.
    TooSmall {
        /// Bytes the region needs, [`shm::region_size`](crate::shm::region_size).
        needed: usize,
        /// Bytes the region has.
        available: usize,
    },
    /// The region does not start with the header's magic number: it was
    /// never initialised, or is not a pcm-ring region.
    Magic {
        /// The first 32-bit word of the region.
        found: u32,
    },
    /// The header has another layout version.
    Version {
        /// The version in the header.
        found: u32,
        /// The version this crate implements, [`shm::LAYOUT_VERSION`](crate::shm::LAYOUT_VERSION).
        supported: u32,
    },
    /// The header's size or geometry is not the configuration's.
    Geometry {
        /// The header's size, capacity and block size.
        found: (u32, u32, u32),
        /// The ones the configuration expects.
        expected: (u32, u32, u32),
    },
    /// A hardened attach with [`Overrun::OverwriteOldest`](crate::Overrun::OverwriteOldest),
    /// or to a region initialised for it: overwriting makes the producer move
    /// the consumer's read position, and a hardened side never writes its
    /// peer's position (nor lets its peer write its own).
    OverwriteAcrossTrustBoundary,
    /// The header's ring flags have bits this crate does not know.
    RingFlags {
        /// The ring flags word.
        found: u32,
    },
    /// A trusted attach whose overrun policy disagrees with the one the
    /// region was initialised with about `OverwriteOldest` (both sides must
    /// use it, or neither).
    OverrunMismatch,
    /// The side's own position in the header is out of range or not on a
    /// block boundary: the region was corrupted after `init`.
    Position {
        /// The position found.
        found: u32,
    },
    /// An earlier handle of this side finished the stream or detached (its
    /// flags in the header are set): the region's stream is over. Initialise
    /// the region again, with both sides detached, for a new one.
    SideDetached {
        /// The side's flags word.
        flags: u32,
    },
}

impl From<ConfigError> for AttachError {
    fn from(err: ConfigError) -> Self {
        AttachError::Config(err)
    }
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Config(err) => write!(f, "invalid configuration: {err}"),
            Self::Misaligned { offset, align } => write!(
                f,
                "the region is {offset} bytes past a {align}-byte boundary"
            ),
            Self::TooSmall { needed, available } => write!(
                f,
                "the region needs {needed} bytes and has {available}"
            ),
            Self::Magic { found } => write!(
                f,
                "the region does not hold an initialised ring (magic {found:#010x})"
            ),
            Self::Version { found, supported } => write!(
                f,
                "the header has layout version {found}; this crate implements {supported}"
            ),
            Self::Geometry { found, expected } => write!(
                f,
                "the header's (size, capacity, block size) is {found:?}, the configuration's {expected:?}"
            ),
            Self::OverwriteAcrossTrustBoundary => f.write_str(
                "OverwriteOldest moves the peer's read position, which a hardened side never writes",
            ),
            Self::RingFlags { found } => {
                write!(f, "the header's ring flags {found:#x} have unknown bits")
            }
            Self::OverrunMismatch => f.write_str(
                "the two sides disagree about OverwriteOldest",
            ),
            Self::Position { found } => write!(
                f,
                "the side's own position {found} in the header is out of range"
            ),
            Self::SideDetached { flags } => write!(
                f,
                "an earlier handle of this side ended the region's stream (flags {flags:#x}); initialise it again"
            ),
        }
    }
}

impl core::error::Error for AttachError {}
impl core::error::Error for ConfigError {}
impl core::error::Error for WriteError {}
impl core::error::Error for ReadError {}
