//! Waiters: Go's `sudog`, made safe against futures that are dropped.
//!
//! # Pieces
//! - [`Selector`]: one per blocking operation (a `recv`, a `send`, or a whole
//!   `select`), shared by all its cases. It holds the *select state*, an atomic
//!   that moves exactly once out of `WAITING`, and the [`Waker`] to call when it
//!   does. A plain `recv` is a select with one case.
//! - [`Waiter<T>`]: one per case, linked into one channel's `sendq` or `recvq`.
//!   It points at its selector, knows its case index, and owns a `slot`: the
//!   value a parked sender offers, or the value handed to a parked receiver.
//! - [`WaitQueue`]: a FIFO of waiters with O(1) removal by key (a slab plus a
//!   doubly linked list of slab keys), so that dropping any parked future is
//!   O(1) whatever the queue length.
//!
//! # The select state
//! `WAITING` → `ABORTED` (the owner gave up: its future was dropped, a timeout
//! passed, or it took itself off the market to finish the operation itself), or
//! `WAITING` → `committed(case, closed)` (a counterpart or `close` chose this
//! case). The transition is one compare-and-swap, so across every channel of a
//! select exactly one party wins, and a select commits exactly one case.
//!
//! Who touches a slot, and when:
//! - Parked sender's slot: written by its owner before the waiter is linked.
//!   A receiver takes the value only *after* its CAS committed the case (under
//!   the channel lock); the owner takes it back only if its own CAS to
//!   `ABORTED` won, or if the commit carries `closed` (close never takes it).
//! - Parked receiver's slot: a sender writes the value *before* its CAS, under
//!   the channel lock, and takes it back if the CAS lost. The owner reads it
//!   only after it saw the commit of that case (Acquire pairs with the CAS's
//!   Release).
//!
//! # Invariant
//! A waiter is committed only after it has been unlinked from its queue, by
//! the party that commits it, under that channel's lock. A waiter that is still
//! linked but no longer `WAITING` is *dead*: any party may unlink it; its owner
//! unlinks it anyway, which is then a no-op (keys are checked by identity, so
//! a reused slab key is never removed by mistake).

use std::task::Waker;

use slab::Slab;

use crate::loom::Arc;
use crate::loom::Mutex;
use crate::loom::atomic::{AtomicUsize, Ordering};

const WAITING: usize = 0;
const ABORTED: usize = 1;
/// Committed states are `COMMITTED + 2 * case + closed`.
const COMMITTED: usize = 2;

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
#[derive(Debug)]
#[doc(hidden)]
pub struct Selector {
    state: AtomicUsize,
    waker: Mutex<Waker>,
}

impl Selector {
    pub(crate) fn new(waker: Waker) -> Selector {
        Selector {
            state: AtomicUsize::new(WAITING),
            waker: Mutex::new(waker),
        }
    }

    /// Still waiting: a counterpart may commit it.
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// Commits the select to `commit` if nobody did before. Called by a
    /// counterpart (or `close`) holding the lock of the case's channel.
    pub(crate) fn try_commit(&self, commit: Commit) -> bool {
        self.state
            .compare_exchange(
                WAITING,
                commit.encode(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
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
    pub(crate) fn committed(&self) -> Option<Commit> {
        Commit::decode(self.state.load(Ordering::Acquire))
    }

    /// Replaces the waker (a future polled by another task or executor).
    pub(crate) fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.lock();
        if !slot.will_wake(waker) {
            slot.clone_from(waker);
        }
    }

    /// Wakes the owner. Called by the committer after it released the channel lock.
    pub(crate) fn wake(&self) {
        // Cloned out, woken outside the lock: a waker may do anything.
        let waker = self.waker.lock().clone();
        waker.wake();
    }
}

/// One case of a parked operation, linked into one channel's queue.
#[derive(Debug)]
pub(crate) struct Waiter<T> {
    pub(crate) selector: Arc<Selector>,
    pub(crate) case: usize,
    /// A parked sender's value, or the value handed to a parked receiver.
    pub(crate) slot: Mutex<Option<T>>,
}

impl<T> Waiter<T> {
    pub(crate) fn new(selector: Arc<Selector>, case: usize, value: Option<T>) -> Waiter<T> {
        Waiter {
            selector,
            case,
            slot: Mutex::new(value),
        }
    }

    /// Whether this waiter belongs to the operation `me`.
    pub(crate) fn belongs_to(&self, me: Option<&Arc<Selector>>) -> bool {
        me.is_some_and(|me| Arc::ptr_eq(&self.selector, me))
    }
}

const NIL: usize = usize::MAX;

#[derive(Debug)]
struct Link<W> {
    waiter: Arc<W>,
    prev: usize,
    next: usize,
}

/// A FIFO of waiters with O(1) push, pop and removal by key.
#[derive(Debug)]
pub(crate) struct WaitQueue<W> {
    links: Slab<Link<W>>,
    head: usize,
    tail: usize,
}

impl<W> Default for WaitQueue<W> {
    fn default() -> Self {
        WaitQueue {
            links: Slab::new(),
            head: NIL,
            tail: NIL,
        }
    }
}

impl<W> WaitQueue<W> {
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// Links `waiter` at the tail; the key removes it later.
    pub(crate) fn push_back(&mut self, waiter: Arc<W>) -> usize {
        let key = self.links.insert(Link {
            waiter,
            prev: self.tail,
            next: NIL,
        });
        match self.tail {
            NIL => self.head = key,
            tail => self.links[tail].next = key,
        }
        self.tail = key;
        key
    }

    /// The key of the first waiter.
    pub(crate) fn front(&self) -> Option<usize> {
        (self.head != NIL).then_some(self.head)
    }

    /// The key after `key`.
    pub(crate) fn next(&self, key: usize) -> Option<usize> {
        let next = self.links[key].next;
        (next != NIL).then_some(next)
    }

    /// The waiter at `key` (a key from `front`/`next`).
    pub(crate) fn get(&self, key: usize) -> &Arc<W> {
        &self.links[key].waiter
    }

    /// Unlinks the waiter at `key` (a key from `front`/`next`).
    pub(crate) fn unlink(&mut self, key: usize) -> Arc<W> {
        let link = self.links.remove(key);
        match link.prev {
            NIL => self.head = link.next,
            prev => self.links[prev].next = link.next,
        }
        match link.next {
            NIL => self.tail = link.prev,
            next => self.links[next].prev = link.prev,
        }
        link.waiter
    }

    /// Unlinks `waiter` if it is still linked at `key`; `false` if a
    /// counterpart unlinked it already (the key may have been reused since).
    pub(crate) fn remove(&mut self, key: usize, waiter: &Arc<W>) -> bool {
        let linked = self
            .links
            .get(key)
            .is_some_and(|link| Arc::ptr_eq(&link.waiter, waiter));
        if linked {
            self.unlink(key);
        }
        linked
    }

    /// Unlinks every waiter, first to last.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Arc<W>> + '_ {
        std::iter::from_fn(move || self.front().map(|key| self.unlink(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_removal() {
        let mut q = WaitQueue::default();
        let a = Arc::new(1);
        let b = Arc::new(2);
        let c = Arc::new(3);
        let ka = q.push_back(a.clone());
        let kb = q.push_back(b.clone());
        let kc = q.push_back(c.clone());
        assert!(q.remove(kb, &b));
        assert!(!q.remove(kb, &b));
        assert!(!q.remove(kc, &a));
        assert_eq!(q.drain().map(|w| *w).collect::<Vec<_>>(), vec![1, 3]);
        assert!(q.is_empty());
        assert!(!q.remove(ka, &a));
    }
}
