//! Waiters: Go's `sudog`, made safe against futures that are dropped, and
//! kept *inside* the parked operation's own pinned future, so that parking
//! allocates nothing (a task parked on `recv` costs its task allocation and
//! nothing else).
//!
//! # Pieces
//! - [`Selector`]: one per blocking operation (a `recv`, a `send`, or a whole
//!   `select`), shared by all its cases and stored in the operation's
//!   `Selecting`. It holds the *select state*, an atomic that moves exactly
//!   once out of `WAITING` per registration, and the [`Waker`] to call when
//!   it does. A plain
//!   `recv` is a select with one case.
//! - [`Waiter<T>`]: one per case, stored in the case, linked into one
//!   channel's `sendq` or `recvq`. It points at its selector, knows its case
//!   index, and owns a `slot`: the value a parked sender offers, or the value
//!   handed to a parked receiver.
//! - [`WaitQueue`]: an intrusive doubly linked FIFO of waiters: O(1) push,
//!   pop and removal, so dropping any parked future is O(1) whatever the
//!   queue length.
//!
//! # Memory: why a linked waiter is always alive
//! Waiters and selectors live in pinned futures, and channels hold raw
//! pointers to them. A waiter is linked only while its case is pinned (so its
//! memory stays put until its `Drop` runs), and every path that ends a case
//! (completion, abort, drop) unlinks it under its channel's lock first. So:
//! **every waiter reachable from a queue is alive, and so is its selector**;
//! a party holding the channel lock may read any linked waiter.
//!
//! After a commit the owner may free the selector at once, without taking
//! the committed case's channel lock. So a committer reads what it needs
//! (the waker, cloned) *before* its CAS and touches nothing after it; the
//! committed waiter itself was unlinked before the CAS. The waker is written
//! only while the selector is `IDLE` (no waiter linked): a select polled
//! through a different waker gives up and registers afresh rather than
//! swapping it under a committer's feet. No lock guards the waker.
//!
//! # The select state
//! `IDLE` → `WAITING` when the owner registers; then `WAITING` → `ABORTED` (the owner gave up: its future was dropped, a timeout
//! passed, or it took itself off the market to finish the operation itself),
//! or `WAITING` → `committed(case, closed)` (a counterpart or `close` chose
//! this case). The transition is one compare-and-swap, so across every channel
//! of a select exactly one party wins, and a select commits exactly one case.
//! The owner returns it to `IDLE` once none of its waiters is linked.
//!
//! Who touches a slot, and when:
//! - Parked sender's slot: written by its owner before the waiter is linked.
//!   A receiver takes the value only *after* its CAS committed the case (under
//!   the channel lock); the owner takes it back only after it unlinked the
//!   waiter itself, once its own CAS to `ABORTED` won, or if the commit
//!   carries `closed` (close never takes it).
//! - Parked receiver's slot: a sender writes the value *before* its CAS, under
//!   the channel lock, and takes it back if the CAS lost. The owner reads it
//!   only after it saw the commit of that case (Acquire pairs with the CAS's
//!   Release).
//!
//! # Invariant
//! A waiter is committed only after it has been unlinked from its queue, by
//! the party that commits it, under that channel's lock. A waiter that is still
//! linked but no longer `WAITING` is *dead*: any party may unlink it; its owner
//! unlinks it anyway, under the lock, which is then a no-op.

use std::cell::Cell;
use std::marker::PhantomPinned;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::task::Waker;

use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::loom::cell::UnsafeCell;

/// Not registered: none of its waiters is linked (owner only).
const IDLE: usize = 0;
const WAITING: usize = 1;
const ABORTED: usize = 2;
/// Committed states are `COMMITTED + 2 * case + closed`.
const COMMITTED: usize = 3;

/// How a select was committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub struct Commit {
    /// The case that took effect.
    pub(crate) case: usize,
    /// `true`: the channel was closed (for a sender: the receivers are gone)
    /// and no value moved; a parked sender's value is still in its slot.
    pub(crate) closed: bool,
}

impl Commit {
    fn encode(self) -> usize {
        COMMITTED + 2 * self.case + usize::from(self.closed)
    }

    fn decode(state: usize) -> Option<Commit> {
        (state >= COMMITTED).then(|| Commit {
            case: (state - COMMITTED) / 2,
            closed: (state - COMMITTED) % 2 == 1,
        })
    }
}

/// The shared state of one blocking operation (all the cases of one select).
#[doc(hidden)]
pub struct Selector {
    /// `IDLE` (owner only), then `WAITING` from registration on, then
    /// `ABORTED` or a commit; back to `IDLE` once every waiter is unlinked.
    state: AtomicUsize,
    /// The owner's waker. Written by the owner only while `IDLE` (no waiter
    /// linked, so no committer can reach it); read (cloned) by committers
    /// while `WAITING`, before their CAS, under the lock of a channel where
    /// a waiter of this selector was linked.
    waker: UnsafeCell<Option<Waker>>,
    _pin: PhantomPinned,
}

// SAFETY: the waker cell is written only by the owner while no other party
// can reach the selector, and only read otherwise (see `waker`).
unsafe impl Send for Selector {}
// SAFETY: as above.
unsafe impl Sync for Selector {}

impl std::fmt::Debug for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selector")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Selector {
    pub(crate) fn new() -> Selector {
        Selector {
            state: AtomicUsize::new(IDLE),
            waker: UnsafeCell::new(None),
            _pin: PhantomPinned,
        }
    }

    /// Makes the selector ready to register, with the waker to wake (owner
    /// only, while `IDLE`: no waiter linked, nobody else can see it).
    #[inline]
    pub(crate) fn arm(&self, waker: &Waker) {
        debug_assert!(!self.is_armed());
        // SAFETY: `IDLE`: no other party can reach the selector.
        self.waker.with_mut(|slot| unsafe {
            match &*slot {
                Some(old) if old.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        });
        self.state.store(WAITING, Ordering::Relaxed);
    }

    /// Whether a waker was ever stored (owner only; for debug checks).
    pub(crate) fn has_waker(&self) -> bool {
        // SAFETY: a read by the owner, the only writer.
        self.waker.with(|slot| unsafe { (*slot).is_some() })
    }

    /// Whether waiters of this selector may be linked (owner only).
    #[inline]
    pub(crate) fn is_armed(&self) -> bool {
        self.state.load(Ordering::Relaxed) != IDLE
    }

    /// Back to `IDLE` (owner only, once it unlinked every waiter or saw
    /// the commit).
    #[inline]
    pub(crate) fn disarm(&self) {
        self.state.store(IDLE, Ordering::Relaxed);
    }

    /// Whether an armed selector would wake `waker` (owner only).
    #[inline]
    pub(crate) fn wakes(&self, waker: &Waker) -> bool {
        // SAFETY: a read; writes happen only while `IDLE`, by this owner.
        self.waker
            .with(|slot| unsafe { (*slot).as_ref().is_some_and(|w| w.will_wake(waker)) })
    }

    /// Still waiting: a counterpart may commit it.
    #[inline]
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// Commits the select to `commit` if nobody did before; returns the waker
    /// to wake once the channel lock is released. Called by a counterpart (or
    /// `close`) holding the lock of the case's channel, the waiter linked
    /// until just now.
    ///
    /// The waker is cloned *before* the CAS: once the CAS wins, the owner may
    /// see it, finish and free the selector at once, so the CAS is the last
    /// touch.
    pub(crate) fn try_commit(&self, commit: Commit) -> Option<Waker> {
        // SAFETY: a read while the owner cannot be writing: it writes only
        // while `IDLE`, and cannot get there without this channel's lock or
        // without seeing our commit (which comes after this read).
        let waker = self.waker.with(|slot| unsafe { (*slot).clone() });
        self.state
            .compare_exchange(
                WAITING,
                commit.encode(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .ok()
            .map(|_| waker.expect("an armed selector has a waker"))
    }

    /// Takes the select off the market (owner only). `Err` carries the commit
    /// that won the race.
    pub(crate) fn try_abort(&self) -> Result<(), Commit> {
        match self
            .state
            .compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            Err(state) => Err(Commit::decode(state).expect("a select is aborted only once")),
        }
    }

    /// The commit, once there is one.
    #[inline]
    pub(crate) fn committed(&self) -> Option<Commit> {
        Commit::decode(self.state.load(Ordering::Acquire))
    }
}

/// The links of a waiter, guarded by the lock of its channel. A waiter is
/// linked iff it has a `prev` or is its queue's head.
#[derive(Debug)]
struct Links<T> {
    prev: Option<NonNull<Waiter<T>>>,
    next: Option<NonNull<Waiter<T>>>,
    /// The operation this waiter belongs to.
    selector: *const Selector,
}

/// Where a case stands, as its owner records it. Kept in the waiter, where
/// it shares a word with `case`.
///
/// It also says whether the slot holds a value (outside a counterpart's
/// transfer under the channel lock): a receive case's slot is full exactly
/// in `Moved`; a send case's exactly in `Pending`, `Registered` and `Closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Has not taken effect; not registered.
    Pending,
    /// The waiter may be linked (checking needs the channel lock).
    Registered,
    /// Received a value (in the slot), or sent one.
    Moved,
    /// The channel was closed: nothing moved (a send case's value is back in its slot).
    Closed,
    /// The outcome was taken (or the value is out for a transfer): the slot is empty.
    Taken,
}

impl<T> Clone for Links<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Links<T> {}

/// One case of a parked operation, linked into one channel's queue. Lives in
/// its case; must not move while linked (the case is pinned).
#[derive(Debug)]
pub(crate) struct Waiter<T> {
    links: UnsafeCell<Links<T>>,
    /// The case index in its select; written before linking, read by
    /// counterparts under the channel lock.
    case: UnsafeCell<u32>,
    /// Owner only.
    outcome: Cell<Outcome>,
    /// A parked sender's value, or the value handed to a parked receiver
    /// (see the module docs for who may touch it when). Whether it holds a
    /// value follows from `outcome` (see [`Outcome`]); the owning case drops
    /// a value left in it.
    slot: UnsafeCell<MaybeUninit<T>>,
    _pin: PhantomPinned,
}

// SAFETY: a waiter's cells are touched only under its channel's lock, or by
// the one party the protocol hands them to (module docs); the value it may
// hold moves between threads, hence `T: Send`.
unsafe impl<T: Send> Send for Waiter<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Waiter<T> {}

impl<T> Waiter<T> {
    /// A waiter with an empty slot (a receive case).
    pub(crate) fn empty() -> Waiter<T> {
        Waiter::new(MaybeUninit::uninit())
    }

    /// A waiter holding `value` (a send case).
    pub(crate) fn holding(value: T) -> Waiter<T> {
        Waiter::new(MaybeUninit::new(value))
    }

    fn new(slot: MaybeUninit<T>) -> Waiter<T> {
        Waiter {
            links: UnsafeCell::new(Links {
                prev: None,
                next: None,
                selector: std::ptr::null(),
            }),
            case: UnsafeCell::new(0),
            outcome: Cell::new(Outcome::Pending),
            slot: UnsafeCell::new(slot),
            _pin: PhantomPinned,
        }
    }

    #[inline]
    pub(crate) fn outcome(&self) -> Outcome {
        self.outcome.get()
    }

    #[inline]
    pub(crate) fn set_outcome(&self, outcome: Outcome) {
        self.outcome.set(outcome);
    }

    /// The select was committed to this waiter's case, whose committer
    /// unlinked it: records what happened (owner only).
    pub(crate) fn record_commit(&self, commit: Commit) {
        self.set_outcome(if commit.closed {
            Outcome::Closed
        } else {
            Outcome::Moved
        });
    }

    /// Ends a registration: `true` if the waiter may still be linked and the
    /// owner must now unlink it under the channel lock (owner only).
    pub(crate) fn end_registration(&self) -> bool {
        let registered = self.outcome() == Outcome::Registered;
        if registered {
            self.set_outcome(Outcome::Pending);
        }
        registered
    }

    /// The case index (caller holds the lock of the queue it is linked into).
    fn case(&self) -> usize {
        // SAFETY: written only before linking, under the same lock.
        self.case.with(|c| unsafe { *c }) as usize
    }

    /// Moves the value out of the slot, which must hold one.
    ///
    /// # Safety
    /// The slot holds a value, and the caller has the slot to itself under
    /// the rules of the module docs: the owner while unlinked and
    /// uncommitted, or after it saw the commit; a counterpart under the
    /// channel lock, as the protocol says.
    #[inline]
    pub(crate) unsafe fn take(&self) -> T {
        // SAFETY: full and exclusive, by the caller's contract.
        self.slot
            .with_mut(|slot| unsafe { (*slot).assume_init_read() })
    }

    /// Puts a value into the slot, which must be empty.
    ///
    /// # Safety
    /// The slot is empty (or its value was moved out), and the caller has it
    /// to itself as for [`take`](Self::take).
    #[inline]
    pub(crate) unsafe fn put(&self, v: T) {
        // SAFETY: exclusive, by the caller's contract.
        self.slot.with_mut(|slot| unsafe {
            (*slot).write(v);
        });
    }
}

/// A waiter just unlinked from a queue, as its unlinker sees it (under the lock).
pub(crate) struct Unlinked<'q, T> {
    pub(crate) waiter: &'q Waiter<T>,
    pub(crate) selector: &'q Selector,
    pub(crate) case: usize,
}

/// An intrusive FIFO of waiters. Owned by a channel's state, so every method
/// runs under that channel's lock; every waiter it links is alive (module docs).
#[derive(Debug)]
pub(crate) struct WaitQueue<T> {
    head: Option<NonNull<Waiter<T>>>,
    tail: Option<NonNull<Waiter<T>>>,
}

// SAFETY: the queue is only reached through its channel's mutex; the waiters
// it points at hold `T`s that move between threads, hence `T: Send`.
unsafe impl<T: Send> Send for WaitQueue<T> {}

impl<T> Default for WaitQueue<T> {
    fn default() -> Self {
        WaitQueue {
            head: None,
            tail: None,
        }
    }
}

impl<T> WaitQueue<T> {
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Whether `waiter`, which is linked into this queue if anywhere, is.
    fn is_linked(&self, waiter: &Waiter<T>) -> bool {
        // SAFETY: we hold the lock that guards this waiter's links.
        let has_prev = waiter.links.with(|l| unsafe { (*l).prev.is_some() });
        has_prev || self.head == Some(NonNull::from(waiter))
    }

    /// Links `waiter` at the tail, as case `case` of `selector`.
    ///
    /// # Safety
    /// `waiter` is not linked, is pinned, and stays alive (as does
    /// `selector`) until it has been unlinked under this queue's lock.
    pub(crate) unsafe fn push_back(
        &mut self,
        waiter: &Waiter<T>,
        selector: &Selector,
        case: usize,
    ) {
        let case = u32::try_from(case).expect("select: too many cases");
        debug_assert!(!self.is_linked(waiter));
        // SAFETY: we hold the lock, the only guard of the links and the case.
        unsafe {
            waiter.case.with_mut(|c| *c = case);
            waiter.links.with_mut(|l| {
                *l = Links {
                    prev: self.tail,
                    next: None,
                    selector,
                }
            });
        }
        let ptr = Some(NonNull::from(waiter));
        match self.tail {
            // SAFETY: the tail is linked here and we hold the lock.
            Some(tail) => unsafe { set_next(tail, ptr) },
            None => self.head = ptr,
        }
        self.tail = ptr;
    }

    /// Unlinks and returns the first waiter not belonging to `me`.
    pub(crate) fn unlink_first_not_of(&mut self, me: Option<&Selector>) -> Option<Unlinked<'_, T>> {
        let mut cursor = self.head;
        while let Some(ptr) = cursor {
            // SAFETY: `ptr` is linked here and we hold the lock.
            let links = unsafe { links_of(ptr) };
            if !me.is_some_and(|me| std::ptr::eq(me, links.selector)) {
                // SAFETY: a linked waiter is alive, and stays so while we hold
                // the lock (the borrow of `self`): its owner must take the
                // lock to end its registration.
                let waiter = unsafe { ptr.as_ref() };
                self.remove(waiter);
                return Some(Unlinked {
                    waiter,
                    // SAFETY: the selector outlives the waiter's registration.
                    selector: unsafe { &*links.selector },
                    case: waiter.case(),
                });
            }
            cursor = links.next;
        }
        None
    }

    /// Whether a waiter not of `me` is still `WAITING`.
    pub(crate) fn has_live_peer(&self, me: &Selector) -> bool {
        let mut cursor = self.head;
        while let Some(ptr) = cursor {
            // SAFETY: `ptr` is linked here and we hold the lock.
            let links = unsafe { links_of(ptr) };
            // SAFETY: the selector of a linked waiter is alive.
            let selector = unsafe { &*links.selector };
            if !std::ptr::eq(me, selector) && selector.is_waiting() {
                return true;
            }
            cursor = links.next;
        }
        false
    }

    /// Unlinks `waiter` if it is linked; `false` if a counterpart unlinked it
    /// already. `waiter` is linked into this queue if it is linked at all (a
    /// case only ever links its waiter into the one queue its kind uses).
    pub(crate) fn remove(&mut self, waiter: &Waiter<T>) -> bool {
        if !self.is_linked(waiter) {
            return false;
        }
        // SAFETY: we hold the lock that guards this waiter's links.
        let links = waiter.links.with_mut(|l| unsafe {
            let old = *l;
            (*l).prev = None;
            (*l).next = None;
            old
        });
        match links.prev {
            // SAFETY: a linked neighbour is linked here and we hold the lock.
            Some(prev) => unsafe { set_next(prev, links.next) },
            None => self.head = links.next,
        }
        match links.next {
            // SAFETY: a linked neighbour is alive; we hold the lock.
            Some(next) => unsafe { next.as_ref() }
                .links
                .with_mut(|l| unsafe { (*l).prev = links.prev }),
            None => self.tail = links.prev,
        }
        true
    }
}

/// A copy of a waiter's links.
///
/// # Safety
/// `ptr` is linked into a queue whose lock the caller holds.
unsafe fn links_of<T>(ptr: NonNull<Waiter<T>>) -> Links<T> {
    // SAFETY: a linked waiter is alive, and its links are read under the lock.
    unsafe { ptr.as_ref().links.with(|l| *l) }
}

/// Sets a waiter's `next` link.
///
/// # Safety
/// As for [`links_of`].
unsafe fn set_next<T>(ptr: NonNull<Waiter<T>>, next: Option<NonNull<Waiter<T>>>) {
    // SAFETY: a linked waiter is alive, and its links are written under the lock.
    unsafe { ptr.as_ref().links.with_mut(|l| (*l).next = next) }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_removal_and_skipping_our_own() {
        let (a, b) = (Selector::new(), Selector::new());
        a.arm(Waker::noop());
        b.arm(Waker::noop());
        let waiters: Vec<Waiter<u8>> = (0..4).map(|_| Waiter::empty()).collect();
        let mut q = WaitQueue::default();
        // SAFETY: the waiters and selectors outlive the queue's use below,
        // and every waiter is unlinked before they go.
        unsafe {
            q.push_back(&waiters[0], &a, 0);
            q.push_back(&waiters[1], &b, 1);
            q.push_back(&waiters[2], &b, 2);
            q.push_back(&waiters[3], &a, 3);
        }
        assert!(q.remove(&waiters[1]));
        assert!(!q.remove(&waiters[1]), "a second removal finds it unlinked");
        assert!(q.has_live_peer(&a), "b's waiter 2 is live");
        let first = q.unlink_first_not_of(Some(&a)).unwrap();
        assert_eq!(first.case, 2);
        assert!(!q.has_live_peer(&a));
        let order: Vec<usize> =
            std::iter::from_fn(|| q.unlink_first_not_of(None).map(|w| w.case)).collect();
        assert_eq!(order, [0, 3]);
        assert!(q.is_empty());
        assert!(waiters.iter().all(|w| !q.remove(w)));
    }
}
