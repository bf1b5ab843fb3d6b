//! `Chan<T>`: Go's `hchan` — one lock over a ring buffer and two waiter
//! queues. Bounded (`cap >= 1`) and unbuffered (`cap == 0`) channels are the
//! same structure; only `cap` differs, as in Go's `runtime/chan.go`.
//!
//! # Invariants (under the lock)
//! - If `recvq` holds a live waiter, `buf` is empty: a sender hands its value
//!   straight to a parked receiver rather than buffering it.
//! - If `sendq` holds a live waiter, `buf.len() >= cap`: a receiver that frees
//!   a slot refills it from the first parked sender.
//! - `buf.len() <= cap`, except for values *put back* by a receive future that
//!   was dropped after a value had been handed to it ([`State::put_back`]):
//!   those go to the head of `buf`, so they are the next values received.
//! - A waiter is committed (its select state CASed away from `WAITING`) only
//!   after being unlinked, by the party holding this lock. "Live" = `WAITING`.
//!
//! # Who moves a value
//! The running party does every transfer, under the lock: a sender writes into
//! a parked receiver's slot, a receiver takes from a parked sender's slot. A
//! parked party only finds out afterwards, and nobody ever waits for a parked
//! party to wake up (so two tasks on one worker cannot livelock, and a thread
//! may select against itself on another case).

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use super::lock::{SpinGuard, SpinLock};
use super::waiter::{Commit, Selector, WaitQueue, Waiter};
use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::runtime::timer::TimerKey;

/// A channel: shared by every [`Sender`](super::Sender) and
/// [`Receiver`](super::Receiver) of it.
///
/// Laid out by hand (`repr(C)`, here and in [`State`] and the lock): the
/// fields an unbuffered hand-off writes (the lock word and both waiter
/// queues) come first, next to the flags and `cap` every operation reads,
/// within 64 bytes, so that they span one or two cache lines rather than
/// the one to three `repr(Rust)` gave, from run to run.
///
/// Not `align(64)`, though it would keep them on one line: the sixth
/// session had it (chan_unbuffered_mpmc 78 → 70 ns in probes, with the
/// lock spinning), but an over-aligned `Arc` goes through the allocator's
/// memalign path, and making a channel cost 260–354 ns against 96–126
/// (a probe making and dropping 1M `bounded(1)` channels). With the lock
/// that sleeps under contention (`lock.rs`) the alignment no longer showed
/// on 2 procs: chan_unbuffered_mpmc 65.8–66.1 against 66.7–69.3 ns,
/// chan_mpmc 11.4 against 10.8, chan_spsc 9.9 against 10.1 (medians of 30
/// to 50 interleaved probe rounds). Every `time::after`, context `done()`
/// and reply channel pays the making.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Chan<T> {
    state: SpinLock<State<T>>,
    /// Live `Sender` handles; the last one dropped closes the channel.
    pub(crate) senders: AtomicUsize,
    /// Live `Receiver` handles; the last one dropped fails later sends.
    pub(crate) receivers: AtomicUsize,
    /// One receiver is the owner's own (`Sender::watch`): a drop that
    /// leaves only that one lets go of the keep-alive.
    pub(crate) watched: AtomicBool,
}

// The lock word (padded to the state's alignment) and every field before
// `buf` fit in 64 bytes.
#[cfg(not(gort_loom))]
const _: () = assert!(
    std::mem::offset_of!(Chan<u64>, state)
        + std::mem::align_of::<State<u64>>()
        + std::mem::offset_of!(State<u64>, buf)
        <= 64
);

/// Everything the lock guards; hot fields first (see [`Chan`]).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct State<T> {
    closed: bool,
    /// Every `Receiver` is gone: sends fail with their value.
    receivers_gone: bool,
    pub(crate) cap: usize,
    sendq: WaitQueue<T>,
    recvq: WaitQueue<T>,
    buf: VecDeque<T>,
    /// The pending timer that is this channel's only sender (`time::after`):
    /// cancelled when the last `Receiver` goes, since nobody could receive its
    /// value (Go 1.23's collectable `time.After`).
    timer: Option<TimerKey>,
    /// What the receivers of a watched channel keep alive: a context's
    /// state, for its `done` channel, once the context's handles are gone
    /// (a task that watches `done` keeps the context's deadline timer and
    /// parent link, as Go's does). Released when only the owner's own
    /// receiver is left (`unwatched`) or the channel closes, which breaks
    /// the cycle through the owner's `Sender`.
    keep_alive: Option<Arc<dyn Any + Send + Sync>>,
}

/// The outcome of a send that does not wait.
#[derive(Debug)]
pub(crate) enum TrySend<T> {
    /// Buffered, or handed to a receiver whose waker must now be woken.
    Sent(Option<Waker>),
    Full(T),
    Closed(T),
}

/// The outcome of a receive that does not wait.
#[derive(Debug)]
pub(crate) enum TryRecv<T> {
    /// A value, and the parked sender to wake if one was committed.
    Got(T, Option<Waker>),
    Empty,
    Closed,
}

impl<T> Chan<T> {
    /// A channel with one `Sender` and one `Receiver` accounted for.
    pub(crate) fn new(cap: usize, senders: usize) -> Chan<T> {
        Chan {
            state: SpinLock::new(State {
                cap,
                buf: VecDeque::with_capacity(cap.min(1024)),
                closed: false,
                receivers_gone: false,
                sendq: WaitQueue::default(),
                recvq: WaitQueue::default(),
                timer: None,
                keep_alive: None,
            }),
            senders: AtomicUsize::new(senders),
            receivers: AtomicUsize::new(1),
            watched: AtomicBool::new(false),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, State<T>> {
        self.state.lock()
    }

    /// Go's `close(ch)`; `false` if it was closed already.
    pub(crate) fn close(&self) -> bool {
        let (woken, keep_alive) = {
            let mut state = self.lock();
            (state.close(), state.keep_alive.take())
        };
        // After unlocking: it may be the last reference to its owner.
        drop(keep_alive);
        match woken {
            Some(woken) => {
                woken.wake_all();
                true
            }
            None => false,
        }
    }

    /// The last `Receiver` is gone: parked and later senders fail, and a
    /// timer that would send here is cancelled.
    pub(crate) fn disconnect_receivers(&self) {
        let (woken, timer) = {
            let mut state = self.lock();
            (state.disconnect_receivers(), state.timer.take())
        };
        woken.wake_all();
        // After unlocking: cancelling drops the timer's callback and the
        // `Sender` it owns.
        if let Some(timer) = timer {
            timer.cancel();
        }
    }

    /// Keeps `owner` alive while the channel is open and has a receiver
    /// besides the owner's own (`Sender::watch`). Counted under the lock,
    /// as `unwatched` checks it: either that drop comes first and we see
    /// one receiver, or it finds the keep-alive set.
    pub(crate) fn keep_alive_while_watched<O: Any + Send + Sync>(&self, owner: &Arc<O>) {
        let mut state = self.lock();
        if !state.closed && self.receivers.load(Ordering::Acquire) > 1 {
            state.keep_alive = Some(owner.clone());
        }
    }

    /// A watcher left and only the owner's receiver remains: lets go of the
    /// keep-alive, unless a receiver came back meanwhile.
    pub(crate) fn unwatched(&self) {
        let keep_alive = {
            let mut state = self.lock();
            if self.receivers.load(Ordering::Acquire) > 1 {
                return;
            }
            state.keep_alive.take()
        };
        drop(keep_alive); // after unlocking: it may free the owner
    }

    /// Gives back a value that was handed to a receive future dropped before
    /// it returned it: to a parked receiver if there is one, else to the head
    /// of the buffer. Nothing is lost.
    #[cold]
    pub(crate) fn put_back(&self, v: T) {
        let wake = self.lock().put_back(v);
        if let Some(waker) = wake {
            waker.wake();
        }
    }
}

impl<T> State<T> {
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Records the timer to cancel when the last receiver goes.
    pub(crate) fn set_timer(&mut self, timer: TimerKey) {
        self.timer = Some(timer);
    }

    /// Sends without waiting. `me`: the operation asking, whose own waiters
    /// must not be paired with it.
    #[inline]
    pub(crate) fn try_send(&mut self, v: T, me: Option<&Selector>) -> TrySend<T> {
        if self.closed || self.receivers_gone {
            return TrySend::Closed(v);
        }
        let v = if self.recvq.is_empty() {
            v
        } else {
            match self.handoff_to_receiver(v, me) {
                Ok(waker) => return TrySend::Sent(Some(waker)),
                Err(v) => v,
            }
        };
        if self.buf.len() < self.cap {
            self.buf.push_back(v);
            return TrySend::Sent(None);
        }
        TrySend::Full(v)
    }

    /// Receives without waiting.
    #[inline]
    pub(crate) fn try_recv(&mut self, me: Option<&Selector>) -> TryRecv<T> {
        if let Some(v) = self.buf.pop_front() {
            let wake = if self.sendq.is_empty() || self.buf.len() >= self.cap {
                None
            } else {
                self.refill_from_sender(me)
            };
            return TryRecv::Got(v, wake);
        }
        if !self.sendq.is_empty()
            && let Some((v, waker)) = self.take_from_sender(me)
        {
            return TryRecv::Got(v, Some(waker));
        }
        if self.closed {
            TryRecv::Closed
        } else {
            TryRecv::Empty
        }
    }

    /// Whether a send by `me` could complete now (used to decide, while a
    /// select is registering, whether it must take itself off the market).
    pub(crate) fn send_ready(&self, me: &Selector) -> bool {
        self.closed
            || self.receivers_gone
            || self.buf.len() < self.cap
            || self.recvq.has_live_peer(me)
    }

    /// Whether a receive by `me` could complete now.
    pub(crate) fn recv_ready(&self, me: &Selector) -> bool {
        !self.buf.is_empty() || self.closed || self.sendq.has_live_peer(me)
    }

    /// Parks a sender, as case `case` of `selector`: its value waits in the
    /// waiter's slot.
    ///
    /// # Safety
    /// As for [`WaitQueue::push_back`].
    pub(crate) unsafe fn park_sender(
        &mut self,
        waiter: &Waiter<T>,
        selector: &Selector,
        case: usize,
    ) {
        // SAFETY: the caller's contract.
        unsafe { self.sendq.push_back(waiter, selector, case) }
    }

    /// Parks a receiver, as case `case` of `selector`.
    ///
    /// # Safety
    /// As for [`WaitQueue::push_back`].
    pub(crate) unsafe fn park_receiver(
        &mut self,
        waiter: &Waiter<T>,
        selector: &Selector,
        case: usize,
    ) {
        // SAFETY: the caller's contract.
        unsafe { self.recvq.push_back(waiter, selector, case) }
    }

    /// Unlinks a parked sender's waiter if a counterpart did not already.
    pub(crate) fn unpark_sender(&mut self, waiter: &Waiter<T>) {
        self.sendq.remove(waiter);
    }

    /// Unlinks a parked receiver's waiter if a counterpart did not already.
    pub(crate) fn unpark_receiver(&mut self, waiter: &Waiter<T>) {
        self.recvq.remove(waiter);
    }

    /// Hands `v` to the first live parked receiver not belonging to `me`.
    /// Out of line: the send fast path is inlined into every `.await`.
    #[inline(never)]
    fn handoff_to_receiver(&mut self, mut v: T, me: Option<&Selector>) -> Result<Waker, T> {
        while let Some(peer) = self.recvq.unlink_first_not_of(me) {
            if !peer.selector.is_waiting() {
                continue; // dead: its select went another way
            }
            // SAFETY: under the lock, before the commit: the owner reads the
            // slot only once it saw the commit, and unlinks only under the lock.
            unsafe { peer.waiter.put(v) };
            let commit = Commit {
                case: peer.case,
                closed: false,
            };
            match peer.selector.try_commit(commit) {
                Some(waker) => return Ok(waker),
                // SAFETY: as above; the commit lost, so the value is still ours.
                None => v = unsafe { peer.waiter.take() },
            }
        }
        Err(v)
    }

    /// Takes the value of the first live parked sender not belonging to `me`.
    /// Out of line, as `handoff_to_receiver`.
    #[inline(never)]
    fn take_from_sender(&mut self, me: Option<&Selector>) -> Option<(T, Waker)> {
        while let Some(peer) = self.sendq.unlink_first_not_of(me) {
            if !peer.selector.is_waiting() {
                continue;
            }
            // The value is taken *before* the commit, and put back if the
            // commit loses: after a winning CAS the owner may free the waiter
            // at once. SAFETY: under the lock; the owner touches its slot only
            // after a commit it saw, or after unlinking under this lock.
            let v = unsafe { peer.waiter.take() };
            let commit = Commit {
                case: peer.case,
                closed: false,
            };
            match peer.selector.try_commit(commit) {
                Some(waker) => return Some((v, waker)),
                // SAFETY: as above.
                None => unsafe { peer.waiter.put(v) },
            }
        }
        None
    }

    /// A buffered receive freed a slot: move the first parked sender's value in.
    #[cold]
    fn refill_from_sender(&mut self, me: Option<&Selector>) -> Option<Waker> {
        let (v, waker) = self.take_from_sender(me)?;
        self.buf.push_back(v);
        Some(waker)
    }

    /// Closes; returns the parked parties to wake, or `None` if already closed.
    #[cold]
    fn close(&mut self) -> Option<WakeList> {
        if self.closed {
            return None;
        }
        self.closed = true;
        let mut woken = WakeList::default();
        commit_closed(&mut self.recvq, &mut woken);
        commit_closed(&mut self.sendq, &mut woken);
        Some(woken)
    }

    #[cold]
    fn disconnect_receivers(&mut self) -> WakeList {
        self.receivers_gone = true;
        let mut woken = WakeList::default();
        commit_closed(&mut self.sendq, &mut woken);
        woken
    }

    #[cold]
    fn put_back(&mut self, v: T) -> Option<Waker> {
        match self.handoff_to_receiver(v, None) {
            Ok(waker) => Some(waker),
            Err(v) => {
                self.buf.push_front(v);
                None
            }
        }
    }
}

/// Unlinks every waiter and commits the live ones with `closed`; parked
/// senders keep their value. Adds the wakers to call to `woken`.
fn commit_closed<T>(queue: &mut WaitQueue<T>, woken: &mut WakeList) {
    while let Some(peer) = queue.unlink_first_not_of(None) {
        let commit = Commit {
            case: peer.case,
            closed: true,
        };
        if let Some(waker) = peer.selector.try_commit(commit) {
            woken.push(waker);
        }
    }
}

/// Wakers collected under the lock and woken after it. The first few are
/// kept inline, so closing a channel that a receiver or two wait on (a
/// context's `done`, cancelled with a whole tree) allocates nothing.
#[derive(Default)]
struct WakeList {
    inline: [Option<Waker>; 4],
    rest: Vec<Waker>,
}

impl WakeList {
    fn push(&mut self, waker: Waker) {
        match self.inline.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(waker),
            None => self.rest.push(waker),
        }
    }

    fn wake_all(self) {
        self.inline
            .into_iter()
            .flatten()
            .chain(self.rest)
            .for_each(Waker::wake);
    }
}
