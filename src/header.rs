//! The shared header: every field both sides touch, in one `#[repr(C)]`
//! struct of 32-bit fields, and the position arithmetic.
//!
//! Layout, in 128-byte lines:
//!
//! | bytes | owner | fields |
//! |---|---|---|
//! | 0–127 | set once before the handles exist | magic, version, header size, capacity, block size |
//! | 128–255 | producer | write position, producer flags, discard count, producer counters |
//! | 256–383 | nobody | gap |
//! | 384–511 | consumer | read position (bit 31: the overwrite claim), consumer flags, consumer counters |
//! | 512–639 | nobody | gap |
//!
//! A cache line is at most 128 bytes, and so is a pair of 64-bit lines that
//! adjacent-line prefetch fetches together. The producer's fields and the
//! consumer's are more than 128 bytes apart, and so are the consumer's fields
//! and the data that follows the header, so no 128-byte line or prefetch
//! pair holds fields of both sides, whatever the base address (the header
//! needs only 4-byte alignment; a kernel pool allocator need not honour
//! more). A test in `storage` checks this for every base offset.
//!
//! Positions run over `0..2 * capacity`, so a full ring (`write - read ==
//! capacity`) and an empty one (`write == read`) differ, and the offset into
//! the data is `position` or `position - capacity`: no division on the audio
//! path, any capacity (not only powers of two), and every position a whole
//! number of blocks because the capacity is.

use crate::counters::{Snapshot, CONSUMER_FIELDS, PRODUCER_FIELDS};
use crate::sync::AtomicU32;
#[cfg(not(loom))]
use crate::sync::Ordering;

/// Bytes per line of the header.
const LINE: usize = 128;
/// Size of the header in bytes.
pub(crate) const HEADER_SIZE: usize = core::mem::size_of::<Header>();
/// Alignment of the header in bytes.
pub(crate) const HEADER_ALIGN: usize = core::mem::align_of::<Header>();

/// `"PCMR"` in little-endian: identifies an initialised header.
pub(crate) const MAGIC: u32 = u32::from_le_bytes(*b"PCMR");
/// Layout version of the header.
pub(crate) const VERSION: u32 = 2;

/// Set in [`Header::read`] while the consumer copies out of the ring under
/// `OverwriteOldest`; the producer does not move the read position then.
pub(crate) const BUSY: u32 = 1 << 31;
/// Set in [`Header::producer_flags`] when the producer marked the end of the
/// stream.
pub(crate) const FINISHED: u32 = 1;
/// Set in a side's flags when its handle was dropped.
pub(crate) const GONE: u32 = 2;
/// Set in [`Header::ring_flags`] if the ring was made for `OverwriteOldest`.
pub(crate) const OVERWRITE: u32 = 1;

/// The producer's counters in the header.
pub(crate) type ProducerSnapshot = Snapshot<PRODUCER_FIELDS>;
/// The consumer's counters in the header.
pub(crate) type ConsumerSnapshot = Snapshot<CONSUMER_FIELDS>;

/// Bytes that pad a side's line after its `words` 32-bit fields and its
/// counters `T` (none under loom, whose atomics are larger; the layout
/// matters only for real atomics).
const fn pad<T>(words: usize) -> usize {
    LINE.saturating_sub(4 * words + core::mem::size_of::<T>())
}

/// The shared state of one ring.
#[repr(C)]
pub(crate) struct Header {
    // Identity line, written once. Atomics (and `Pad`s below) although
    // nothing writes them after initialisation: across a trust boundary the
    // peer may write any byte of the header at any time, and a reference to
    // the header must stay valid then, so every byte of it is interior
    // mutable.
    pub(crate) magic: AtomicU32,
    pub(crate) version: AtomicU32,
    pub(crate) header_size: AtomicU32,
    pub(crate) capacity: AtomicU32,
    pub(crate) block_align: AtomicU32,
    /// [`OVERWRITE`] if the ring was made for `OverwriteOldest`.
    pub(crate) ring_flags: AtomicU32,
    _identity: Pad<{ LINE - 24 }>,

    // Producer line.
    /// The producer's published write position.
    pub(crate) write: AtomicU32,
    /// [`FINISHED`], [`GONE`].
    pub(crate) producer_flags: AtomicU32,
    /// How many times the producer moved the read position (discarded the
    /// oldest blocks), stored after each move: a consumer that sees it
    /// unchanged around its loads of the two positions knows they are a pair.
    pub(crate) discards: AtomicU32,
    _producer_reserved: AtomicU32,
    pub(crate) producer_counters: ProducerSnapshot,
    _producer: Pad<{ pad::<ProducerSnapshot>(4) }>,
    _gap0: Pad<LINE>,

    // Consumer line.
    /// The consumer's published read position, with [`BUSY`].
    pub(crate) read: AtomicU32,
    /// [`GONE`].
    pub(crate) consumer_flags: AtomicU32,
    pub(crate) consumer_counters: ConsumerSnapshot,
    _consumer: Pad<{ pad::<ConsumerSnapshot>(2) }>,
    _gap1: Pad<LINE>,
}

/// Padding bytes that nothing reads, interior mutable so that a peer
/// writing them does not invalidate a reference to the header.
#[repr(transparent)]
struct Pad<const N: usize>(core::cell::UnsafeCell<[u8; N]>);

impl<const N: usize> Pad<N> {
    const fn new() -> Self {
        Pad(core::cell::UnsafeCell::new([0; N]))
    }

    /// Zeroes the bytes with atomic stores, 32 bits at a time (every pad is
    /// a whole number of words at a word-aligned offset of the header, so
    /// its words are the size of every other field's).
    #[cfg(not(loom))]
    fn clear(&self) {
        let bytes = self.0.get().cast::<u8>();
        if bytes.align_offset(4) != 0 || N % 4 != 0 {
            return; // not in the layout `Header` has (asserted below)
        }
        for i in 0..N / 4 {
            // SAFETY: `4 * i + 4 <= N`, inside the padding, which is valid
            // for writes through the `UnsafeCell`, and 4-byte aligned
            // (checked above).
            unsafe { core::sync::atomic::AtomicU32::from_ptr(bytes.add(4 * i).cast::<u32>()) }
                .store(0, Ordering::Relaxed);
        }
    }
}

macro_rules! header_init {
    ($magic:expr, $version:expr, $size:expr, $capacity:expr, $block_align:expr, $flags:expr, $start:expr) => {
        Header {
            magic: AtomicU32::new($magic),
            version: AtomicU32::new($version),
            header_size: AtomicU32::new($size),
            capacity: AtomicU32::new($capacity),
            block_align: AtomicU32::new($block_align),
            ring_flags: AtomicU32::new($flags),
            _identity: Pad::new(),
            write: AtomicU32::new($start),
            producer_flags: AtomicU32::new(0),
            discards: AtomicU32::new(0),
            _producer_reserved: AtomicU32::new(0),
            producer_counters: Snapshot::new(),
            _producer: Pad::new(),
            _gap0: Pad::new(),
            read: AtomicU32::new($start),
            consumer_flags: AtomicU32::new(0),
            consumer_counters: Snapshot::new(),
            _consumer: Pad::new(),
            _gap1: Pad::new(),
        }
    };
}

impl Header {
    /// A header for a ring that has not been split yet: all zero bytes, so
    /// that a `static` ring goes to `.bss` (no image or flash space, no copy
    /// at start-up); splitting writes the real header.
    #[cfg(not(loom))]
    pub(crate) const fn empty() -> Header {
        header_init!(0, 0, 0, 0, 0, 0, 0)
    }

    /// A header for `geometry` and the ring `flags`, both positions at `start`.
    #[cfg(not(loom))]
    pub(crate) const fn new(geometry: &Geometry, flags: u32, start: u32) -> Header {
        header_init!(
            MAGIC,
            VERSION,
            HEADER_SIZE as u32,
            geometry.capacity as u32,
            geometry.block_align as u32,
            flags,
            start
        )
    }

    /// A header for `geometry` and the ring `flags`, both positions at `start`.
    #[cfg(loom)]
    pub(crate) fn new(geometry: &Geometry, flags: u32, start: u32) -> Header {
        header_init!(
            MAGIC,
            VERSION,
            HEADER_SIZE as u32,
            geometry.capacity as u32,
            geometry.block_align as u32,
            flags,
            start
        )
    }
}

#[cfg(not(loom))]
impl Header {
    /// Writes a fresh header for `geometry`, ring `flags` and both
    /// positions at `start` over whatever `self` holds, one atomic store
    /// per word: the magic is cleared first and stored last (release), so a
    /// peer that already mapped the region and sees the magic (acquire)
    /// sees the whole header.
    pub(crate) fn initialise(&self, geometry: &Geometry, flags: u32, start: u32) {
        self.magic.store(0, Ordering::Relaxed);
        self.version.store(VERSION, Ordering::Relaxed);
        self.header_size
            .store(HEADER_SIZE as u32, Ordering::Relaxed);
        self.capacity
            .store(geometry.capacity as u32, Ordering::Relaxed);
        self.block_align
            .store(geometry.block_align as u32, Ordering::Relaxed);
        self.ring_flags.store(flags, Ordering::Relaxed);
        self._identity.clear();
        self.write.store(start, Ordering::Relaxed);
        self.producer_flags.store(0, Ordering::Relaxed);
        self.discards.store(0, Ordering::Relaxed);
        self._producer_reserved.store(0, Ordering::Relaxed);
        self.producer_counters.reset();
        self._producer.clear();
        self._gap0.clear();
        self.read.store(start, Ordering::Relaxed);
        self.consumer_flags.store(0, Ordering::Relaxed);
        self.consumer_counters.reset();
        self._consumer.clear();
        self._gap1.clear();
        self.magic.store(MAGIC, Ordering::Release);
    }
}

/// Byte ranges of the header that each side writes on its hot path, for the
/// layout checks: `(producer, consumer)`.
#[cfg(not(loom))]
#[allow(dead_code)] // read by the layout assertions below and a test; older compilers miss the first
pub(crate) const HOT_RANGES: (core::ops::Range<usize>, core::ops::Range<usize>) = (
    core::mem::offset_of!(Header, write)..core::mem::offset_of!(Header, _producer),
    core::mem::offset_of!(Header, read)..core::mem::offset_of!(Header, _consumer),
);

#[cfg(not(loom))]
const _: () = {
    // The layout is part of the contract: fixed offsets on every target.
    assert!(core::mem::size_of::<Header>() == 5 * LINE);
    assert!(core::mem::align_of::<Header>() == 4);
    assert!(core::mem::offset_of!(Header, write) == LINE);
    assert!(core::mem::offset_of!(Header, read) == 3 * LINE);
    // Every pad is whole words at a word-aligned offset (`Pad::clear`).
    assert!(core::mem::offset_of!(Header, _identity) % 4 == 0);
    assert!(core::mem::offset_of!(Header, _producer) % 4 == 0);
    assert!(core::mem::offset_of!(Header, _gap0) % 4 == 0);
    assert!(core::mem::offset_of!(Header, _consumer) % 4 == 0);
    assert!(core::mem::offset_of!(Header, _gap1) % 4 == 0);
    assert!(core::mem::size_of::<Pad<{ LINE - 24 }>>() % 4 == 0);
    assert!(core::mem::size_of::<Pad<{ pad::<ProducerSnapshot>(4) }>>() % 4 == 0);
    assert!(core::mem::size_of::<Pad<{ pad::<ConsumerSnapshot>(2) }>>() % 4 == 0);
    // Every offset the shared-memory layout document gives.
    assert!(core::mem::offset_of!(Header, magic) == 0);
    assert!(core::mem::offset_of!(Header, version) == 4);
    assert!(core::mem::offset_of!(Header, header_size) == 8);
    assert!(core::mem::offset_of!(Header, capacity) == 12);
    assert!(core::mem::offset_of!(Header, block_align) == 16);
    assert!(core::mem::offset_of!(Header, ring_flags) == 20);
    assert!(core::mem::offset_of!(Header, producer_flags) == 132);
    assert!(core::mem::offset_of!(Header, discards) == 136);
    assert!(core::mem::offset_of!(Header, producer_counters) == 144);
    assert!(core::mem::size_of::<ProducerSnapshot>() == 8 + 2 * 6 * 8);
    assert!(core::mem::offset_of!(Header, consumer_flags) == 388);
    assert!(core::mem::offset_of!(Header, consumer_counters) == 392);
    assert!(core::mem::size_of::<ConsumerSnapshot>() == 8 + 2 * 5 * 8);
    // More than a line between the sides, and between the consumer and the data.
    assert!(HOT_RANGES.1.start - HOT_RANGES.0.end >= LINE);
    assert!(HEADER_SIZE - HOT_RANGES.1.end >= LINE);
};

/// A ring's shape, copied privately into each handle: a handle never trusts
/// the shared header for bounds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    /// Bytes of data storage; a whole number of blocks.
    pub(crate) capacity: usize,
    /// Bytes per block.
    pub(crate) block_align: usize,
    /// `2 * capacity`: positions run over `0..span`.
    pub(crate) span: usize,
    /// `ceil(2^64 / block_align)`: turns `n % block_align` into two
    /// multiplications for any `n < 2^32` (Lemire, Kaser and Kurz, "Faster
    /// remainder by direct computation", 2019). A hardware division costs
    /// more than the rest of a small write.
    magic: u64,
    /// `magic - 1`: `n * magic` is at most this exactly when `n` is whole
    /// blocks (`n < 2^32`).
    whole_limit: u64,
}

impl Geometry {
    /// The geometry of a validated configuration.
    pub(crate) const fn new(capacity: usize, block_align: usize) -> Geometry {
        // `block_align == 1` wraps to 0, which gives the right remainder 0;
        // `max(1)` only keeps an unvalidated 0 from dividing by zero.
        let divisor = if block_align == 0 {
            1
        } else {
            block_align as u64
        };
        let magic = (u64::MAX / divisor).wrapping_add(1);
        Geometry {
            capacity,
            block_align,
            span: 2 * capacity,
            magic,
            whole_limit: magic.wrapping_sub(1),
        }
    }

    /// `pos + n` in position space (`n <= capacity`).
    #[inline]
    pub(crate) fn advance(&self, pos: usize, n: usize) -> usize {
        let next = pos + n;
        if next >= self.span {
            next - self.span
        } else {
            next
        }
    }

    /// `pos + n` and its offset, given `offset`, the offset of `pos`
    /// (`n <= capacity`): two additions unless the end of the storage is
    /// crossed.
    #[inline(always)]
    pub(crate) fn advance_with_offset(
        &self,
        pos: usize,
        offset: usize,
        n: usize,
    ) -> (usize, usize) {
        if offset + n < self.capacity {
            // `pos` is `offset` or `offset + capacity`, so `pos + n` stays
            // below twice the capacity.
            (pos + n, offset + n)
        } else {
            self.advance_across_end(pos, n)
        }
    }

    /// [`advance_with_offset`](Self::advance_with_offset) when the end of
    /// the storage is crossed (once per capacity's worth of data).
    #[cold]
    #[inline(never)]
    fn advance_across_end(&self, pos: usize, n: usize) -> (usize, usize) {
        let pos = self.advance(pos, n);
        (pos, self.offset(pos))
    }

    /// Bytes from `from` to `to` in position space.
    #[inline]
    pub(crate) fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.span - from
        }
    }

    /// Offset into the data storage of `pos`.
    #[inline]
    pub(crate) fn offset(&self, pos: usize) -> usize {
        if pos >= self.capacity {
            pos - self.capacity
        } else {
            pos
        }
    }

    /// Whether `n` is a whole number of blocks, for `n <= u32::MAX` (every
    /// length a caller has bounded by the capacity): `n * magic` wraps
    /// below `magic` exactly when `block_align` divides `n` (Lemire's
    /// divisibility test; one multiplication, for any block size). The
    /// answer for a larger `n` is meaningless; bound it first.
    #[inline(always)]
    pub(crate) fn whole_blocks_small(&self, n: usize) -> bool {
        self.magic.wrapping_mul(n as u64) <= self.whole_limit
    }

    /// `n % block_align`: bytes past the last whole block. `checked_rem`
    /// leaves no division-by-zero panic path in the code (the block size of
    /// a validated configuration is never 0, but the optimiser cannot know).
    #[inline]
    pub(crate) fn rem_blocks(&self, n: usize) -> usize {
        match u32::try_from(n) {
            Ok(n) => {
                let low = self.magic.wrapping_mul(u64::from(n));
                ((u128::from(low) * self.block_align as u128) >> 64) as usize
            }
            Err(_) => n.checked_rem(self.block_align).unwrap_or(0),
        }
    }

    /// `n` rounded down to whole blocks.
    #[inline]
    pub(crate) fn floor_blocks(&self, n: usize) -> usize {
        n - self.rem_blocks(n)
    }

    /// The start position for a configured number of blocks, wrapped into
    /// position space.
    pub(crate) fn start_position(&self, blocks: usize) -> usize {
        // Both factors are bounded by the capacity, so this cannot overflow;
        // the checked division leaves no panic path in `split`.
        let span_blocks = self.span.checked_div(self.block_align).unwrap_or(0);
        blocks.checked_rem(span_blocks).unwrap_or(0) * self.block_align
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(loom))]
    fn an_unsplit_header_is_all_zero() {
        let header = Header::empty();
        // SAFETY: `Header` is `repr(C)` of 32-bit atomics, counter
        // snapshots of them and byte arrays, so it has no padding and every
        // byte is initialised; nothing writes it meanwhile.
        let bytes = unsafe {
            core::slice::from_raw_parts((&header as *const Header).cast::<u8>(), HEADER_SIZE)
        };
        assert!(bytes.iter().all(|&b| b == 0));
    }

    #[test]
    fn positions_wrap_at_twice_the_capacity() {
        let g = Geometry::new(12, 3);
        assert_eq!(g.advance(21, 3), 0);
        assert_eq!(g.advance(20, 4), 0);
        assert_eq!(g.advance(9, 3), 12);
        assert_eq!(g.distance(21, 3), 6);
        assert_eq!(g.distance(3, 15), 12);
        assert_eq!(g.offset(15), 3);
        assert_eq!(g.offset(11), 11);
        assert_eq!(g.start_position(9), 3);
        assert_eq!(g.floor_blocks(11), 9);
    }

    #[test]
    fn fast_remainder_matches_the_division() {
        let blocks = [1usize, 2, 3, 4, 5, 6, 7, 12, 18, 24, 1000, 65535, 1 << 20];
        let mut values: std::vec::Vec<usize> = (0..if cfg!(miri) { 300 } else { 5000 }).collect();
        values.extend([
            u32::MAX as usize - 1,
            u32::MAX as usize,
            1 << 32,
            usize::MAX,
        ]);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..if cfg!(miri) { 200 } else { 100_000 } {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x as usize);
            values.push((x as u32) as usize);
        }
        for &b in &blocks {
            let g = Geometry::new(b * 4, b);
            for &n in &values {
                assert_eq!(g.rem_blocks(n), n % b, "{n} % {b}");
            }
        }
    }
}
