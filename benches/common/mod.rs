//! Setup shared by the criterion benches (`ring`, `shm`): the page-aligning
//! allocator that gives every variant the same memory layout, and the
//! criterion configuration (`PCM_RING_BENCH_QUICK` for a short run).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use criterion::Criterion;

/// The page size that 4K aliasing works modulo.
pub const PAGE: usize = 4096;

/// Page-aligns every allocation of at least [`PageAligned::MIN`] bytes.
///
/// Where a ring's storage starts within a cache line and a page changes a
/// copy's cost by up to half (split cache lines, 4K aliasing), and the
/// allocator decides it differently for each ring it makes. Starting every
/// ring's storage on a page gives all variants, of every crate, the same
/// layout in every run.
pub struct PageAligned;

impl PageAligned {
    const MIN: usize = 1024;

    fn adjust(layout: Layout) -> Layout {
        if layout.size() >= Self::MIN && layout.align() < PAGE {
            // A valid layout's size stays valid when its alignment grows to
            // a page (sizes here are far below `isize::MAX`).
            Layout::from_size_align(layout.size(), PAGE).unwrap_or(layout)
        } else {
            layout
        }
    }
}

// SAFETY: every call is forwarded to the system allocator with the layout
// that `adjust` derives from the caller's layout, the same for an allocation
// and its deallocation; the returned block satisfies the caller's layout
// (same size, equal or stricter alignment).
unsafe impl GlobalAlloc for PageAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with a non-zero-size layout of equal size.
        unsafe { System.alloc(Self::adjust(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(Self::adjust(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with the same adjusted layout.
        unsafe { System.dealloc(ptr, Self::adjust(layout)) }
    }
}

/// Whether `PCM_RING_BENCH_QUICK` asks for the short run.
pub fn quick() -> bool {
    std::env::var_os("PCM_RING_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The criterion settings of every group: shorter under `PCM_RING_BENCH_QUICK`.
pub fn criterion_config() -> Criterion {
    let c = Criterion::default();
    if quick() {
        c.warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(600))
            .sample_size(30)
            .nresamples(10_000)
    } else {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .sample_size(100)
            .nresamples(20_000)
    }
}

/// A byte buffer that starts at a chosen offset within a 4 KiB page.
///
/// A copy whose loads follow recent stores to addresses equal modulo 4096
/// (4K aliasing) can take half as long again, so where the buffers happen to
/// be allocated would otherwise decide which variant wins. Each variant puts
/// its source and destination at the page offset of its ring's storage.
pub struct PageBuf {
    mem: Vec<u8>,
    start: usize,
    len: usize,
}

impl PageBuf {
    /// `len` zero bytes starting at `phase` bytes into a page.
    pub fn new(len: usize, phase: usize) -> Self {
        let mem = vec![0u8; len + PAGE];
        let start = (phase % PAGE + PAGE - mem.as_ptr() as usize % PAGE) % PAGE;
        PageBuf { mem, start, len }
    }

    /// Input bytes that are not all alike, starting at `phase`.
    pub fn pattern(len: usize, phase: usize) -> Self {
        let mut buf = PageBuf::new(len, phase);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        buf
    }
}

impl Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.mem[self.start..self.start + self.len]
    }
}

impl DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.start..self.start + self.len]
    }
}
