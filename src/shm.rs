#![doc = include_str!("../docs/shared-memory.md")]

use core::ptr::NonNull;

use crate::header::{Geometry, Header, HEADER_ALIGN, HEADER_SIZE, MAGIC, OVERWRITE, VERSION};
use crate::storage::{ring_flags, Shared};
use crate::sync::Ordering;
use crate::{
    AttachError, Config, ConfigError, Consumer, Counters, Overrun, Producer, ReadError,
    ReadOutcome, Sample, WriteError, WriteOutcome,
};

/// The header layout version this crate reads and writes.
pub const LAYOUT_VERSION: u32 = VERSION;
/// Bytes of the header at the start of a region; the data follows it.
pub const HEADER_BYTES: usize = HEADER_SIZE;
/// The alignment a region's start needs.
pub const REGION_ALIGN: usize = HEADER_ALIGN;

/// Bytes a region for `config` needs: the header, then the capacity.
///
/// # Errors
///
/// The configuration's [`ConfigError`].
///
/// # Examples
///
/// ```
/// use pcm_ring::{shm, Config};
///
/// assert_eq!(shm::region_size(&Config::raw(4, 1920))?, shm::HEADER_BYTES + 1920);
/// # Ok::<(), pcm_ring::ConfigError>(())
/// ```
pub fn region_size(config: &Config) -> Result<usize, ConfigError> {
    config.validate()?;
    Ok(HEADER_SIZE + config.capacity)
}

/// Checks that `len` bytes at `base` can hold a ring for `config`.
fn check_region(config: &Config, base: NonNull<u8>, len: usize) -> Result<Geometry, AttachError> {
    let needed = region_size(config)?;
    let offset = (base.as_ptr() as usize) % REGION_ALIGN;
    if offset != 0 {
        return Err(AttachError::Misaligned {
            offset,
            align: REGION_ALIGN,
        });
    }
    if len < needed {
        return Err(AttachError::TooSmall {
            needed,
            available: len,
        });
    }
    Ok(Geometry::new(config.capacity, config.block_align))
}

/// Initialises a ring for `config` in `len` bytes of (shared) memory at
/// `base`: writes the header (both positions at the configured start, no
/// counts, no flags) and leaves the data alone. Do it once, before either
/// side attaches; to start a new stream, detach both and initialise again.
///
/// # Errors
///
/// [`AttachError::Config`], [`AttachError::Misaligned`] or
/// [`AttachError::TooSmall`]; the region is untouched then.
///
/// # Safety
///
/// `base..base + len` is valid for reads and writes, and no handle is
/// attached to it (a peer that is attached, or attaches meanwhile, sees a
/// header being rewritten).
///
/// # Examples
///
/// ```
/// use core::ptr::NonNull;
/// use pcm_ring::{shm, Config};
///
/// let config = Config::raw(4, 4 * 480);
/// let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
/// let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
/// // SAFETY: `region` is ours alone and outlives both handles.
/// let (mut tx, mut rx) = unsafe {
///     shm::init(&config, base, len)?;
///     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
/// };
/// tx.write(&[1; 1920])?;
/// let mut out = [0u8; 960];
/// assert_eq!(rx.read(&mut out)?.data, 960);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub unsafe fn init(config: &Config, base: NonNull<u8>, len: usize) -> Result<(), AttachError> {
    let geometry = check_region(config, base, len)?;
    let start = geometry.start_position(config.start_position) as u32;
    // SAFETY: the region is aligned for the header and long enough
    // (`check_region`) and valid for reads and writes (the caller); every
    // bit pattern is a valid `Header` (atomics and byte padding), and every
    // byte of it is interior mutable, so a shared reference to whatever the
    // region holds is valid, and stays valid if the peer writes meanwhile.
    #[cfg(not(loom))]
    unsafe { base.cast::<Header>().as_ref() }.initialise(&geometry, ring_flags(config), start);
    // SAFETY: as above; under loom the atomics must be constructed (the
    // models initialise before any thread runs).
    #[cfg(loom)]
    unsafe {
        base.cast::<Header>()
            .as_ptr()
            .write(Header::new(&geometry, ring_flags(config), start));
    }
    Ok(())
}

/// What one side needs after a successful attach.
struct Attached<'a> {
    shared: Shared<'a>,
    geometry: Geometry,
    /// The side's own position, validated.
    own: usize,
}

/// Which side is attaching.
#[derive(Clone, Copy)]
enum Side {
    Producer,
    Consumer,
}

/// Validates the header in the region against `config` and makes one
/// side's share of it.
///
/// # Safety
///
/// As for [`attach_producer`].
unsafe fn attach<'a>(
    config: &Config,
    base: NonNull<u8>,
    len: usize,
    side: Side,
    untrusted: bool,
    shadow: ShadowArg,
) -> Result<Attached<'a>, AttachError> {
    #[cfg(not(loom))]
    let () = shadow;
    let geometry = check_region(config, base, len)?;
    let overwrite = config.overrun == Overrun::OverwriteOldest;
    if untrusted && overwrite {
        return Err(AttachError::OverwriteAcrossTrustBoundary);
    }
    let header = base.cast::<Header>();
    // SAFETY: the region is aligned and long enough for a header (checked),
    // valid for `'a` (the caller), and every byte of `Header` is interior
    // mutable, so the reference stays valid whatever the peer writes.
    let h = unsafe { header.as_ref() };
    // Each identity word is loaded once and checked before anything uses it.
    let magic = h.magic.load(Ordering::Acquire);
    if magic != MAGIC {
        return Err(AttachError::Magic { found: magic });
    }
    let version = h.version.load(Ordering::Relaxed);
    if version != VERSION {
        return Err(AttachError::Version {
            found: version,
            supported: VERSION,
        });
    }
    let found = (
        h.header_size.load(Ordering::Relaxed),
        h.capacity.load(Ordering::Relaxed),
        h.block_align.load(Ordering::Relaxed),
    );
    let expected = (
        HEADER_SIZE as u32,
        geometry.capacity as u32,
        geometry.block_align as u32,
    );
    if found != expected {
        return Err(AttachError::Geometry { found, expected });
    }
    let ring_flags = h.ring_flags.load(Ordering::Relaxed);
    if ring_flags & !OVERWRITE != 0 {
        return Err(AttachError::RingFlags { found: ring_flags });
    }
    let made_for_overwrite = ring_flags & OVERWRITE != 0;
    if untrusted && made_for_overwrite {
        // Its trusted peer would move this side's position.
        return Err(AttachError::OverwriteAcrossTrustBoundary);
    }
    if made_for_overwrite != overwrite {
        return Err(AttachError::OverrunMismatch);
    }
    // An earlier handle of this side finished or detached: that stream is
    // over, and a new handle would resurrect it for the peer.
    let flags = match side {
        Side::Producer => h.producer_flags.load(Ordering::Acquire),
        Side::Consumer => h.consumer_flags.load(Ordering::Acquire),
    };
    if flags != 0 {
        return Err(AttachError::SideDetached { flags });
    }
    // The side's own position: from the header once, then private. Only an
    // `OverwriteOldest` consumer sets the claim bit (and a leaked claim is
    // released by its next read).
    let raw = match side {
        Side::Producer => h.write.load(Ordering::Acquire),
        Side::Consumer if overwrite => h.read.load(Ordering::Acquire) & !crate::header::BUSY,
        Side::Consumer => h.read.load(Ordering::Acquire),
    };
    let own = raw as usize;
    if own >= geometry.span || geometry.rem_blocks(own) != 0 {
        return Err(AttachError::Position { found: raw });
    }
    // SAFETY: the header is initialised (its magic says so) and the data's
    // `capacity` bytes follow it inside the region, all valid for `'a`.
    let shared = unsafe {
        Shared::attached(
            header,
            base.add(HEADER_SIZE),
            untrusted,
            #[cfg(loom)]
            shadow,
        )
    };
    Ok(Attached {
        shared,
        geometry,
        own,
    })
}

/// Loom shadow cells for a side, or nothing outside loom.
#[cfg(loom)]
type ShadowArg = Option<crate::storage::Shadow>;
#[cfg(not(loom))]
type ShadowArg = ();
#[cfg(loom)]
const NO_SHADOW: ShadowArg = None;
#[cfg(not(loom))]
const NO_SHADOW: ShadowArg = ();

/// One attached producer, `untrusted` or not.
///
/// # Safety
///
/// As for [`attach_producer`] (and, if trusted, [`attach_trusted_producer`]).
unsafe fn producer_side<'a>(
    config: &Config,
    base: NonNull<u8>,
    len: usize,
    untrusted: bool,
    shadow: ShadowArg,
) -> Result<Producer<'a>, AttachError> {
    // SAFETY: the caller's guarantees are `attach`'s.
    let a = unsafe { attach(config, base, len, Side::Producer, untrusted, shadow)? };
    Ok(Producer::new(a.shared, a.geometry, config, a.own).attached())
}

/// One attached consumer, `untrusted` or not.
///
/// # Safety
///
/// As for [`attach_consumer`] (and, if trusted, [`attach_trusted_consumer`]).
unsafe fn consumer_side<'a>(
    config: &Config,
    base: NonNull<u8>,
    len: usize,
    untrusted: bool,
    shadow: ShadowArg,
) -> Result<Consumer<'a>, AttachError> {
    // SAFETY: the caller's guarantees are `attach`'s.
    let a = unsafe { attach(config, base, len, Side::Consumer, untrusted, shadow)? };
    Ok(Consumer::new(a.shared, a.geometry, config, a.own).attached())
}

/// Attaches the producing side to an initialised region, hardened against
/// its peer: see the module docs for what that guarantees and costs.
///
/// `config` is this side's: its geometry must match the region's, and its
/// overrun policy applies to this producer (`OverwriteOldest` is refused:
/// it would write the peer's read position).
///
/// # Errors
///
/// [`AttachError`]: an invalid configuration, a misaligned or short
/// region, a header that is not an initialised ring of this geometry and
/// layout version, or `OverwriteOldest`.
///
/// # Safety
///
/// `base..base + len` is valid for reads and writes for `'a` (the mapping
/// outlives the handle) and is not attached by another producer, and this
/// process holds no Rust reference into it while the handle lives (only
/// raw pointers: the handle writes the header, its `Drop` included). The
/// peer may do anything to the memory; that is what the hardening is for.
///
/// # Examples
///
/// See [`init`].
pub unsafe fn attach_producer<'a>(
    config: &Config,
    base: NonNull<u8>,
    len: usize,
) -> Result<ShmProducer<'a>, AttachError> {
    Ok(ShmProducer {
        // SAFETY: the caller's guarantees are `producer_side`'s.
        inner: unsafe { producer_side(config, base, len, true, NO_SHADOW)? },
    })
}

/// Attaches the consuming side to an initialised region, hardened against
/// its peer: see the module docs for what that guarantees and costs.
///
/// `config` is this side's: its geometry must match the region's, and its
/// underrun, silence, threshold and watermark settings apply to this
/// consumer (`OverwriteOldest` is refused).
///
/// # Errors
///
/// As for [`attach_producer`].
///
/// # Safety
///
/// As for [`attach_producer`], with "another consumer".
///
/// # Examples
///
/// See [`init`].
pub unsafe fn attach_consumer<'a>(
    config: &Config,
    base: NonNull<u8>,
    len: usize,
) -> Result<ShmConsumer<'a>, AttachError> {
    Ok(ShmConsumer {
        // SAFETY: the caller's guarantees are `consumer_side`'s.
        inner: unsafe { consumer_side(config, base, len, true, NO_SHADOW)? },
    })
}

/// Attaches a full [`Producer`] to an initialised region whose consumer is
/// trusted (two processes of one application): zero-copy grants,
/// `OverwriteOldest` and plain copies, as in one process. Positions are
/// still checked before use, but nothing else is defended.
///
/// # Errors
///
/// As for [`attach_producer`], except that `OverwriteOldest` is allowed if
/// the region was initialised with it ([`AttachError::OverrunMismatch`]
/// otherwise).
///
/// # Safety
///
/// As for [`attach_producer`], and the peer follows the protocol: the
/// same crate version (or an implementation of the documented layout) that
/// never writes this side's fields or data it does not own.
///
/// # Examples
///
/// ```
/// use core::ptr::NonNull;
/// use pcm_ring::{shm, Config};
///
/// let config = Config::raw(4, 64);
/// let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
/// let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
/// // SAFETY: `region` is ours alone and outlives both handles, which
/// // follow the protocol.
/// let (mut tx, rx) = unsafe {
///     shm::init(&config, base, len)?;
///     (shm::attach_trusted_producer(&config, base, len)?,
///      shm::attach_trusted_consumer(&config, base, len)?)
/// };
/// let mut grant = tx.grant(8)?;
/// grant.as_mut_slices().0.fill(7);
/// grant.commit(8)?;
/// assert_eq!(rx.available(), 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub unsafe fn attach_trusted_producer<'a>(
    config: &Config,
    base: NonNull<u8>,
    len: usize,
) -> Result<Producer<'a>, AttachError> {
    // SAFETY: the caller's guarantees are `producer_side`'s.
    unsafe { producer_side(config, base, len, false, NO_SHADOW) }
}

/// Attaches a full [`Consumer`] to an initialised region whose producer is
/// trusted; see [`attach_trusted_producer`].
///
/// # Errors
///
/// As for [`attach_trusted_producer`].
///
/// # Safety
///
/// As for [`attach_trusted_producer`].
///
/// # Examples
///
/// See [`attach_trusted_producer`].
pub unsafe fn attach_trusted_consumer<'a>(
    config: &Config,
    base: NonNull<u8>,
    len: usize,
) -> Result<Consumer<'a>, AttachError> {
    // SAFETY: the caller's guarantees are `consumer_side`'s.
    unsafe { consumer_side(config, base, len, false, NO_SHADOW) }
}

/// Both hardened sides over one region with loom shadow cells, for the loom
/// model of the protocol.
///
/// # Safety
///
/// As for [`attach_producer`]; `shadow` lives as long as the handles.
#[cfg(loom)]
pub(crate) unsafe fn attach_both_for_loom<'a>(
    config: &Config,
    base: NonNull<u8>,
    len: usize,
    shadow: crate::storage::Shadow,
) -> Result<(ShmProducer<'a>, ShmConsumer<'a>), AttachError> {
    // SAFETY: the caller's guarantees are the sides'.
    unsafe {
        Ok((
            ShmProducer {
                inner: producer_side(config, base, len, true, Some(shadow))?,
            },
            ShmConsumer {
                inner: consumer_side(config, base, len, true, Some(shadow))?,
            },
        ))
    }
}

/// The producing side of a shared-memory ring, hardened against its peer.
///
/// It has the copying half of [`Producer`]'s API; the zero-copy grant and
/// [`Producer::held_partial`] are left out because they hand out references
/// into memory the peer can write. Every method behaves as `Producer`'s,
/// with the differences the [module docs](self) list. Dropping it marks the
/// end of the stream and tells the consumer it is gone.
///
/// # Examples
///
/// See [`init`].
pub struct ShmProducer<'a> {
    inner: Producer<'a>,
}

impl ShmProducer<'_> {
    /// See [`Producer::write`]. A write that its cached free space does not
    /// cover loads the read position; if that breaks the protocol, the
    /// write is refused with [`WriteError::Protocol`] (counted, nothing
    /// written). A write the cache covers needs no look, and goes in (a
    /// broken position found by its peak-fill load is counted).
    ///
    /// # Errors
    ///
    /// As for [`Producer::write`], and [`WriteError::Protocol`].
    ///
    /// # Examples
    ///
    /// See [`init`].
    #[inline]
    pub fn write(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        self.inner.write(src)
    }

    /// See [`Producer::write_stream`]. Under `Reject` a read position that
    /// breaks the protocol refuses the write with [`WriteError::Protocol`];
    /// under `Truncate` it reads as a full ring (the input is dropped and
    /// counted).
    ///
    /// # Errors
    ///
    /// As for [`Producer::write_stream`], and [`WriteError::Protocol`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// # let config = Config::raw(4, 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (mut tx, rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// let out = tx.write_stream(&[1, 2, 3, 4, 5, 6])?;
    /// assert_eq!((out.written, out.held), (4, 2));
    /// assert_eq!(rx.available(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_stream(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        self.inner.write_stream(src)
    }

    /// See [`Producer::write_samples`].
    ///
    /// # Errors
    ///
    /// As for [`Producer::write_samples`], and [`WriteError::Protocol`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config, Format, SampleFormat};
    /// let config = Config::new(Format::new(SampleFormat::I16, 2), 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (mut tx, _rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// assert_eq!(tx.write_samples(&[0i16; 8])?.written, 16);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_samples<T: Sample>(&mut self, samples: &[T]) -> Result<WriteOutcome, WriteError> {
        self.inner.write_samples(samples)
    }

    /// See [`Producer::fill`]; a read position that breaks the protocol
    /// reads as a full ring (and is counted).
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// # let config = Config::raw(4, 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (mut tx, _rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// tx.write(&[0; 8])?;
    /// assert_eq!((tx.fill(), tx.free()), (8, 56));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn fill(&self) -> usize {
        self.inner.fill()
    }

    /// See [`Producer::free`].
    ///
    /// # Examples
    ///
    /// See [`fill`](Self::fill).
    #[must_use]
    pub fn free(&self) -> usize {
        self.inner.free()
    }

    /// See [`Producer::bytes_to_reach`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// # let config = Config::raw(4, 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (mut tx, _rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// tx.write(&[0; 20])?;
    /// assert_eq!(tx.bytes_to_reach(30), 12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn bytes_to_reach(&self, target: usize) -> usize {
        self.inner.bytes_to_reach(target)
    }

    /// The counters: this side's from its private totals, the consumer's as
    /// the peer published them (an untrusted peer can publish anything),
    /// and [`Counters::protocol_errors`] this producer detected.
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// # let config = Config::raw(4, 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (mut tx, _rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// tx.write(&[0; 8])?;
    /// let c = tx.counters();
    /// assert_eq!((c.written, c.protocol_errors), (8, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn counters(&self) -> Counters {
        self.inner.counters()
    }

    /// See [`Producer::discard_partial`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// # let config = Config::raw(4, 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (mut tx, _rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// let _ = tx.write_stream(&[1, 2, 3, 4, 5, 6])?;
    /// assert_eq!(tx.discard_partial(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn discard_partial(&mut self) -> usize {
        self.inner.discard_partial()
    }

    /// See [`Producer::finish`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// # let config = Config::raw(4, 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (mut tx, rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// let _ = tx.finish();
    /// assert!(tx.is_finished() && rx.is_end_of_stream());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(&mut self) -> usize {
        self.inner.finish()
    }

    /// See [`Producer::is_finished`].
    ///
    /// # Examples
    ///
    /// See [`finish`](Self::finish).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Whether the consumer says it detached (its flag; an untrusted peer
    /// can say anything).
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// # let config = Config::raw(4, 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (tx, rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// drop(rx);
    /// assert!(tx.is_abandoned());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_abandoned(&self) -> bool {
        self.inner.is_abandoned()
    }

    /// The capacity in bytes (this side's private copy).
    ///
    /// # Examples
    ///
    /// See [`ShmConsumer::block_align`].
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// The block size in bytes (this side's private copy).
    ///
    /// # Examples
    ///
    /// See [`ShmConsumer::block_align`].
    #[must_use]
    pub fn block_align(&self) -> usize {
        self.inner.block_align()
    }
}

impl core::fmt::Debug for ShmProducer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("ShmProducer").field(&self.inner).finish()
    }
}

/// The consuming side of a shared-memory ring, hardened against its peer.
///
/// It has the copying half of [`Consumer`]'s API; the zero-copy read grant
/// is left out because it hands out references into memory the peer can
/// write. Every method behaves as `Consumer`'s, with the differences the
/// [module docs](self) list.
///
/// # Examples
///
/// See [`init`].
pub struct ShmConsumer<'a> {
    inner: Consumer<'a>,
}

impl ShmConsumer<'_> {
    /// See [`Consumer::read`]. A read that its cached fill does not cover
    /// loads the write position; if that breaks the protocol, the ring
    /// reads as empty: silence under `SilenceFill`, with
    /// [`ReadOutcome::protocol_error`] set and the error counted.
    ///
    /// # Errors
    ///
    /// As for [`Consumer::read`]: only bad arguments, never the peer.
    ///
    /// # Examples
    ///
    /// See [`init`].
    #[inline]
    pub fn read(&mut self, dst: &mut [u8]) -> Result<ReadOutcome, ReadError> {
        self.inner.read(dst)
    }

    /// See [`Consumer::read_samples`].
    ///
    /// # Errors
    ///
    /// As for [`Consumer::read_samples`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config, Format, SampleFormat};
    /// let config = Config::new(Format::new(SampleFormat::I16, 2), 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (mut tx, mut rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// tx.write_samples(&[3i16; 8])?;
    /// let mut out = [0i16; 8];
    /// assert_eq!(rx.read_samples(&mut out)?.data, 16);
    /// assert_eq!(out, [3; 8]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_samples<T: Sample>(&mut self, dst: &mut [T]) -> Result<ReadOutcome, ReadError> {
        self.inner.read_samples(dst)
    }

    /// See [`Consumer::read_cyclic`]: the copy into a cyclic DMA buffer.
    ///
    /// # Errors
    ///
    /// As for [`Consumer::read_cyclic`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// # let config = Config::raw(4, 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (mut tx, mut rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// tx.write(&[9; 8])?;
    /// let mut dma = [0u8; 12];
    /// let _ = rx.read_cyclic(&mut dma, 8, 8)?; // wraps: 4 bytes at 8, 4 at 0
    /// assert_eq!(dma, [9, 9, 9, 9, 0, 0, 0, 0, 9, 9, 9, 9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_cyclic(
        &mut self,
        dst: &mut [u8],
        offset: usize,
        len: usize,
    ) -> Result<ReadOutcome, ReadError> {
        self.inner.read_cyclic(dst, offset, len)
    }

    /// See [`Consumer::available`]; a write position that breaks the
    /// protocol reads as 0 (and is counted).
    ///
    /// # Examples
    ///
    /// See [`ShmProducer::write_stream`].
    #[must_use]
    pub fn available(&self) -> usize {
        self.inner.available()
    }

    /// See [`Consumer::is_streaming`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// let config = Config::raw(4, 64).start_threshold(8);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (mut tx, mut rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// tx.write(&[1; 8])?;
    /// let _ = rx.read(&mut [0; 4])?;
    /// assert!(rx.is_streaming());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_streaming(&self) -> bool {
        self.inner.is_streaming()
    }

    /// See [`Consumer::is_end_of_stream`].
    ///
    /// # Examples
    ///
    /// See [`ShmProducer::finish`].
    #[must_use]
    pub fn is_end_of_stream(&self) -> bool {
        self.inner.is_end_of_stream()
    }

    /// The counters: this side's from its private totals, the producer's as
    /// the peer published them (an untrusted peer can publish anything),
    /// and [`Counters::protocol_errors`] this consumer detected.
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// # let config = Config::raw(4, 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (mut tx, mut rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// tx.write(&[1; 8])?;
    /// let _ = rx.read(&mut [0; 8])?;
    /// let c = rx.counters();
    /// assert_eq!((c.written, c.read, c.protocol_errors), (8, 8, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn counters(&self) -> Counters {
        self.inner.counters()
    }

    /// Whether the producer says it detached (its flag; an untrusted peer
    /// can say anything).
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// # let config = Config::raw(4, 64);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (tx, rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// drop(tx);
    /// assert!(rx.is_abandoned());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_abandoned(&self) -> bool {
        self.inner.is_abandoned()
    }

    /// The capacity in bytes (this side's private copy).
    ///
    /// # Examples
    ///
    /// See [`block_align`](Self::block_align).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// The block size in bytes (this side's private copy).
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use pcm_ring::{shm, Config};
    /// let config = Config::raw(6, 600);
    /// # let mut region = vec![0u32; shm::region_size(&config)?.div_ceil(4)];
    /// # let (base, len) = (NonNull::from(&mut region[..]).cast::<u8>(), region.len() * 4);
    /// # let (tx, rx) = unsafe {
    /// #     shm::init(&config, base, len)?;
    /// #     (shm::attach_producer(&config, base, len)?, shm::attach_consumer(&config, base, len)?)
    /// # };
    /// assert_eq!((rx.capacity(), rx.block_align()), (600, 6));
    /// assert_eq!((tx.capacity(), tx.block_align()), (600, 6));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn block_align(&self) -> usize {
        self.inner.block_align()
    }
}

impl core::fmt::Debug for ShmConsumer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("ShmConsumer").field(&self.inner).finish()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::Underrun;
    use loom::thread;
    use std::vec;
    use std::vec::Vec;

    /// The honest protocol over a shared-memory header: a hardened producer
    /// and a hardened consumer attached to one initialised region (two-byte
    /// blocks, two blocks, starting one block before position space wraps)
    /// move three frames, retrying when full or empty. Every data access is
    /// checked against loom's shadow cells, so a missing release or acquire
    /// on either position is a data race; honest sides never see a protocol
    /// error. Exhaustive.
    #[test]
    fn honest_protocol_over_shared_header() {
        loom::model(|| {
            let block = 2;
            let config = Config::raw(block, 2 * block)
                .underrun(Underrun::Partial)
                .start_position_blocks(3);
            let len = region_size(&config).unwrap();
            // Leaked per execution: the handles borrow the region for
            // `'static`, and loom runs each execution on fresh memory.
            let region: &'static mut [u64] = Vec::leak(vec![0u64; len.div_ceil(8)]);
            let base = NonNull::from(&mut region[..]).cast::<u8>();
            let cells: &'static [loom::cell::UnsafeCell<()>] =
                Vec::leak((0..2).map(|_| loom::cell::UnsafeCell::new(())).collect());
            // SAFETY: the region is leaked (valid for `'static`), aligned
            // for the header, and attached once per side.
            let (mut tx, mut rx) = unsafe {
                init(&config, base, len).unwrap();
                attach_both_for_loom(&config, base, len, (NonNull::from(cells), block)).unwrap()
            };
            let producer = thread::spawn(move || {
                for frames in [&[1u8, 1, 2, 2][..], &[3, 3]] {
                    loop {
                        match tx.write(frames) {
                            Ok(out) => {
                                assert_eq!(out.written, frames.len());
                                break;
                            }
                            Err(WriteError::Full { .. }) => thread::yield_now(),
                            Err(err) => panic!("{err}"),
                        }
                    }
                }
                tx.counters().protocol_errors
            });
            let mut seen = Vec::new();
            loop {
                let mut out = [0u8; 2];
                let got = rx.read(&mut out).unwrap();
                assert!(!got.protocol_error);
                if got.data == 2 {
                    assert_eq!(out[0], out[1], "torn frame");
                    seen.push(out[0]);
                }
                if got.end_of_stream || seen.len() == 3 {
                    break;
                }
                thread::yield_now();
            }
            assert_eq!(producer.join().unwrap(), 0);
            assert_eq!(seen, [1, 2, 3]);
            assert_eq!(rx.counters().protocol_errors, 0);
        });
    }
}
