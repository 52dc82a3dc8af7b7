//! Where a ring lives: on the heap, in a `static`-placeable array, or in
//! memory the caller lends (a kernel driver's nonpaged pool). All three give
//! the handles the same thing: a pointer to the shared [`Header`] and a pointer
//! to the data bytes.

#[cfg(not(loom))]
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::header::{Geometry, Header, HEADER_ALIGN, HEADER_SIZE};
use crate::{Config, ConfigError, Consumer, Producer};

/// Loom shadow cells, one per block, and the block size.
#[cfg(loom)]
type Shadow = (NonNull<[loom::cell::UnsafeCell<()>]>, usize);

/// The pointers one handle holds, and its share of a heap allocation.
pub(crate) struct Shared<'a> {
    header: NonNull<Header>,
    data: NonNull<u8>,
    #[cfg(feature = "alloc")]
    owner: Option<NonNull<heap::HeapBlock>>,
    #[cfg(loom)]
    shadow: Option<Shadow>,
    _memory: PhantomData<&'a mut [u8]>,
}

impl Shared<'_> {
    /// The shared header.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: `header` points to an initialised `Header` that outlives
        // every handle (borrowed for `'a`, or kept alive by the heap
        // reference count); it is only ever accessed through shared
        // references, and all its mutable fields are atomics.
        unsafe { self.header.as_ref() }
    }

    /// Copies `src` into the data storage at `offset`.
    ///
    /// # Safety
    ///
    /// `offset + src.len() <= capacity`, and the protocol gives the caller
    /// exclusive access to that range (it is free space owned by the producer).
    #[inline]
    pub(crate) unsafe fn copy_in(&self, offset: usize, src: &[u8]) {
        self.track(offset, src.len(), true);
        // SAFETY: the caller guarantees the range is inside the storage and
        // not accessed by the other side; `src` cannot overlap the storage
        // because the producer never hands out a reference into it that
        // outlives a grant.
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), self.data.as_ptr().add(offset), src.len())
        }
    }

    /// Copies the data storage at `offset` into `dst`.
    ///
    /// # Safety
    ///
    /// `offset + dst.len() <= capacity`, and the protocol keeps the producer
    /// from writing that range meanwhile (it is published data the consumer
    /// owns until it releases it).
    #[inline]
    pub(crate) unsafe fn copy_out(&self, offset: usize, dst: &mut [u8]) {
        self.track(offset, dst.len(), false);
        // SAFETY: as for `copy_in`, with the roles swapped.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.data.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            )
        }
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
    unsafe { header.as_ptr().write(Header::new(&geometry, start as u32)) };
    let shared = || Shared {
        header,
        data,
        #[cfg(feature = "alloc")]
        owner,
        #[cfg(loom)]
        shadow,
        _memory: PhantomData,
    };
    (
        Producer::new(shared(), geometry, config, start),
        Consumer::new(shared(), geometry, config, start),
    )
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
/// let (mut tx, mut rx) = ring.split(&Config::new(4, 1024))?;
/// tx.write(&[1, 2, 3, 4])?;
/// let mut out = [0u8; 4];
/// rx.read(&mut out)?;
/// assert_eq!(out, [1, 2, 3, 4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// In a `static` (the `const fn` constructor puts it in `.bss`), split it once
/// through a `&'static mut`, for example from `static_cell` or
/// `cortex_m::singleton!`, to get `'static` handles.
#[cfg(not(loom))]
pub struct StaticRing<const N: usize> {
    header: Header,
    data: UnsafeCell<[u8; N]>,
}

#[cfg(not(loom))]
impl<const N: usize> StaticRing<N> {
    /// An unsplit ring of `N` data bytes.
    pub const fn new() -> Self {
        StaticRing {
            header: Header::empty(),
            data: UnsafeCell::new([0; N]),
        }
    }

    /// Makes the producer and consumer. The exclusive borrow guarantees that
    /// no handle from an earlier split is still alive, so the ring can be
    /// split again (fresh) after both handles are dropped.
    ///
    /// # Errors
    ///
    /// The configuration's [`ConfigError`], or
    /// [`ConfigError::BufferTooSmall`] if its capacity exceeds `N`.
    pub fn split(&mut self, config: &Config) -> Result<(Producer<'_>, Consumer<'_>), ConfigError> {
        config.validate()?;
        if config.capacity > N {
            return Err(ConfigError::BufferTooSmall {
                needed: config.capacity,
                available: N,
            });
        }
        // SAFETY: both pointers come from `&mut self`, are aligned, and are
        // valid for `'_`; `capacity <= N`.
        Ok(unsafe {
            make(
                config,
                NonNull::from(&mut self.header),
                NonNull::new_unchecked(self.data.get().cast::<u8>()),
                #[cfg(feature = "alloc")]
                None,
            )
        })
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
/// let config = Config::new(6, 6 * 100); // 24-bit stereo
/// let mut memory = vec![0u8; config.required_memory()?];
/// let (mut tx, mut rx) = pcm_ring::borrowed(&config, &mut memory)?;
/// tx.write(&[0; 12])?;
/// assert_eq!(rx.available(), 12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn borrowed<'a>(
    config: &Config,
    memory: &'a mut [u8],
) -> Result<(Producer<'a>, Consumer<'a>), ConfigError> {
    let needed = config.required_memory()?;
    let base = memory.as_mut_ptr();
    let pad = base.align_offset(HEADER_ALIGN);
    let fits = pad
        .checked_add(HEADER_SIZE + config.capacity)
        .is_some_and(|end| end <= memory.len());
    if !fits {
        return Err(ConfigError::BufferTooSmall {
            needed,
            available: memory.len(),
        });
    }
    // SAFETY: `pad + HEADER_SIZE + capacity <= memory.len()`, so both regions
    // are inside the exclusively borrowed memory, disjoint, and the header is
    // aligned; the handles borrow the memory for `'a`.
    Ok(unsafe {
        let header = base.add(pad);
        let data = header.add(HEADER_SIZE);
        make(
            config,
            NonNull::new_unchecked(header.cast::<Header>()),
            NonNull::new_unchecked(data),
            #[cfg(feature = "alloc")]
            None,
            #[cfg(loom)]
            None,
        )
    })
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
/// let (mut tx, mut rx) = pcm_ring::heap(&Config::new(4, 4 * 480))?;
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
                header: UnsafeCell::new(Header::new(&geometry, 0)),
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
