//! The atomics shim: `portable-atomic` normally, `loom` under `--cfg loom`.
//!
//! Every ordering the protocol relies on is named here, once, so that the loom
//! models can be shown to fail when one of them is weakened on purpose with
//! `--cfg pcm_ring_weaken="<name>"` (see the README's Verification section).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU32;
#[cfg(all(loom, feature = "alloc"))]
pub(crate) use loom::sync::atomic::AtomicUsize;
#[cfg(all(not(loom), feature = "alloc"))]
pub(crate) use portable_atomic::AtomicUsize;
#[cfg(not(loom))]
pub(crate) use portable_atomic::{AtomicBool, AtomicU32};

pub(crate) use core::sync::atomic::Ordering;
use Ordering::{AcqRel, Acquire, Relaxed, Release};

/// The producer publishes its write index after copying the data in.
pub(crate) const PUBLISH_WRITE: Ordering = if cfg!(pcm_ring_weaken = "publish_write") {
    Relaxed
} else {
    Release
};

/// The consumer observes the write index before copying the data out.
pub(crate) const OBSERVE_WRITE: Ordering = if cfg!(pcm_ring_weaken = "observe_write") {
    Relaxed
} else {
    Acquire
};

/// The consumer publishes its read index after copying the data out.
pub(crate) const PUBLISH_READ: Ordering = if cfg!(pcm_ring_weaken = "publish_read") {
    Relaxed
} else {
    Release
};

/// The producer observes the read index before reusing the space.
pub(crate) const OBSERVE_READ: Ordering = if cfg!(pcm_ring_weaken = "observe_read") {
    Relaxed
} else {
    Acquire
};

/// The producer's compare-and-swap that discards the oldest blocks. It must
/// acquire the consumer's last release and release the write index it has
/// already published, so that a consumer claiming the new read index sees data
/// up to at least that index.
pub(crate) const OVERWRITE_CAS: Ordering = if cfg!(pcm_ring_weaken = "overwrite_cas") {
    Acquire
} else {
    AcqRel
};

/// The consumer's compare-and-swap that claims the region it is about to copy.
/// Its fast path expects the read position the consumer last saw, without
/// loading it first; when discards brought the read position back to that
/// value, this acquire (of the producer's last discard) is what makes the
/// write position loaded under the claim at least the one published before
/// those discards.
pub(crate) const CLAIM_CAS: Ordering = if cfg!(pcm_ring_weaken = "claim") {
    Relaxed
} else {
    Acquire
};

/// Whether the consumer sets the busy bit at all (the overwrite claim).
pub(crate) const USE_CLAIM: bool = !cfg!(pcm_ring_weaken = "skip_claim");

/// Whether the consumer claims only reads that copy something. Weakened, it
/// claims every read, even of an empty or priming ring, which makes an
/// overrunning producer drop its newest data for nothing.
pub(crate) const CLAIM_ONLY_TO_COPY: bool = !cfg!(pcm_ring_weaken = "claim_idle");

/// Whether the consumer's claim under `OverwriteOldest` loads the write
/// position again once it holds. Weakened, it keeps the one it loaded
/// before claiming, from another instant if the producer discarded twice
/// the capacity meanwhile (the read position came back to the same value),
/// and copies blocks the producer is writing.
pub(crate) const CLAIM_LOOKS_AGAIN: bool = !cfg!(pcm_ring_weaken = "claim_stale_write");

/// Whether the consumer checks that its two positions come from one instant
/// (under `OverwriteOldest` the producer moves both). Weakened, it loads
/// each once, and `available` can exceed the capacity.
pub(crate) const CONSISTENT_POSITIONS: bool = !cfg!(pcm_ring_weaken = "positions_once");

/// Whether the consumer also checks the producer's discard count around its
/// loads of the positions. Weakened, a consumer that stalls while the
/// producer discards twice the capacity sees the read position come back to
/// the same value and pairs it with a write position of another instant
/// (ABA): a full ring reads as empty.
pub(crate) const CHECK_DISCARDS: bool = !cfg!(pcm_ring_weaken = "discards_unchecked");

/// The producer publishes its discard count after moving the read position.
pub(crate) const PUBLISH_DISCARDS: Ordering = if cfg!(pcm_ring_weaken = "discards") {
    Relaxed
} else {
    Release
};

/// The consumer observes the discard count around its position loads.
pub(crate) const OBSERVE_DISCARDS: Ordering = if cfg!(pcm_ring_weaken = "discards") {
    Relaxed
} else {
    Acquire
};

/// Publishing and observing the end-of-stream flag.
pub(crate) const PUBLISH_FINISH: Ordering = if cfg!(pcm_ring_weaken = "finish") {
    Relaxed
} else {
    Release
};
/// See [`PUBLISH_FINISH`].
pub(crate) const OBSERVE_FINISH: Ordering = if cfg!(pcm_ring_weaken = "finish") {
    Relaxed
} else {
    Acquire
};

/// A side publishing its counters: the generation stores and the slot's
/// words (see `counters`).
pub(crate) const COUNTER_WRITE: Ordering = if cfg!(pcm_ring_weaken = "counter_write") {
    Relaxed
} else {
    Release
};

/// Reading a side's counters: the first generation load and the slot's
/// words.
pub(crate) const COUNTER_READ: Ordering = if cfg!(pcm_ring_weaken = "counter_read") {
    Relaxed
} else {
    Acquire
};

/// A handle telling the other that it is gone, and the other observing it.
pub(crate) const PUBLISH_GONE: Ordering = Release;
/// See [`PUBLISH_GONE`].
pub(crate) const OBSERVE_GONE: Ordering = Acquire;

/// Whether the producer loads the read position again when its cached free
/// space is too small for a write. Weakened, it trusts the cached value: a
/// write the consumer has made room for is refused (or truncated).
pub(crate) const PRODUCER_CACHE_REFRESH: bool = !cfg!(pcm_ring_weaken = "producer_cache");

/// Whether the consumer loads the write position again when its cached
/// available bytes are too few for a read. Weakened, it trusts the cached
/// value: published data is reported missing (silence, an underrun).
pub(crate) const CONSUMER_CACHE_REFRESH: bool = !cfg!(pcm_ring_weaken = "consumer_cache");

/// Whether the consumer's cached fast path is taken only when its outcome
/// cannot depend on the fresh fill level: data stays above the low
/// watermark and short of the end. Weakened, a stale fill reports the
/// low-watermark edge early and misses the end of the stream.
pub(crate) const CACHE_EXACT_EDGES: bool = !cfg!(pcm_ring_weaken = "cache_edges");

/// Whether the producer loads the read position before raising the peak
/// fill. Weakened, the peak comes from the cached (stale) read position and
/// can exceed any fill the ring ever had.
pub(crate) const PEAK_EXACT: bool = !cfg!(pcm_ring_weaken = "peak_from_cache");

/// Whether the consumer under `OverwriteOldest` always starts from the
/// shared read position (the producer moves it). Weakened, it trusts its
/// own copy and its cached fill like the other policies do, and copies
/// blocks the producer is overwriting.
pub(crate) const OVERWRITE_FRESH_READ: bool = !cfg!(pcm_ring_weaken = "overwrite_own_read");
