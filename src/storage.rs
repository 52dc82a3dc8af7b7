//! Where a ring lives: on the heap, in a `static`-placeable array, or in
//! memory the caller lends (a kernel driver's nonpaged pool). All three give
//! the handles the same thing: a pointer to the shared [`Header`] and a pointer
//! to the data bytes.

#[cfg(not(loom))]
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::counters::Snapshot;
use crate::header::{Geometry, Header, HEADER_ALIGN, HEADER_SIZE, OVERWRITE};
#[cfg(not(loom))]
use crate::sync::{AtomicBool, Ordering};
use crate::{Config, ConfigError, Consumer, Producer};

/// Loom shadow cells, one per block, and the block size.
#[cfg(loom)]
pub(crate) type Shadow = (NonNull<[loom::cell::UnsafeCell<()>]>, usize);

/// The pointers one handle holds, and its share of a heap allocation.
pub(crate) struct Shared<'a> {
    header: NonNull<Header>,
    data: NonNull<u8>,
    #[cfg(feature = "alloc")]
    owner: Option<NonNull<heap::HeapBlock>>,
    #[cfg(loom)]
    shadow: Option<Shadow>,
    /// Whether the peer is on the other side of a trust boundary (see
    /// [`crate::shm`]): then the data is copied with atomic word accesses,
    /// which stay defined behaviour whatever the peer writes meanwhile.
    untrusted: bool,
    _memory: PhantomData<&'a mut [u8]>,
}

impl<'a> Shared<'a> {
    /// A handle's share of a region in shared memory, without a heap owner.
    ///
    /// # Safety
    ///
    /// `header` points to an initialised header and `data` to its capacity's
    /// bytes, both valid for `'a`.
    pub(crate) unsafe fn attached(
        header: NonNull<Header>,
        data: NonNull<u8>,
        untrusted: bool,
        #[cfg(loom)] shadow: Option<Shadow>,
    ) -> Shared<'a> {
        Shared {
            header,
            data,
            #[cfg(feature = "alloc")]
            owner: None,
            #[cfg(loom)]
            shadow,
            untrusted,
            _memory: PhantomData,
        }
    }

    /// The shared header.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: `header` points to an initialised `Header` that outlives
        // every handle (borrowed for `'a`, or kept alive by the heap
        // reference count); it is only ever accessed through shared
        // references, and all its mutable fields are atomics.
        unsafe { self.header.as_ref() }
    }

    /// Whether the peer is untrusted (a hardened shared-memory handle).
    #[inline(always)]
    pub(crate) fn untrusted(&self) -> bool {
        self.untrusted
    }

    /// The peer's counters as published in the header: from a trusted peer a
    /// consistent snapshot (lock-free, see `counters`); from an untrusted one
    /// whatever it wrote, after a bounded number of attempts (`None` if its
    /// generation never settled, which only a misbehaving peer causes).
    pub(crate) fn peer_counters<const N: usize>(&self, snapshot: &Snapshot<N>) -> Option<[u64; N]> {
        if self.untrusted {
            snapshot.load_bounded(UNTRUSTED_COUNTER_TRIES)
        } else {
            Some(snapshot.load())
        }
    }

    /// Copies `src` into the data storage at `offset`.
    ///
    /// # Safety
    ///
    /// `offset + src.len() <= capacity`, and the protocol gives the caller
    /// exclusive access to that range (it is free space owned by the producer).
    #[inline]
    pub(crate) unsafe fn copy_in(&self, offset: usize, src: &[u8]) {
        // SAFETY: the caller's guarantees, and the flag is this handle's.
        unsafe {
            if self.untrusted {
                self.copy_in_as::<true>(offset, src);
            } else {
                self.copy_in_as::<false>(offset, src);
            }
        }
    }

    /// [`copy_in`](Self::copy_in) for a caller that knows whether the
    /// handle is hardened (a fast path that excludes hardened handles).
    ///
    /// # Safety
    ///
    /// As for [`copy_in`](Self::copy_in), and `HARDENED` is
    /// [`untrusted`](Self::untrusted): a plain copy races with an untrusted
    /// peer that writes the same bytes.
    #[inline(always)]
    pub(crate) unsafe fn copy_in_as<const HARDENED: bool>(&self, offset: usize, src: &[u8]) {
        debug_assert_eq!(HARDENED, self.untrusted);
        self.track(offset, src.len(), true);
        if HARDENED {
            // SAFETY: the range is inside the storage (the caller), which
            // stays mapped while this handle lives.
            unsafe { store_words(self.data.as_ptr().add(offset), src) };
            return;
        }
        // SAFETY: the caller guarantees the range is inside the storage and
        // that the protocol gives the producer exclusive access to it (free
        // space), and that the peer is this crate's own handle. `src` may
        // itself point into the ring (a consumer's read grant passed to
        // `Producer::write`), but only into published data, which is
        // disjoint from free space, so the two never overlap.
        unsafe { copy_bytes(src.as_ptr(), self.data.as_ptr().add(offset), src.len()) }
    }

    /// Copies the data storage at `offset` into `dst`, for a caller that
    /// knows whether the handle is hardened.
    ///
    /// # Safety
    ///
    /// `offset + dst.len() <= capacity`, the protocol keeps the producer
    /// from writing that range meanwhile (it is published data the consumer
    /// owns until it releases it), and `HARDENED` is
    /// [`untrusted`](Self::untrusted).
    #[inline(always)]
    pub(crate) unsafe fn copy_out_as<const HARDENED: bool>(&self, offset: usize, dst: &mut [u8]) {
        debug_assert_eq!(HARDENED, self.untrusted);
        self.track(offset, dst.len(), false);
        if HARDENED {
            // SAFETY: the range is inside the storage (the caller), which
            // stays mapped while this handle lives.
            unsafe { load_words(self.data.as_ptr().add(offset), dst) };
            return;
        }
        // SAFETY: as for `copy_in_as`, with the roles swapped.
        unsafe { copy_bytes(self.data.as_ptr().add(offset), dst.as_mut_ptr(), dst.len()) }
    }

    /// A mutable view of the data storage.
    ///
    /// # Safety
    ///
    /// As for [`copy_in`](Self::copy_in), for as long as the slice lives.
    #[inline]
    #[allow(clippy::mut_from_ref)] // the protocol, not the borrow, gives exclusivity
    pub(crate) unsafe fn slice_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        self.track(offset, len, true);
        // SAFETY: the caller guarantees bounds and exclusive access.
        unsafe { core::slice::from_raw_parts_mut(self.data.as_ptr().add(offset), len) }
    }

    /// A shared view of the data storage.
    ///
    /// # Safety
    ///
    /// As for [`copy_out`](Self::copy_out), for as long as the slice lives.
    #[inline]
    pub(crate) unsafe fn slice(&self, offset: usize, len: usize) -> &[u8] {
        self.track(offset, len, false);
        // SAFETY: the caller guarantees bounds and that nobody writes there.
        unsafe { core::slice::from_raw_parts(self.data.as_ptr().add(offset), len) }
    }

    /// Under loom, records an access to every block of `offset..offset+len` in
    /// a shadow cell per block, so that loom reports any access the protocol
    /// does not order (a data race) as a causality violation.
    #[inline(always)]
    #[allow(unused_variables)]
    fn track(&self, offset: usize, len: usize, write: bool) {
        #[cfg(loom)]
        if let Some((cells, block)) = self.shadow {
            // SAFETY: the shadow cells live as long as the heap block.
            let cells = unsafe { cells.as_ref() };
            let (first, end) = (offset / block, (offset + len).div_ceil(block));
            for cell in cells.get(first..end).unwrap_or(&[]) {
                if write {
                    cell.with_mut(|_| ());
                } else {
                    cell.with(|_| ());
                }
            }
        }
    }
}

/// Copies `len` bytes from `src` to `dst`. Up to 64 bytes (a frame or a
/// few) are copied inline with two possibly overlapping unaligned loads
/// and stores of the largest width that fits; a call to `memcpy` costs
/// more than such a copy itself. Longer copies call `memcpy`.
///
/// # Safety
///
/// As for [`core::ptr::copy_nonoverlapping`]: `src` valid for reads and
/// `dst` for writes of `len` bytes, the two ranges disjoint.
#[inline(always)]
unsafe fn copy_bytes(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: the caller's guarantees; each width is used only where
    // `len >= width`, as `copy_pair` requires.
    unsafe {
        if len > 16 {
            if len > 64 {
                core::ptr::copy_nonoverlapping(src, dst, len);
            } else if len >= 32 {
                copy_pair::<[u128; 2]>(src, dst, len);
            } else {
                copy_pair::<u128>(src, dst, len);
            }
        } else if len >= 8 {
            copy_pair::<u64>(src, dst, len);
        } else if len >= 4 {
            copy_pair::<u32>(src, dst, len);
        } else if len >= 2 {
            copy_pair::<u16>(src, dst, len);
        } else if len == 1 {
            *dst = *src;
        }
    }
}

/// Copies `len` bytes as two possibly overlapping unaligned `W`s: the
/// first and the last `size_of::<W>()` bytes.
///
/// # Safety
///
/// As for [`copy_bytes`], and `size_of::<W>() <= len`.
#[inline(always)]
unsafe fn copy_pair<W: Copy>(src: *const u8, dst: *mut u8, len: usize) {
    use core::ptr::{read_unaligned, write_unaligned};
    let last = len - core::mem::size_of::<W>();
    // SAFETY: both accesses of each range are inside its first `len` bytes
    // (`last + size_of::<W>() == len`), and unaligned accesses need no
    // alignment; both loads happen before the stores, and the ranges are
    // disjoint anyway.
    unsafe {
        let (a, b) = (
            read_unaligned(src.cast::<W>()),
            read_unaligned(src.add(last).cast::<W>()),
        );
        write_unaligned(dst.cast::<W>(), a);
        write_unaligned(dst.add(last).cast::<W>(), b);
    }
}

/// Attempts a hardened handle makes to read a consistent snapshot of the
/// peer's counters before it gives up (an honest peer needs one, rarely two).
const UNTRUSTED_COUNTER_TRIES: u32 = 16;

/// Word type of the atomic copies: the widest atomic every target has.
type Word = core::sync::atomic::AtomicUsize;
const WORD: usize = core::mem::size_of::<usize>();

/// Bytes before the first aligned word of a `len`-byte copy at `at`.
///
/// Under Miri every byte is copied on its own: its weak-memory emulation
/// does not support atomic accesses of different sizes to the same bytes,
/// even ordered ones (which the memory model allows, and which these copies
/// make: the word boundaries depend on where each copy starts). Byte and
/// word copies are the same relaxed atomic accesses at another width.
#[inline(always)]
fn word_head(at: *mut u8, len: usize) -> usize {
    if cfg!(miri) {
        len
    } else {
        at.align_offset(WORD).min(len)
    }
}

/// Copies `src` to `dst` with relaxed atomic stores, word by word where
/// `dst` is aligned: defined behaviour even if another process reads or
/// writes `dst` at the same time (it may then see a mix of old and new
/// words, never a fault).
///
/// # Safety
///
/// `dst..dst + src.len()` is valid for writes and does not overlap `src`.
#[inline(never)]
unsafe fn store_words(dst: *mut u8, src: &[u8]) {
    use core::sync::atomic::{AtomicU8, Ordering::Relaxed};
    let len = src.len();
    let head = word_head(dst, len);
    let words = (len - head) / WORD;
    let src = src.as_ptr();
    // SAFETY: every pointer below is inside `dst..dst + len` or
    // `src..src + len` (the caller); atomics are created only at addresses
    // aligned for them (`head` aligns `dst` for words; bytes need none).
    unsafe {
        for i in 0..head {
            AtomicU8::from_ptr(dst.add(i)).store(*src.add(i), Relaxed);
        }
        for w in 0..words {
            let at = head + w * WORD;
            let value = src.add(at).cast::<usize>().read_unaligned();
            Word::from_ptr(dst.add(at).cast::<usize>()).store(value, Relaxed);
        }
        for i in head + words * WORD..len {
            AtomicU8::from_ptr(dst.add(i)).store(*src.add(i), Relaxed);
        }
    }
}

/// Copies `src` into `dst` with relaxed atomic loads, word by word where
/// `src` is aligned: defined behaviour even if another process writes
/// `src` at the same time (the copy may then mix old and new words).
///
/// # Safety
///
/// `src..src + dst.len()` is valid for reads and does not overlap `dst`.
#[inline(never)]
unsafe fn load_words(src: *mut u8, dst: &mut [u8]) {
    use core::sync::atomic::{AtomicU8, Ordering::Relaxed};
    let len = dst.len();
    let head = word_head(src, len);
    let words = (len - head) / WORD;
    let dst = dst.as_mut_ptr();
    // SAFETY: as in `store_words`, with the roles swapped.
    unsafe {
        for i in 0..head {
            *dst.add(i) = AtomicU8::from_ptr(src.add(i)).load(Relaxed);
        }
        for w in 0..words {
            let at = head + w * WORD;
            let value = Word::from_ptr(src.add(at).cast::<usize>()).load(Relaxed);
            dst.add(at).cast::<usize>().write_unaligned(value);
        }
        for i in head + words * WORD..len {
            *dst.add(i) = AtomicU8::from_ptr(src.add(i)).load(Relaxed);
        }
    }
}

impl Drop for Shared<'_> {
    fn drop(&mut self) {
        #[cfg(feature = "alloc")]
        if let Some(owner) = self.owner {
            // SAFETY: `owner` came from `heap::new` and this handle holds one
            // of its references.
            unsafe { heap::HeapBlock::release(owner) };
        }
    }
}

/// Writes a fresh header and makes the two handles.
///
/// # Safety
///
/// `header` is valid for writes of a `Header` and suitably aligned; `data` is
/// valid for reads and writes of `config.capacity` bytes; neither is accessed
/// other than through the returned handles for `'a`; `owner` (if any) holds
/// two references for the two handles.
unsafe fn make<'a>(
    config: &Config,
    header: NonNull<Header>,
    data: NonNull<u8>,
    #[cfg(feature = "alloc")] owner: Option<NonNull<heap::HeapBlock>>,
    #[cfg(loom)] shadow: Option<Shadow>,
) -> (Producer<'a>, Consumer<'a>) {
    let geometry = Geometry::new(config.capacity, config.block_align);
    let start = geometry.start_position(config.start_position);
    // SAFETY: the caller guarantees `header` is valid and aligned for writes.
    unsafe {
        header
            .as_ptr()
            .write(Header::new(&geometry, ring_flags(config), start as u32))
    };
    let shared = || Shared {
        header,
        data,
        #[cfg(feature = "alloc")]
        owner,
        #[cfg(loom)]
        shadow,
        untrusted: false,
        _memory: PhantomData,
    };
    (
        Producer::new(shared(), geometry, config, start),
        Consumer::new(shared(), geometry, config, start),
    )
}

/// The header's ring flags for `config`.
pub(crate) fn ring_flags(config: &Config) -> u32 {
    if config.overrun == crate::Overrun::OverwriteOldest {
        OVERWRITE
    } else {
        0
    }
}

/// A ring whose header and data are inline, for a `static` or a stack frame;
/// `N` is the data size in bytes and bounds the configured capacity.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, StaticRing};
///
/// let mut ring = StaticRing::<1024>::new();
/// let (mut tx, mut rx) = ring.split(&Config::raw(4, 1024))?;
/// let _ = tx.write(&[1, 2, 3, 4])?;
/// let mut out = [0u8; 4];
/// let _ = rx.read(&mut out)?;
/// assert_eq!(out, [1, 2, 3, 4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// In a plain `static` (the `const fn` constructor puts it in `.bss`), split
/// it once with [`try_split`](Self::try_split) to get `'static` handles, with
/// no `unsafe` and no other crate:
///
/// ```
/// use pcm_ring::{Config, ConfigError, StaticRing};
///
/// static RING: StaticRing<1920> = StaticRing::new();
///
/// let (mut tx, mut rx) = RING.try_split(&Config::raw(4, 1920))?;
/// assert_eq!(RING.try_split(&Config::raw(4, 1920)).unwrap_err(), ConfigError::AlreadySplit);
/// let isr = std::thread::spawn(move || tx.write(&[1; 4]).map(|out| out.written));
/// assert_eq!(isr.join().unwrap()?, 4);
/// assert_eq!(rx.available(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(not(loom))]
pub struct StaticRing<const N: usize> {
    header: UnsafeCell<Header>,
    data: UnsafeCell<[u8; N]>,
    /// Set by the first [`try_split`](Self::try_split).
    taken: AtomicBool,
}

// SAFETY: the ring's memory is only reached through the handles of one
// split: `try_split` hands them out at most once (an atomic swap decides),
// and `split` needs `&mut self`, so no two splits' handles coexist. The
// handles themselves follow the ring's protocol (atomics and release/acquire
// handovers), as for any other storage.
#[cfg(not(loom))]
unsafe impl<const N: usize> Sync for StaticRing<N> {}

#[cfg(not(loom))]
impl<const N: usize> StaticRing<N> {
    /// An unsplit ring of `N` data bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// static RING: pcm_ring::StaticRing<4096> = pcm_ring::StaticRing::new();
    /// assert!(RING.try_split(&pcm_ring::Config::raw(4, 4096)).is_ok());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        StaticRing {
            header: UnsafeCell::new(Header::empty()),
            data: UnsafeCell::new([0; N]),
            taken: AtomicBool::new(false),
        }
    }

    /// Makes the producer and consumer of a ring in a `static`, once: every
    /// later call fails with [`ConfigError::AlreadySplit`], even after the
    /// handles are dropped (use [`split`](Self::split) on a ring you own to
    /// split it again).
    ///
    /// # Errors
    ///
    /// The configuration's [`ConfigError`] (the ring stays unsplit then),
    /// [`ConfigError::BufferTooSmall`] if its capacity exceeds `N`, or
    /// [`ConfigError::AlreadySplit`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, ConfigError, StaticRing};
    ///
    /// static RING: StaticRing<64> = StaticRing::new();
    /// let too_big = Config::raw(4, 128);
    /// assert!(matches!(RING.try_split(&too_big), Err(ConfigError::BufferTooSmall { .. })));
    /// let (_tx, _rx) = RING.try_split(&Config::raw(4, 64))?; // still unsplit until now
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_split(
        &'static self,
        config: &Config,
    ) -> Result<(Producer<'static>, Consumer<'static>), ConfigError> {
        Self::check(config)?;
        if self.taken.swap(true, Ordering::AcqRel) {
            return Err(ConfigError::AlreadySplit);
        }
        // SAFETY: the swap above succeeded once for this ring, so nothing
        // else reaches its memory; both pointers are aligned and valid for
        // `'static`; `capacity <= N`.
        Ok(unsafe { self.make(config) })
    }

    /// Makes the producer and consumer. The exclusive borrow guarantees that
    /// no handle from an earlier split is still alive, so the ring can be
    /// split again (fresh) after both handles are dropped.
    ///
    /// # Errors
    ///
    /// The configuration's [`ConfigError`], or
    /// [`ConfigError::BufferTooSmall`] if its capacity exceeds `N`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut ring = pcm_ring::StaticRing::<64>::new(); // on the stack
    /// {
    ///     let (mut tx, _rx) = ring.split(&pcm_ring::Config::raw(4, 64))?;
    ///     let _ = tx.write(&[0; 8])?;
    /// }
    /// let (_tx, rx) = ring.split(&pcm_ring::Config::raw(2, 32))?; // fresh
    /// assert_eq!(rx.available(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split(&mut self, config: &Config) -> Result<(Producer<'_>, Consumer<'_>), ConfigError> {
        Self::check(config)?;
        // SAFETY: `&mut self` excludes every other access for `'_`; both
        // pointers are aligned and valid for `'_`; `capacity <= N`.
        Ok(unsafe { self.make(config) })
    }

    /// Validates `config` for this storage.
    fn check(config: &Config) -> Result<(), ConfigError> {
        config.validate()?;
        if config.capacity > N {
            return Err(ConfigError::BufferTooSmall {
                needed: config.capacity,
                available: N,
            });
        }
        Ok(())
    }

    /// Makes the handles.
    ///
    /// # Safety
    ///
    /// `config` passed [`check`](Self::check), and nothing else reaches the
    /// ring's memory for `'a`.
    unsafe fn make<'a>(&'a self, config: &Config) -> (Producer<'a>, Consumer<'a>) {
        // SAFETY: the pointers come from `UnsafeCell`s of `self`, so they are
        // aligned, valid for `'a` and may be written; the caller guarantees
        // exclusive access and a validated capacity of at most `N`.
        unsafe {
            make(
                config,
                NonNull::new_unchecked(self.header.get()),
                NonNull::new_unchecked(self.data.get().cast::<u8>()),
                #[cfg(feature = "alloc")]
                None,
            )
        }
    }
}

#[cfg(not(loom))]
impl<const N: usize> core::fmt::Debug for StaticRing<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StaticRing")
            .field("bytes", &N)
            .field("split_once", &self.taken.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(not(loom))]
impl<const N: usize> Default for StaticRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Makes a ring inside memory the caller lends, for example nonpaged pool in a
/// kernel driver. The header is placed at the first suitably aligned address,
/// the data right after it; the memory needs
/// [`Config::required_memory`] bytes, whatever its alignment.
///
/// # Errors
///
/// The configuration's [`ConfigError`], or [`ConfigError::BufferTooSmall`].
///
/// # Examples
///
/// ```
/// use pcm_ring::Config;
///
/// let config = Config::raw(6, 6 * 100); // 24-bit stereo
/// let mut memory = vec![0u8; config.required_memory()?];
/// let (mut tx, rx) = pcm_ring::borrowed(&config, &mut memory)?;
/// let _ = tx.write(&[0; 12])?;
/// assert_eq!(rx.available(), 12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn borrowed<'a>(
    config: &Config,
    memory: &'a mut [u8],
) -> Result<(Producer<'a>, Consumer<'a>), ConfigError> {
    let needed = config.required_memory()?;
    let Some((header, data)) = place(memory, config.capacity) else {
        return Err(ConfigError::BufferTooSmall {
            needed,
            available: memory.len(),
        });
    };
    // SAFETY: `place` put the aligned header and `capacity` data bytes
    // inside the exclusively borrowed memory, disjoint; the handles borrow
    // the memory for `'a`.
    Ok(unsafe {
        make(
            config,
            header,
            data,
            #[cfg(feature = "alloc")]
            None,
            #[cfg(loom)]
            None,
        )
    })
}

/// Where [`borrowed`] puts the header (at the first aligned address) and
/// the `capacity` data bytes (right after it) in `memory`, if they fit.
fn place(memory: &mut [u8], capacity: usize) -> Option<(NonNull<Header>, NonNull<u8>)> {
    let base = memory.as_mut_ptr();
    let pad = base.align_offset(HEADER_ALIGN);
    let end = pad.checked_add(HEADER_SIZE)?.checked_add(capacity)?;
    if end > memory.len() {
        return None;
    }
    // SAFETY: `pad + HEADER_SIZE + capacity <= memory.len()`, so both
    // pointers are inside `memory` (and not null).
    unsafe {
        let header = base.add(pad);
        Some((
            NonNull::new_unchecked(header.cast::<Header>()),
            NonNull::new_unchecked(header.add(HEADER_SIZE)),
        ))
    }
}

/// Makes a ring on the heap; the handles share it and free it when both are
/// dropped.
///
/// # Errors
///
/// The configuration's [`ConfigError`].
///
/// # Examples
///
/// ```
/// use pcm_ring::Config;
///
/// let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(4, 4 * 480))?;
/// let producer = std::thread::spawn(move || tx.write(&[7; 1920]));
/// producer.join().unwrap()?;
/// let mut out = [0u8; 1920];
/// assert_eq!(rx.read(&mut out)?.data, 1920);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "alloc")]
pub fn heap(config: &Config) -> Result<(Producer<'static>, Consumer<'static>), ConfigError> {
    config.validate()?;
    let block = heap::HeapBlock::new(config);
    // SAFETY: the heap block stays alive while either handle holds it (two
    // references were counted), its header is aligned, and its data buffer has
    // `capacity` bytes that only the handles touch.
    Ok(unsafe {
        let b = block.as_ref();
        make(
            config,
            NonNull::new_unchecked(b.header.get()),
            NonNull::new_unchecked(b.data.cast::<u8>()),
            Some(block),
            #[cfg(loom)]
            Some((NonNull::from(&b.shadow[..]), config.block_align)),
        )
    })
}

#[cfg(feature = "alloc")]
mod heap {
    extern crate alloc;

    use alloc::boxed::Box;
    use alloc::vec;
    use core::cell::UnsafeCell;
    use core::ptr::NonNull;

    use crate::header::{Geometry, Header};
    use crate::sync::{AtomicUsize, Ordering};
    use crate::Config;

    /// One heap ring: its header, its data, and a count of live handles.
    pub(crate) struct HeapBlock {
        refs: AtomicUsize,
        pub(crate) header: UnsafeCell<Header>,
        pub(crate) data: *mut [u8],
        #[cfg(loom)]
        pub(crate) shadow: alloc::vec::Vec<loom::cell::UnsafeCell<()>>,
    }

    impl HeapBlock {
        /// Allocates a block for a validated configuration, with two references.
        pub(crate) fn new(config: &Config) -> NonNull<HeapBlock> {
            let geometry = Geometry::new(config.capacity, config.block_align);
            let data = Box::into_raw(vec![0u8; config.capacity].into_boxed_slice());
            let block = Box::new(HeapBlock {
                refs: AtomicUsize::new(2),
                header: UnsafeCell::new(Header::new(
                    &geometry,
                    crate::storage::ring_flags(config),
                    0,
                )),
                data,
                #[cfg(loom)]
                shadow: (0..config.capacity / config.block_align)
                    .map(|_| loom::cell::UnsafeCell::new(()))
                    .collect(),
            });
            NonNull::from(Box::leak(block))
        }

        /// Drops one reference; frees the block with the last.
        ///
        /// # Safety
        ///
        /// The caller owns one reference to `block` and does not use it after.
        pub(crate) unsafe fn release(block: NonNull<HeapBlock>) {
            // SAFETY: the caller holds a reference, so the block is alive.
            let last = unsafe { block.as_ref() }
                .refs
                .fetch_sub(1, Ordering::AcqRel)
                == 1;
            if last {
                // SAFETY: this was the last reference: nobody else can reach
                // the block, which `new` allocated with `Box`.
                unsafe {
                    let block = Box::from_raw(block.as_ptr());
                    drop(Box::from_raw(block.data));
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::header::HOT_RANGES;

    /// The 128-byte lines (or adjacent-line prefetch pairs) a byte range
    /// touches.
    fn lines(start: usize, len: usize) -> core::ops::RangeInclusive<usize> {
        start / 128..=(start + len - 1) / 128
    }

    fn overlap(a: &core::ops::RangeInclusive<usize>, b: &core::ops::RangeInclusive<usize>) -> bool {
        a.start() <= b.end() && b.start() <= a.end()
    }

    #[test]
    fn sides_never_share_a_line_at_any_base_offset() {
        let capacity = 4 * 480;
        let mut memory = std::vec![0u8; 2 * 128 + HEADER_SIZE + capacity];
        let aligned = memory.as_ptr().align_offset(128);
        for offset in 0..128 {
            let region = &mut memory[aligned + offset..];
            let (header, data) = place(region, capacity).expect("fits");
            let header = header.as_ptr() as usize;
            let (p, c) = (HOT_RANGES.0.clone(), HOT_RANGES.1.clone());
            let producer = lines(header + p.start, p.len());
            let consumer = lines(header + c.start, c.len());
            let data = lines(data.as_ptr() as usize, capacity);
            assert!(!overlap(&producer, &consumer), "offset {offset}");
            assert!(!overlap(&consumer, &data), "offset {offset}");
            assert!(!overlap(&producer, &data), "offset {offset}");
        }
    }

    /// Every length the inline copies take (and the first ones `memcpy`
    /// takes), at every alignment of both ends: exactly the `len` bytes
    /// move, nothing around them.
    #[test]
    fn copy_bytes_moves_exactly_len_bytes() {
        let src: std::vec::Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37) | 1).collect();
        // Miri interprets every access: two alignments of each end there.
        let ends = if cfg!(miri) { 2 } else { 8 };
        for len in 0..=80 {
            for from in 0..ends {
                for to in 0..ends {
                    let mut dst = [0u8; 100];
                    // SAFETY: `from + len <= 88 <= 100` and `to + len <=
                    // 88 <= 100`: both ranges are inside their arrays,
                    // which do not overlap.
                    unsafe { copy_bytes(src[from..].as_ptr(), dst[to..].as_mut_ptr(), len) };
                    assert_eq!(dst[to..to + len], src[from..from + len], "len {len}");
                    assert!(dst[..to].iter().all(|&b| b == 0), "len {len}");
                    assert!(dst[to + len..].iter().all(|&b| b == 0), "len {len}");
                }
            }
        }
    }
}
