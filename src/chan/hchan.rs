//! `Chan<T>`: Go's `hchan` — one mutex over a ring buffer and two waiter
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

use std::collections::VecDeque;

use super::waiter::{Commit, Selector, WaitQueue, Waiter};
use crate::loom::Arc;
use crate::loom::atomic::AtomicUsize;
use crate::loom::{Mutex, MutexGuard};

/// A channel: shared by every [`Sender`](super::Sender) and
/// [`Receiver`](super::Receiver) of it.
#[derive(Debug)]
pub(crate) struct Chan<T> {
    state: Mutex<State<T>>,
    /// Live `Sender` handles; the last one dropped closes the channel.
    pub(crate) senders: AtomicUsize,
    /// Live `Receiver` handles; the last one dropped fails later sends.
    pub(crate) receivers: AtomicUsize,
}

/// Everything the lock guards.
#[derive(Debug)]
pub(crate) struct State<T> {
    pub(crate) cap: usize,
    buf: VecDeque<T>,
    closed: bool,
    /// Every `Receiver` is gone: sends fail with their value.
    receivers_gone: bool,
    sendq: WaitQueue<Waiter<T>>,
    recvq: WaitQueue<Waiter<T>>,
}

/// The outcome of a send that does not wait.
#[derive(Debug)]
pub(crate) enum TrySend<T> {
    /// Buffered, or handed to a receiver whose selector must now be woken.
    Sent(Option<Arc<Selector>>),
    Full(T),
    Closed(T),
}

/// The outcome of a receive that does not wait.
#[derive(Debug)]
pub(crate) enum TryRecv<T> {
    /// A value, and the parked sender to wake if one was committed.
    Got(T, Option<Arc<Selector>>),
    Empty,
    Closed,
}

impl<T> Chan<T> {
    /// A channel with one `Sender` and one `Receiver` accounted for.
    pub(crate) fn new(cap: usize, senders: usize) -> Chan<T> {
        Chan {
            state: Mutex::new(State {
                cap,
                buf: VecDeque::with_capacity(cap.min(1024)),
                closed: false,
                receivers_gone: false,
                sendq: WaitQueue::default(),
                recvq: WaitQueue::default(),
            }),
            senders: AtomicUsize::new(senders),
            receivers: AtomicUsize::new(1),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    /// Go's `close(ch)`; `false` if it was closed already.
    pub(crate) fn close(&self) -> bool {
        let woken = self.lock().close();
        match woken {
            Some(woken) => {
                woken.iter().for_each(|s| s.wake());
                true
            }
            None => false,
        }
    }

    /// The last `Receiver` is gone: parked and later senders fail.
    pub(crate) fn disconnect_receivers(&self) {
        let woken = self.lock().disconnect_receivers();
        woken.iter().for_each(|s| s.wake());
    }

    /// Gives back a value that was handed to a receive future dropped before
    /// it returned it: to a parked receiver if there is one, else to the head
    /// of the buffer. Nothing is lost.
    #[cold]
    pub(crate) fn put_back(&self, v: T) {
        let wake = self.lock().put_back(v);
        if let Some(selector) = wake {
            selector.wake();
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

    /// Sends without waiting. `me`: the operation asking, whose own waiters
    /// must not be paired with it.
    #[inline]
    pub(crate) fn try_send(&mut self, v: T, me: Option<&Arc<Selector>>) -> TrySend<T> {
        if self.closed || self.receivers_gone {
            return TrySend::Closed(v);
        }
        let v = if self.recvq.is_empty() {
            v
        } else {
            match self.handoff_to_receiver(v, me) {
                Ok(selector) => return TrySend::Sent(Some(selector)),
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
    pub(crate) fn try_recv(&mut self, me: Option<&Arc<Selector>>) -> TryRecv<T> {
        if let Some(v) = self.buf.pop_front() {
            let wake = if self.sendq.is_empty() || self.buf.len() >= self.cap {
                None
            } else {
                self.refill_from_sender(me)
            };
            return TryRecv::Got(v, wake);
        }
        if !self.sendq.is_empty()
            && let Some((v, selector)) = self.take_from_sender(me)
        {
            return TryRecv::Got(v, Some(selector));
        }
        if self.closed {
            TryRecv::Closed
        } else {
            TryRecv::Empty
        }
    }

    /// Whether a send by `me` could complete now (used to decide, while a
    /// select is registering, whether it must take itself off the market).
    pub(crate) fn send_ready(&self, me: &Arc<Selector>) -> bool {
        self.closed
            || self.receivers_gone
            || self.buf.len() < self.cap
            || has_live_peer(&self.recvq, me)
    }

    /// Whether a receive by `me` could complete now.
    pub(crate) fn recv_ready(&self, me: &Arc<Selector>) -> bool {
        !self.buf.is_empty() || self.closed || has_live_peer(&self.sendq, me)
    }

    /// Parks a sender: its value waits in the waiter's slot.
    pub(crate) fn park_sender(&mut self, waiter: Arc<Waiter<T>>) -> usize {
        self.sendq.push_back(waiter)
    }

    /// Parks a receiver.
    pub(crate) fn park_receiver(&mut self, waiter: Arc<Waiter<T>>) -> usize {
        self.recvq.push_back(waiter)
    }

    pub(crate) fn unpark_sender(&mut self, key: usize, waiter: &Arc<Waiter<T>>) {
        self.sendq.remove(key, waiter);
    }

    pub(crate) fn unpark_receiver(&mut self, key: usize, waiter: &Arc<Waiter<T>>) {
        self.recvq.remove(key, waiter);
    }

    /// Hands `v` to the first live parked receiver not belonging to `me`.
    fn handoff_to_receiver(
        &mut self,
        mut v: T,
        me: Option<&Arc<Selector>>,
    ) -> Result<Arc<Selector>, T> {
        let mut cursor = self.recvq.front();
        while let Some(key) = cursor {
            cursor = self.recvq.next(key);
            if self.recvq.get(key).belongs_to(me) {
                continue;
            }
            let waiter = self.recvq.unlink(key);
            if !waiter.selector.is_waiting() {
                continue; // dead: its select went another way
            }
            // Written before the commit: the owner reads it only after seeing it.
            *waiter.slot.lock() = Some(v);
            let commit = Commit {
                case: waiter.case,
                closed: false,
            };
            if waiter.selector.try_commit(commit) {
                return Ok(waiter.selector.clone());
            }
            v = waiter.slot.lock().take().expect("the slot was just filled");
        }
        Err(v)
    }

    /// Takes the value of the first live parked sender not belonging to `me`.
    fn take_from_sender(&mut self, me: Option<&Arc<Selector>>) -> Option<(T, Arc<Selector>)> {
        let mut cursor = self.sendq.front();
        while let Some(key) = cursor {
            cursor = self.sendq.next(key);
            if self.sendq.get(key).belongs_to(me) {
                continue;
            }
            let waiter = self.sendq.unlink(key);
            let commit = Commit {
                case: waiter.case,
                closed: false,
            };
            if waiter.selector.try_commit(commit) {
                // After the commit the slot is ours: the owner no longer touches it.
                let v = waiter
                    .slot
                    .lock()
                    .take()
                    .expect("a parked sender holds its value");
                return Some((v, waiter.selector.clone()));
            }
        }
        None
    }

    /// A buffered receive freed a slot: move the first parked sender's value in.
    #[cold]
    fn refill_from_sender(&mut self, me: Option<&Arc<Selector>>) -> Option<Arc<Selector>> {
        let (v, selector) = self.take_from_sender(me)?;
        self.buf.push_back(v);
        Some(selector)
    }

    /// Closes; returns the parked parties to wake, or `None` if already closed.
    #[cold]
    fn close(&mut self) -> Option<Vec<Arc<Selector>>> {
        if self.closed {
            return None;
        }
        self.closed = true;
        let mut woken = commit_closed(self.recvq.drain());
        woken.extend(commit_closed(self.sendq.drain()));
        Some(woken)
    }

    #[cold]
    fn disconnect_receivers(&mut self) -> Vec<Arc<Selector>> {
        self.receivers_gone = true;
        commit_closed(self.sendq.drain())
    }

    #[cold]
    fn put_back(&mut self, v: T) -> Option<Arc<Selector>> {
        match self.handoff_to_receiver(v, None) {
            Ok(selector) => Some(selector),
            Err(v) => {
                self.buf.push_front(v);
                None
            }
        }
    }
}

/// Commits every live waiter with `closed`; parked senders keep their value.
fn commit_closed<T>(waiters: impl Iterator<Item = Arc<Waiter<T>>>) -> Vec<Arc<Selector>> {
    waiters
        .filter(|w| {
            w.selector.try_commit(Commit {
                case: w.case,
                closed: true,
            })
        })
        .map(|w| w.selector.clone())
        .collect()
}

fn has_live_peer<T>(queue: &WaitQueue<Waiter<T>>, me: &Arc<Selector>) -> bool {
    let mut cursor = queue.front();
    while let Some(key) = cursor {
        let waiter = queue.get(key);
        if !waiter.belongs_to(Some(me)) && waiter.selector.is_waiting() {
            return true;
        }
        cursor = queue.next(key);
    }
    false
}
