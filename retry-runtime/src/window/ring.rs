//! A sliding window of counts, lock-free: [`BUCKETS`] buckets of `window / BUCKETS` each, the
//! newest of which is the *head*. The breaker counts calls (`a`) and failures (`b`) in it, the
//! budget deposits (`a`) and withdrawals (`hot` while a bucket is the head, `b` after).
//!
//! Time is a *tick*: the index of a bucket since the owner's first reading of its clock
//! (`millis / bucket width`, see [`super::Timeline`]), given by
//! the caller, so that the ring itself never reads a clock.
//!
//! # Words
//! - The head word: `tick` (40 bits), `valid` (4 bits: how many buckets, the head included,
//!   belong to the window; 0 for a ring never used), `hot` (20 bits: a count kept in the head
//!   word itself, so that a check of the whole window and the count it allows are one
//!   compare-and-swap).
//! - A slot word: `tag` (the low 24 bits of its bucket's tick), `a` and `b` (20 bits each).
//!   Counts saturate at [`COUNT_MAX`].
//!
//! # How the head moves
//! The head only moves forward. Before it leaves bucket `h` for `t`, the slot of `h` is
//! tagged `h` and given `b ≥ hot` (so the head's `hot` count lands in its bucket's history), and
//! every slot that the new window covers and that nothing was counted in is tagged with zero
//! counts. A jump of a whole window or more (`t − h ≥ BUCKETS`) keeps nothing (`valid = 1`) and
//! tags the slots of `t − BUCKETS .. t` instead. These writes are idempotent: every thread that
//! finds the head behind its tick makes them, and only then swaps the head. So a slot's tag is
//! always within `BUCKETS` of the head's tick, and 24 bits tell every bucket apart. A slot of a
//! bucket the window covers is tagged with exactly that bucket's tick, and none but the head's
//! slot changes while the head stays.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// Buckets in a window.
pub(crate) const BUCKETS: u64 = 10;
/// The largest count a bucket holds (and the head's `hot` count).
pub(crate) const COUNT_MAX: u64 = (1 << 20) - 1;

const TICK_MAX: u64 = (1 << 40) - 1;
const VALID_SHIFT: u32 = 40;
const VALID_MASK: u64 = 0xF;
const HOT_SHIFT: u32 = 44;
const TAG_MASK: u64 = (1 << 24) - 1;
const A_SHIFT: u32 = 24;
const B_SHIFT: u32 = 44;

/// The head word, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) tick: u64,
    pub(crate) valid: u64,
    pub(crate) hot: u64,
}

impl Head {
    const fn decode(word: u64) -> Head {
        Head {
            tick: word & TICK_MAX,
            valid: (word >> VALID_SHIFT) & VALID_MASK,
            hot: word >> HOT_SHIFT,
        }
    }

    const fn encode(self) -> u64 {
        self.tick | (self.valid << VALID_SHIFT) | (self.hot << HOT_SHIFT)
    }

    /// Same bucket, same window: only `hot` may differ.
    const fn same_bucket(self, other: Head) -> bool {
        self.tick == other.tick && self.valid == other.valid
    }
}

/// A slot word, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    tag: u64,
    a: u64,
    b: u64,
}

impl Slot {
    const fn decode(word: u64) -> Slot {
        Slot {
            tag: word & TAG_MASK,
            a: (word >> A_SHIFT) & COUNT_MAX,
            b: word >> B_SHIFT,
        }
    }

    const fn encode(self) -> u64 {
        self.tag | (self.a << A_SHIFT) | (self.b << B_SHIFT)
    }

    const fn empty(tick: u64) -> Slot {
        Slot {
            tag: tick & TAG_MASK,
            a: 0,
            b: 0,
        }
    }

    const fn is_for(self, tick: u64) -> bool {
        self.tag == tick & TAG_MASK
    }

    const fn plus(self, a: u64, b: u64) -> Slot {
        Slot {
            tag: self.tag,
            a: saturate(self.a + a),
            b: saturate(self.b + b),
        }
    }
}

const fn saturate(count: u64) -> u64 {
    if count > COUNT_MAX {
        COUNT_MAX
    } else {
        count
    }
}

/// The counts of a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub(crate) a: u64,
    /// `b` of the buckets (the head's: its `hot` count; the breaker's head: its `b`).
    pub(crate) b: u64,
}

impl Sums {
    const fn plus(self, other: Sums) -> Sums {
        Sums {
            a: self.a + other.a,
            b: self.b + other.b,
        }
    }
}

/// The result of [`Ring::add_lazy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lazy {
    /// Counted in the head's bucket, whose `a` is now this.
    Added { a: u64 },
    /// Not counted: the ring is new; count with a tick.
    NeedsTick,
}

/// Whether a count returned by [`Ring::add_lazy`] asks for a look at the clock: every 16th,
/// and every one once the bucket is full.
#[inline(always)]
pub(crate) const fn time_to_look(a: u64) -> bool {
    a % 16 == 0 || a == COUNT_MAX
}

#[repr(align(64))]
struct Slots([AtomicU64; BUCKETS as usize]);

/// The window: see the module docs.
pub(crate) struct Ring {
    head: AtomicU64,
    /// Beside the head, in the same cache line: a withdrawal that reads the head has it too.
    older: OlderSums,
    slots: Slots,
}

/// The counts of the buckets before the head, remembered for the head's tick by
/// [`Ring::take_hot_if`], so that a withdrawal sums nine buckets once per bucket rather than
/// each time.
///
/// Each word holds a tick (40 bits) and the sum of one count over the buckets before that
/// tick's head (24 bits: nine buckets of [`COUNT_MAX`] fit). A word is used only when its tick
/// is the head's: in a ring that is never [cleared](Ring::clear), one tick means one window
/// (the head moves only forward, and reaches a tick once). Older buckets change only by lazy
/// counts that come in late (see [`Ring::add_lazy`]), which a remembered `a` may miss; `b`
/// (the `hot` counts settled before the head moved) is final. Missing late counts of `a` can
/// only make a budget stricter.
struct OlderSums {
    a: AtomicU64,
    b: AtomicU64,
}

/// An [`OlderSums`] word before anything is remembered: tick 0 and a count of 0, which is
/// right for tick 0 (no bucket comes before it) and matches no other tick.
const OLDER_UNKNOWN: u64 = 0;
const OLDER_COUNT_BITS: u32 = 24;
const OLDER_COUNT_MASK: u64 = (1 << OLDER_COUNT_BITS) - 1;

impl OlderSums {
    const fn new() -> Self {
        OlderSums {
            a: AtomicU64::new(OLDER_UNKNOWN),
            b: AtomicU64::new(OLDER_UNKNOWN),
        }
    }

    /// The sums remembered for `tick`, if both words hold them.
    #[inline]
    fn get(&self, tick: u64) -> Option<Sums> {
        let a = self.a.load(Relaxed);
        let b = self.b.load(Relaxed);
        (a >> OLDER_COUNT_BITS == tick && b >> OLDER_COUNT_BITS == tick).then_some(Sums {
            a: a & OLDER_COUNT_MASK,
            b: b & OLDER_COUNT_MASK,
        })
    }

    fn set(&self, tick: u64, sums: Sums) {
        self.a.store(tick << OLDER_COUNT_BITS | sums.a, Relaxed);
        self.b.store(tick << OLDER_COUNT_BITS | sums.b, Relaxed);
    }

    fn forget(&self) {
        self.a.store(OLDER_UNKNOWN, Relaxed);
        self.b.store(OLDER_UNKNOWN, Relaxed);
    }
}

impl core::fmt::Debug for Ring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring")
            .field("head", &Head::decode(self.head.load(Acquire)))
            .finish_non_exhaustive()
    }
}

#[inline(always)]
#[allow(clippy::cast_possible_truncation)] // below BUCKETS
const fn index(tick: u64) -> usize {
    (tick % BUCKETS) as usize
}

impl Ring {
    pub(crate) const fn new() -> Ring {
        Ring {
            head: AtomicU64::new(0),
            older: OlderSums::new(),
            slots: Slots([const { AtomicU64::new(0) }; BUCKETS as usize]),
        }
    }

    fn slot(&self, tick: u64) -> &AtomicU64 {
        &self.slots.0[index(tick)]
    }

    /// Counts in the head's bucket without a tick: the caller has not read the clock, and the
    /// count lands in the bucket of the latest tick any caller gave.
    #[inline]
    pub(crate) fn add_lazy(&self, a: u64, b: u64) -> Lazy {
        loop {
            let head = Head::decode(self.head.load(Acquire));
            if head.valid == 0 {
                return Lazy::NeedsTick;
            }
            if let Some(slot) = self.try_add(head, a, b) {
                return Lazy::Added { a: slot.a };
            }
        }
    }

    /// Adds to the bucket of `head` once; `None` when the head moved on or another writer got
    /// there first (the caller reads the head again and retries).
    #[inline]
    fn try_add(&self, head: Head, a: u64, b: u64) -> Option<Slot> {
        let cell = self.slot(head.tick);
        let word = cell.load(Acquire);
        let slot = Slot::decode(word);
        let next = if slot.is_for(head.tick) {
            slot.plus(a, b)
        } else {
            // The head's first count: tag its slot, unless the head moved meanwhile.
            if !Head::decode(self.head.load(Acquire)).same_bucket(head) {
                return None;
            }
            Slot::empty(head.tick).plus(a, b)
        };
        cell.compare_exchange_weak(word, next.encode(), AcqRel, Acquire)
            .ok()
            .map(|_| next)
    }

    /// Counts in the bucket of `tick` (or the head's, if the head is already past it); the
    /// head word after, and the bucket's `a`.
    pub(crate) fn add_at(&self, tick: u64, a: u64, b: u64) -> (u64, u64) {
        loop {
            let head_word = self.advance_to(tick);
            if let Some(slot) = self.try_add(Head::decode(head_word), a, b) {
                return (head_word, slot.a);
            }
        }
    }

    /// Moves the head forward to `tick` if it is behind; the head word after (whose tick may be
    /// past `tick`, if others are ahead).
    pub(crate) fn advance_to(&self, tick: u64) -> u64 {
        let tick = tick.min(TICK_MAX);
        'retry: loop {
            let word = self.head.load(Acquire);
            let head = Head::decode(word);
            if head.valid != 0 && head.tick >= tick {
                return word;
            }
            let valid = if head.valid != 0 && tick - head.tick < BUCKETS {
                // A step within the window: the head's bucket keeps its counts (and takes
                // `hot`), the buckets skipped over are empty.
                if !self.settle(head, head.tick, head.hot) {
                    continue 'retry;
                }
                for skipped in head.tick + 1..tick {
                    if !self.settle(head, skipped, 0) {
                        continue 'retry;
                    }
                }
                (head.valid + (tick - head.tick)).min(BUCKETS)
            } else {
                // A jump: nothing is kept. Tag the slots below the new head so that no slot
                // keeps a tag from long ago.
                for old in tick.saturating_sub(BUCKETS)..tick {
                    if !self.settle(head, old, 0) {
                        continue 'retry;
                    }
                }
                1
            };
            let next = Head {
                tick,
                valid,
                hot: 0,
            };
            if self
                .head
                .compare_exchange(word, next.encode(), AcqRel, Acquire)
                .is_ok()
            {
                return next.encode();
            }
        }
    }

    /// Makes the slot of `tick` tagged `tick` with `b ≥ hot`, keeping its counts if it is
    /// already tagged so; `false` if the head left `seen`'s bucket meanwhile.
    fn settle(&self, seen: Head, tick: u64, hot: u64) -> bool {
        let cell = self.slot(tick);
        loop {
            let word = cell.load(Acquire);
            let slot = Slot::decode(word);
            let next = if slot.is_for(tick) {
                if slot.b >= hot {
                    return true;
                }
                Slot { b: hot, ..slot }
            } else {
                // Another bucket's slot, older (or written ahead by a move that lost its race):
                // replace it, unless the head moved meanwhile.
                if !Head::decode(self.head.load(Acquire)).same_bucket(seen) {
                    return false;
                }
                Slot {
                    b: hot,
                    ..Slot::empty(tick)
                }
            };
            if cell
                .compare_exchange(word, next.encode(), AcqRel, Acquire)
                .is_ok()
            {
                return true;
            }
        }
    }

    /// The head word.
    pub(crate) fn head_word(&self) -> u64 {
        self.head.load(Acquire)
    }

    /// The counts of the window that `head_word` describes, less the buckets that have left
    /// the window by `now_tick` (when the head is behind it).
    pub(crate) fn sums(&self, head_word: u64, now_tick: Option<u64>) -> Sums {
        let head = Head::decode(head_word);
        if head.valid == 0 {
            return Sums::default();
        }
        let mut low = Self::window_low(head);
        if let Some(now) = now_tick {
            if now >= head.tick.saturating_add(BUCKETS) {
                return Sums::default();
            }
            low = low.max((now + 1).saturating_sub(BUCKETS));
        }
        self.older_sums(low, head.tick).plus(self.head_sums(head))
    }

    /// The oldest bucket of `head`'s window.
    fn window_low(head: Head) -> u64 {
        (head.tick + 1).saturating_sub(head.valid.min(BUCKETS))
    }

    /// The counts of the buckets `low..high`: final while the head stays, but for late lazy
    /// counts.
    fn older_sums(&self, low: u64, high: u64) -> Sums {
        let mut sums = Sums::default();
        let mut i = index(low);
        for tick in low..high {
            let word = self.slots.0[i].load(Acquire);
            if word & TAG_MASK == tick & TAG_MASK {
                sums.a += (word >> A_SHIFT) & COUNT_MAX;
                sums.b += word >> B_SHIFT;
            }
            i = if i + 1 == BUCKETS as usize { 0 } else { i + 1 };
        }
        sums
    }

    /// The counts of the head's bucket. If the head has moved on since `head` was read, its
    /// slot already holds its `hot` count (or more): take it once.
    #[inline]
    fn head_sums(&self, head: Head) -> Sums {
        let slot = Slot::decode(self.slot(head.tick).load(Acquire));
        if slot.is_for(head.tick) {
            Sums {
                a: slot.a,
                b: slot.b.max(head.hot),
            }
        } else {
            Sums { a: 0, b: head.hot }
        }
    }

    /// The counts of `head`'s window, the older buckets' remembered from the last call for
    /// the same head (see [`OlderSums`]).
    #[inline]
    fn sums_remembered(&self, head: Head) -> Sums {
        if head.valid == 0 {
            return Sums::default();
        }
        let older = self.older.get(head.tick).unwrap_or_else(|| {
            let older = self.older_sums(Self::window_low(head), head.tick);
            self.older.set(head.tick, older);
            older
        });
        older.plus(self.head_sums(head))
    }

    /// Adds one to the head's `hot` count at `tick` if `allow` says yes to the window's counts
    /// (the count included); the check and the count are one atomic step. Not for a ring that
    /// is [cleared](Self::clear): it remembers the older buckets' counts per tick.
    pub(crate) fn take_hot_if(&self, tick: u64, allow: impl Fn(Sums) -> bool) -> bool {
        loop {
            let word = self.advance_to(tick);
            let head = Head::decode(word);
            let sums = self.sums_remembered(head);
            if head.hot < COUNT_MAX && allow(sums) {
                let next = Head {
                    hot: head.hot + 1,
                    ..head
                };
                if self
                    .head
                    .compare_exchange(word, next.encode(), AcqRel, Acquire)
                    .is_ok()
                {
                    return true;
                }
            } else if self.head.load(Acquire) == word {
                return false;
            }
        }
    }

    /// Forgets every count, as of `tick`. Counts made while this runs may be kept.
    pub(crate) fn clear(&self, tick: u64) {
        self.older.forget();
        loop {
            let word = self.advance_to(tick);
            let head = Head::decode(word);
            let cell = self.slot(head.tick);
            let slot_word = cell.load(Acquire);
            let slot = Slot::decode(slot_word);
            if slot.is_for(head.tick) && (slot.a | slot.b) != 0 {
                // Counts made after this swap are the new window's.
                let _ = cell.compare_exchange(
                    slot_word,
                    Slot::empty(head.tick).encode(),
                    AcqRel,
                    Acquire,
                );
            }
            let next = Head {
                tick: head.tick,
                valid: 1,
                hot: 0,
            };
            if self
                .head
                .compare_exchange(word, next.encode(), AcqRel, Acquire)
                .is_ok()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums_at(ring: &Ring, tick: u64) -> (u64, u64) {
        let s = ring.sums(ring.head_word(), Some(tick));
        (s.a, s.b)
    }

    #[test]
    fn a_new_ring_needs_a_tick() {
        let ring = Ring::new();
        assert_eq!(ring.add_lazy(1, 0), Lazy::NeedsTick);
        assert_eq!(sums_at(&ring, 0), (0, 0));
        ring.add_at(1_000, 1, 0);
        assert_eq!(ring.add_lazy(1, 0), Lazy::Added { a: 2 });
        assert_eq!(sums_at(&ring, 1_000), (2, 0));
    }

    #[test]
    fn buckets_leave_the_window_after_ten_ticks() {
        let ring = Ring::new();
        for tick in 100..110 {
            ring.add_at(tick, 1, 1);
        }
        assert_eq!(sums_at(&ring, 109), (10, 10));
        ring.add_at(110, 1, 0);
        assert_eq!(sums_at(&ring, 110), (10, 9), "bucket 100 left");
        assert_eq!(
            sums_at(&ring, 115),
            (5, 4),
            "read ahead without moving the head"
        );
        assert_eq!(sums_at(&ring, 120), (0, 0));
        ring.add_at(125, 1, 1);
        assert_eq!(sums_at(&ring, 125), (1, 1), "a jump keeps nothing");
        ring.add_at(127, 2, 0);
        assert_eq!(sums_at(&ring, 127), (3, 1), "a step keeps the window");
    }

    #[test]
    fn lazy_counts_land_in_the_latest_bucket() {
        let ring = Ring::new();
        ring.add_at(50, 1, 0);
        for _ in 0..14 {
            ring.add_lazy(1, 0);
        }
        assert_eq!(ring.add_lazy(1, 0), Lazy::Added { a: 16 });
        assert!(time_to_look(16) && !time_to_look(15) && time_to_look(COUNT_MAX));
        ring.advance_to(52);
        assert_eq!(
            ring.add_lazy(1, 0),
            Lazy::Added { a: 1 },
            "the head's first count"
        );
        assert_eq!(sums_at(&ring, 52), (17, 0));
    }

    #[test]
    fn hot_counts_move_into_their_bucket() {
        let ring = Ring::new();
        ring.add_at(10, 5, 0);
        assert!(ring.take_hot_if(10, |s| s.b < 2));
        assert!(ring.take_hot_if(10, |s| s.b < 2));
        assert!(!ring.take_hot_if(10, |s| s.b < 2));
        assert!(ring.take_hot_if(11, |s| s.b < 3), "bucket 10 keeps its 2");
        assert_eq!(sums_at(&ring, 11), (5, 3));
        assert_eq!(sums_at(&ring, 20), (0, 1));
        assert_eq!(sums_at(&ring, 21), (0, 0));
    }

    #[test]
    fn remembered_older_counts_agree_with_a_fresh_sum() {
        let ring = Ring::new();
        let mut tick = 100;
        for step in 0..600u64 {
            // Steps within the window, jumps past it, and stays in one bucket.
            tick += match step % 9 {
                0 => 1,
                4 => step % 14,
                _ => 0,
            };
            ring.add_at(tick, 1 + step % 3, 0);
            ring.advance_to(tick);
            let fresh = ring.sums(ring.head_word(), None);
            let seen = core::cell::Cell::new(None);
            ring.take_hot_if(tick, |sums| {
                seen.set(Some(sums));
                step % 2 == 0
            });
            assert_eq!(seen.get(), Some(fresh), "step {step}, tick {tick}");
        }
    }

    #[test]
    fn counts_saturate() {
        let ring = Ring::new();
        ring.add_at(1, COUNT_MAX, COUNT_MAX);
        ring.add_at(1, 5, 5);
        assert_eq!(sums_at(&ring, 1), (COUNT_MAX, COUNT_MAX));
    }

    #[test]
    fn clear_forgets_the_window() {
        let ring = Ring::new();
        for tick in 0..5 {
            ring.add_at(tick, 3, 1);
        }
        ring.clear(5);
        assert_eq!(sums_at(&ring, 5), (0, 0));
        ring.add_at(5, 1, 0);
        ring.add_at(6, 1, 1);
        assert_eq!(sums_at(&ring, 6), (2, 1));
    }

    #[test]
    fn old_ticks_count_in_the_head() {
        let ring = Ring::new();
        ring.add_at(30, 1, 0);
        ring.add_at(29, 1, 0);
        assert_eq!(sums_at(&ring, 30), (2, 0));
    }

    #[test]
    fn tags_stay_exact_across_wraps_of_the_tag() {
        // Jumps of exactly 2^24 ticks would confuse a tag that is never refreshed.
        let ring = Ring::new();
        ring.add_at(5, 7, 7);
        let far = 5 + (1 << 24);
        ring.add_at(far - 3, 1, 0);
        ring.add_at(far, 1, 0);
        assert_eq!(sums_at(&ring, far), (2, 0));
    }

    #[test]
    fn threads_lose_no_count() {
        let ring = Ring::new();
        ring.add_at(0, 0, 0);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let ring = &ring;
                s.spawn(move || {
                    for i in 0..5_000u64 {
                        if i % 100 == 0 {
                            ring.add_at(i / 1_000 + t % 2, 1, 1);
                        } else if let Lazy::NeedsTick = ring.add_lazy(1, 0) {
                            ring.add_at(i / 1_000, 1, 0);
                        }
                    }
                });
            }
        });
        // Ticks 0..=5 all stay within one window.
        assert_eq!(sums_at(&ring, 5), (20_000, 200));
    }
}
