//! Counters that make every glitch visible, readable from either side at any
//! time, without a lock, on every target.
//!
//! # How they are published
//!
//! Each counter has one writer: the producer owns `written`, `dropped`,
//! `overwritten`, `overruns`, `refused` and `peak_fill`; the consumer owns
//! the rest. A side keeps its totals privately as `u64` ([`Tally`]) and
//! publishes them into its line of the shared header ([`Snapshot`]) with
//! 32-bit atomic stores only, so no target needs 64-bit atomics and no
//! counter ever goes through a lock (`portable-atomic`'s fallback for 64-bit
//! atomics on 32-bit targets is a global table of spinlocks: an interrupt that
//! preempts a thread in the middle of an update and then takes the same lock
//! spins forever on a single core).
//!
//! A snapshot is double-buffered: two slots and a generation number. The
//! writer fills the slot readers are *not* told to read, then advances the
//! generation to point at it. A reader takes the slot the generation points
//! at and checks afterwards that the writer did not start rewriting that same
//! slot meanwhile (which takes two more updates). So:
//!
//! - the writer is wait-free: a handful of stores, never a wait;
//! - a reader never waits for the writer. A reader that preempts a writer in
//!   the middle of an update (an interrupt handler calling `counters()`)
//!   reads the other, complete slot and succeeds at once. A reader retries
//!   only if the writer *completed* an update and started the next one while
//!   the reader was copying a few words, so each retry means the writer made
//!   progress (lock-free), and a reader on the same core as the writer
//!   retries at most as often as the writer's interrupt preempts it;
//! - every side's counters come from one instant of that side: a snapshot is
//!   consistent as a whole, not only field by field.

use crate::sync::{AtomicU32, Ordering, COUNTER_READ, COUNTER_WRITE};

/// A snapshot of a ring's counters. All totals are 64-bit and do not wrap in
/// practice (about 3 million years of 192 kB/s audio).
///
/// The producer's counters (`written`, `dropped`, `overwritten`, `overruns`,
/// `refused`, `peak_fill`) are consistent with each other, as are the
/// consumer's (the rest); the two groups are read one after the other, so
/// while both sides run they may be a few operations apart. When both sides
/// are idle these hold exactly:
///
/// - `written == read + overwritten + fill` (fill: bytes buffered now);
/// - every byte given to a write that did not fail is in `written`, in
///   `dropped`, or still held as a partial block by the producer;
/// - `overruns` counts the writes that lost audio (dropped or overwritten
///   bytes), `refused` the writes [`Overrun::Reject`](crate::Overrun::Reject)
///   turned away whole, which lose nothing.
///
/// # Examples
///
/// ```
/// use pcm_ring::{Config, Overrun};
///
/// let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(2, 8).overrun(Overrun::Truncate))?;
/// let _ = tx.write(&[0; 12])?; // 4 bytes do not fit
/// let mut out = [0u8; 12];
/// let _ = rx.read(&mut out)?; // 8 bytes of data, 4 of silence
/// let c = rx.counters();
/// assert_eq!((c.written, c.dropped, c.overruns), (8, 4, 1));
/// assert_eq!((c.read, c.silence_underrun, c.underruns), (8, 4, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Bytes committed into the ring by the producer.
    pub written: u64,
    /// Data bytes delivered to the consumer.
    pub read: u64,
    /// Bytes given to a write that never entered the ring: truncated, the
    /// head of an input longer than the capacity under `OverwriteOldest`, or
    /// a discarded partial block. (A write refused under `Reject` drops
    /// nothing: the caller keeps its bytes.)
    pub dropped: u64,
    /// Bytes that were in the ring and were discarded unread by
    /// `OverwriteOldest`.
    pub overwritten: u64,
    /// Silence bytes delivered while priming (before the start threshold, or
    /// re-arming to the restart threshold).
    pub silence_priming: u64,
    /// Silence bytes delivered because the ring ran dry while streaming.
    pub silence_underrun: u64,
    /// Silence bytes delivered after the stream ended and was drained.
    pub silence_end: u64,
    /// Copying reads that found fewer bytes than they asked for while streaming.
    pub underruns: u64,
    /// Writes that lost audio: they dropped newest bytes or overwrote oldest
    /// ones.
    pub overruns: u64,
    /// Writes (and grants) that [`Overrun::Reject`](crate::Overrun::Reject)
    /// refused because they did not fit. Nothing was lost: the caller kept
    /// its bytes. A producer that polls a full ring counts every poll here.
    pub refused: u64,
    /// The highest fill level, in bytes, seen right after a write.
    pub peak_fill: u64,
    /// Violations of the protocol by the peer that the handle asking
    /// detected: a peer position out of range, more than the capacity away
    /// from this side's, or not on a block boundary (each treated as an
    /// empty ring by a consumer and a full one by a producer), or peer
    /// counters that never settled. Always 0 between honest sides; it
    /// counts what *this* handle saw, not what its peer saw.
    pub protocol_errors: u64,
}

impl Counters {
    /// All silence bytes delivered.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(2, 8).start_threshold(2))?;
    /// let mut out = [0u8; 4];
    /// let _ = rx.read(&mut out)?; // priming: 4 bytes of silence
    /// assert_eq!(rx.counters().silence(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn silence(&self) -> u64 {
        self.silence_priming
            .saturating_add(self.silence_underrun)
            .saturating_add(self.silence_end)
    }

    /// Combines the two sides' snapshots.
    pub(crate) fn from_sides(
        producer: [u64; PRODUCER_FIELDS],
        consumer: [u64; CONSUMER_FIELDS],
        protocol_errors: u64,
    ) -> Counters {
        let [written, dropped, overwritten, overruns, refused, peak_fill] = producer;
        let [read, silence_priming, silence_underrun, silence_end, underruns] = consumer;
        Counters {
            written,
            read,
            dropped,
            overwritten,
            silence_priming,
            silence_underrun,
            silence_end,
            underruns,
            overruns,
            refused,
            peak_fill,
            protocol_errors,
        }
    }
}

/// How many counters the producer owns.
pub(crate) const PRODUCER_FIELDS: usize = 6;
/// How many counters the consumer owns.
pub(crate) const CONSUMER_FIELDS: usize = 5;

/// Indices into the producer's [`Tally`].
pub(crate) mod producer {
    pub(crate) const WRITTEN: usize = 0;
    pub(crate) const DROPPED: usize = 1;
    pub(crate) const OVERWRITTEN: usize = 2;
    pub(crate) const OVERRUNS: usize = 3;
    pub(crate) const REFUSED: usize = 4;
    pub(crate) const PEAK_FILL: usize = 5;
}

/// Indices into the consumer's [`Tally`].
pub(crate) mod consumer {
    pub(crate) const READ: usize = 0;
    pub(crate) const SILENCE_PRIMING: usize = 1;
    pub(crate) const SILENCE_UNDERRUN: usize = 2;
    pub(crate) const SILENCE_END: usize = 3;
    pub(crate) const UNDERRUNS: usize = 4;
}

/// One side's counters in the shared header: a generation number and two
/// slots of `N` 64-bit values, each stored as two 32-bit words (low, high).
///
/// The generation counts half-updates: it is odd while the writer fills a
/// slot. After `k` complete updates it is `2k`, and slot `k % 2` holds the
/// newest totals; update `k + 1` fills slot `(k + 1) % 2`.
#[repr(C)]
pub(crate) struct Snapshot<const N: usize> {
    gen: AtomicU32,
    _reserved: AtomicU32,
    slots: [[[AtomicU32; 2]; N]; 2],
}

impl<const N: usize> Snapshot<N> {
    /// Stores zero in every word, atomically (a header being initialised
    /// in memory a peer may already have mapped).
    #[cfg(not(loom))]
    pub(crate) fn reset(&self) {
        self.gen.store(0, Ordering::Relaxed);
        self._reserved.store(0, Ordering::Relaxed);
        for word in self.slots.iter().flatten().flatten() {
            word.store(0, Ordering::Relaxed);
        }
    }

    /// All counters zero.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Snapshot {
            gen: AtomicU32::new(0),
            _reserved: AtomicU32::new(0),
            slots: [const { [const { [const { AtomicU32::new(0) }; 2] }; N] }; 2],
        }
    }

    /// All counters zero.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Snapshot {
            gen: AtomicU32::new(0),
            _reserved: AtomicU32::new(0),
            slots: core::array::from_fn(|_| {
                core::array::from_fn(|_| [AtomicU32::new(0), AtomicU32::new(0)])
            }),
        }
    }

    /// The newest complete totals. Never waits for the writer; retries only
    /// if the writer started rewriting the slot being copied, which takes it
    /// two updates (see the module docs).
    pub(crate) fn load(&self) -> [u64; N] {
        loop {
            if let Some(values) = self.load_bounded(u32::MAX) {
                return values;
            }
        }
    }

    /// [`load`](Self::load) with at most `tries` attempts: `None` if the
    /// writer completed an update and started the next during every one
    /// (a hardened handle bounds its reads of an untrusted peer's counters,
    /// which could flip the generation forever).
    pub(crate) fn load_bounded(&self, tries: u32) -> Option<[u64; N]> {
        for _ in 0..tries {
            let first = self.gen.load(COUNTER_READ);
            let slot = &self.slots[((first >> 1) & 1) as usize];
            let mut values = [0u64; N];
            // Acquire: a word stored by an update that rewrites this slot
            // makes the generation load below see that update's start,
            // which the writer stored before the word.
            for (value, word) in values.iter_mut().zip(slot) {
                let lo = word[0].load(COUNTER_READ);
                let hi = word[1].load(COUNTER_READ);
                *value = u64::from(hi) << 32 | u64::from(lo);
            }
            let last = self.gen.load(Ordering::Relaxed);
            // The slot is rewritten by the update whose start is `2k + 3`,
            // where `2k = first & !1`.
            if last.wrapping_sub(first & !1) < 3 {
                return Some(values);
            }
        }
        None
    }
}

/// One side's counters: its exact totals and how much of them the shared
/// [`Snapshot`] already shows.
///
/// Every operation changes some totals and then publishes, so a publish
/// sees the changes of one operation. Most operations change one counter
/// by a little: the hot counter (bytes written, or read) on the data path,
/// or one silence counter while an empty ring is read. Such a change is
/// stored in place, as the low word of that counter in the slot readers
/// are pointed at: one store, and a reader sees either the old or the new
/// total, both complete snapshots. Each slot takes in place one counter
/// only (two counters changed in place one after the other would let a
/// reader combine the old value of one with the new value of the other),
/// and only while its high word stays (a reader could combine an old high
/// word with a new low one). Anything else is a full update into the other
/// slot.
pub(crate) struct Tally<const N: usize> {
    /// The totals, exact; only this side changes them.
    now: [u64; N],
    /// What each slot of the shared [`Snapshot`] holds, but for the low
    /// word of a counter stored in place while the slot was current (not
    /// recorded, to keep those stores short).
    slot_holds: [[u64; N]; 2],
    /// The counter other than the hot one each slot takes, or took, in
    /// place while it is current (`N`: none): the current slot's is the
    /// one [`publish_alone`](Self::publish_alone) may store in place.
    slot_alone: [usize; 2],
    /// The shared generation, which only this side writes.
    gen: u32,
    /// The hot counter may be published in place while it is below this:
    /// the end of the 32-bit range of the value the current slot holds (so
    /// that only its low word changes), or 0 once another counter changed
    /// since the last full update, or while the slot takes another counter
    /// in place. One comparison decides the common case.
    in_place_below: u64,
    /// The current slot's counter taken in place alone (`slot_alone`) may
    /// be stored in place while it is below this: 0 once any other counter
    /// changed since the last full update.
    alone_below: u64,
    /// The slot readers are pointed at (`false`: 0, `true`: 1).
    current: bool,
}

/// The counter that changes on every call and may be updated in place.
const HOT: usize = 0;

impl<const N: usize> Tally<N> {
    /// All zero, matching a fresh [`Snapshot`].
    pub(crate) const fn new() -> Self {
        Tally {
            now: [0; N],
            slot_holds: [[0; N]; 2],
            slot_alone: [N; 2],
            gen: 0,
            in_place_below: 1 << 32,
            alone_below: 0,
            current: false,
        }
    }

    /// The totals as they are now (published or not).
    pub(crate) fn values(&self) -> [u64; N] {
        self.now
    }

    /// The total of counter `index` (0 for an index out of range).
    #[inline]
    pub(crate) fn get(&self, index: usize) -> u64 {
        self.now.get(index).copied().unwrap_or(0)
    }

    /// Adds `by` to counter `index` (wrapping, as the totals never do in
    /// practice). Call [`publish`](Self::publish) after a batch of changes.
    #[inline]
    pub(crate) fn add(&mut self, index: usize, by: u64) {
        if let Some(value) = self.now.get_mut(index) {
            *value = value.wrapping_add(by);
            self.changed(index);
        }
    }

    /// Raises counter `index` to `value` if it is below.
    #[inline]
    pub(crate) fn raise(&mut self, index: usize, value: u64) {
        if let Some(now) = self.now.get_mut(index) {
            if value > *now {
                *now = value;
                self.changed(index);
            }
        }
    }

    /// Counter `index` changed: what may still be stored in place.
    #[inline(always)]
    fn changed(&mut self, index: usize) {
        if cfg!(pcm_ring_weaken = "counter_in_place") {
            return;
        }
        if index != HOT {
            // Stored only if it changes: the silence of an empty ring
            // changes one counter on every read, and a store that changes
            // nothing still costs one where the fill filled the store
            // buffer.
            if self.in_place_below != 0 {
                self.in_place_below = 0;
            }
            if index != self.slot_alone[usize::from(self.current)] {
                self.alone_below = 0;
            }
        }
    }

    /// Publishes the totals into `shared`: in place if only the hot
    /// counter's low word changed (see the type's docs), else by a full
    /// update.
    #[inline(always)]
    pub(crate) fn publish(&mut self, shared: &Snapshot<N>) {
        if cfg!(pcm_ring_weaken = "counter_in_place") {
            return self.publish_in_place_weakened(shared);
        }
        let value = self.get(HOT);
        if value < self.in_place_below {
            if let Some(word) = shared.slots[usize::from(self.current)].get(HOT) {
                // Release: as for the words of a full update.
                word[0].store(value as u32, COUNTER_WRITE);
                return;
            }
        }
        self.publish_full(shared);
    }

    /// Publishes an operation that changed counter `index` and no other
    /// (the silence of a read that delivers no data): in place if the
    /// current slot takes `index` in place and only its low word changed;
    /// else a full update, after which the new slot takes `index` in
    /// place. A change of any other counter since the last full update
    /// (the caller's mistake) makes it a full update.
    #[inline(always)]
    pub(crate) fn publish_alone(&mut self, index: usize, shared: &Snapshot<N>) {
        if cfg!(pcm_ring_weaken = "counter_in_place") {
            return self.publish_in_place_weakened(shared);
        }
        let value = self.get(index);
        let current = usize::from(self.current);
        // The hot counter is not stored in place while a slot takes another
        // (`in_place_below` is 0), so the slot's record of it is exact.
        if index == self.slot_alone[current]
            && value < self.alone_below
            && Some(&self.get(HOT)) == self.slot_holds[current].get(HOT)
        {
            if let Some(word) = shared.slots[current].get(index) {
                // Release: as for the words of a full update.
                word[0].store(value as u32, COUNTER_WRITE);
                return;
            }
        }
        self.publish_full(shared);
        if index != HOT && index < N {
            self.in_place_below = 0;
            self.alone_below = in_place_below(value);
            self.slot_alone[usize::from(self.current)] = index;
        }
    }

    /// The weakened in-place update (`pcm_ring_weaken = "counter_in_place"`):
    /// every word stored in place into the current slot, whatever changed.
    /// Two counters changed one after the other let a reader combine an old
    /// value of one with a new value of the other, and a carry lets it
    /// combine an old high word with a new low one.
    fn publish_in_place_weakened(&mut self, shared: &Snapshot<N>) {
        let slot = &shared.slots[usize::from(self.current)];
        for (&value, word) in self.now.iter().zip(slot) {
            word[0].store(value as u32, COUNTER_WRITE);
            word[1].store((value >> 32) as u32, COUNTER_WRITE);
        }
    }

    /// The double-buffered update: the words of the slot readers are not
    /// pointed at that differ from what it holds, then the generation
    /// pointing at it. Afterwards the new slot takes the hot counter in
    /// place.
    #[inline(never)]
    fn publish_full(&mut self, shared: &Snapshot<N>) {
        let start = self.gen.wrapping_add(1);
        let done = start.wrapping_add(1);
        let index = ((done >> 1) & 1) as usize;
        // Release: a reader that sees this odd value also sees the slot it
        // points at complete (the previous update's).
        shared.gen.store(start, COUNTER_WRITE);
        // Release on every word: a reader that sees one sees the odd value
        // above too, so it knows the slot was being rewritten.
        let holds = &mut self.slot_holds[index];
        // The low words of the counters stored in place while this slot was
        // current are whatever those stores left (not recorded): mark them
        // different from the new values, so that they are stored.
        for field in [HOT, self.slot_alone[index]] {
            if let (Some(held), Some(&value)) = (holds.get_mut(field), self.now.get(field)) {
                *held = (*held & !u64::from(u32::MAX)) | u64::from(!(value as u32));
            }
        }
        // Only the words that changed: fewer stores for a reader's core to
        // see, and fewer steps for the loom models to interleave.
        for ((held, &value), word) in holds.iter_mut().zip(&self.now).zip(&shared.slots[index]) {
            if *held != value {
                let (lo, hi) = (value as u32, (value >> 32) as u32);
                if *held as u32 != lo {
                    word[0].store(lo, COUNTER_WRITE);
                }
                if (*held >> 32) as u32 != hi {
                    word[1].store(hi, COUNTER_WRITE);
                }
                *held = value;
            }
        }
        shared.gen.store(done, COUNTER_WRITE);
        self.gen = done;
        self.current = index == 1;
        self.slot_alone[index] = N;
        self.in_place_below = in_place_below(self.get(HOT));
        self.alone_below = 0;
    }
}

/// The end of the 32-bit range `held` is in: a counter can be stored in
/// place (its low word alone) while it stays below. 0 (never in place) at
/// the very top, where the end would wrap.
#[inline]
fn in_place_below(held: u64) -> u64 {
    (held | u64::from(u32::MAX)).wrapping_add(1)
}

/// A loom model of the publication itself, with totals that cross a 32-bit
/// boundary, so that a reader combining the low word of one update with the
/// high word of another would see a value no update published:
/// `RUSTFLAGS="--cfg loom" cargo test --release --lib counters`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Changes the tally's totals to `values` the way the handles do
    /// (through `add`, which tracks what changed) and publishes them as the
    /// handles do: with [`Tally::publish_alone`] when one counter other
    /// than the hot one changed, else with [`Tally::publish`].
    fn update<const N: usize>(tally: &mut Tally<N>, shared: &Snapshot<N>, values: [u64; N]) {
        let mut changed = 0;
        let mut last = 0;
        for (index, value) in values.into_iter().enumerate() {
            let by = value.wrapping_sub(tally.get(index));
            if by != 0 {
                tally.add(index, by);
                changed += 1;
                last = index;
            }
        }
        if changed == 1 && last != HOT {
            tally.publish_alone(last, shared);
        } else {
            tally.publish(shared);
        }
    }

    /// A writer publishing `updates` in turn against a reader loading twice:
    /// every snapshot read is the initial one or one of the updates, never
    /// older than one already seen, and the last one is there at the end.
    fn model<const N: usize>(updates: &'static [[u64; N]]) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(3));
        builder.check(move || {
            let shared = Arc::new(Snapshot::<N>::new());
            let writer = {
                let shared = Arc::clone(&shared);
                loom::thread::spawn(move || {
                    let mut tally = Tally::<N>::new();
                    for &values in updates {
                        update(&mut tally, &shared, values);
                    }
                })
            };
            let mut last = 0;
            for _ in 0..2 {
                let seen = shared.load();
                let index = updates.iter().position(|v| *v == seen);
                assert!(seen == [0; N] || index.is_some(), "torn: {seen:x?}");
                // Never older than a snapshot already seen.
                let index = index.map_or(0, |i| i + 1);
                assert!(index >= last, "went back: {seen:x?}");
                last = index;
            }
            writer.join().unwrap();
            assert_eq!(shared.load(), updates[updates.len() - 1]);
        });
    }

    /// Each update moves counter 0 across the 32-bit boundary and counter 1
    /// with it (two full updates). Two updates are enough for the writer to
    /// come back to the slot a reader may be copying. Preemption bound 3.
    #[test]
    fn readers_see_only_published_snapshots() {
        model(&[[0xFFFF_FFFF, 1], [0x1_0000_0001, 2]]);
    }

    /// The hot counter alone: a full update (counter 1 changes too), one in
    /// place (low word only), then a carry into the high word, which must
    /// not be stored in place. Preemption bound 3.
    #[test]
    fn hot_counter_in_place_then_carry() {
        model(&[[0xFFFF_FFFE, 5], [0xFFFF_FFFF, 5], [0x1_0000_0000, 5]]);
    }

    /// Two other counters changing one after the other must each go
    /// through the double buffer: in place, a reader could combine the old
    /// value of the first with the new value of the second. Preemption
    /// bound 3.
    #[test]
    fn other_counters_never_in_place() {
        model(&[[0, 1, 0], [0, 1, 1]]);
    }

    /// Another counter alone (the silence of reads of an empty ring): a
    /// full update of counter 1 alone, which makes the new slot take it in
    /// place, one in place (low word only), then a carry into its high
    /// word, which must not be stored in place. Preemption bound 3.
    #[test]
    fn alone_counter_in_place_then_carry() {
        model(&[[0, 0xFFFF_FFFE], [0, 0xFFFF_FFFF], [0, 0x1_0000_0000]]);
    }
}
