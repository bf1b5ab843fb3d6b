//! Channels: Go's `chan T`, bounded and truly unbuffered, multi-producer
//! multi-consumer, usable from gort tasks, from other executors and from
//! plain threads.
//!
//! ```
//! use gort::chan;
//!
//! let (tx, rx) = chan::bounded(2);
//! let producer = std::thread::spawn(move || {
//!     for i in 0..5 {
//!         tx.send_blocking(i).unwrap();
//!     }
//!     // dropping the last sender closes the channel
//! });
//! let got: Vec<i32> = rx.iter().collect(); // `for v := range ch`
//! producer.join().unwrap();
//! assert_eq!(got, [0, 1, 2, 3, 4]);
//! ```
//!
//! # What it guarantees
//! - FIFO per channel; `bounded(n)` holds at most `n` values; an unbuffered
//!   send completes only once a receiver has the value.
//! - Closed by [`Sender::close`] or when the last `Sender` is dropped: receivers
//!   drain what is buffered, then get `None`. Sends on a closed channel (or one
//!   whose receivers are all gone) return the value in `Err`.
//! - **Nothing is lost or duplicated**: every value whose send returned `Ok` is
//!   received exactly once, or is still buffered when the channel is dropped,
//!   whatever future is dropped at whatever await point. A dropped `send`
//!   either sent its value or gave it to nobody.
//!
//! # How (the mechanism, in three rules)
//! 1. One lock per channel (`hchan.rs`, Go's `hchan`) guards the buffer and the
//!    two waiter queues; the *running* party does every transfer under it: a
//!    sender writes into a parked receiver's slot, a receiver takes from a
//!    parked sender's slot. Nobody waits for a parked party to wake.
//! 2. A parked operation (one `recv`, one `send`, or a whole select) has one
//!    atomic select state that leaves `WAITING` exactly once, by CAS
//!    (`waiter.rs`): to a case (a counterpart or `close` chose it) or to
//!    `ABORTED` (its owner gave up). A transfer happens only together with a
//!    winning CAS, so a select commits at most one case, and a dropped send
//!    whose abort wins still owns its value.
//! 3. A dropped receive whose abort *loses* has been handed a value: it puts
//!    the value back at the head of the channel (or straight to a parked
//!    receiver), so it is received by someone else (`select.rs`).
//!
//! A lone `send`/`recv` runs on the same engine as a select, with a fast
//! path: its first poll tries the channel under one lock and, if that settles
//! it, touches neither waiter nor selector (half the cost of an uncontended
//! operation).
//!
//! Layout: `hchan.rs` (the channel), `lock.rs` (its spin lock), `random.rs`
//! (a per-thread generator for select order and lock back-off), `waiter.rs`
//! (intrusive waiters, queues, select state), `select.rs` (the engine every
//! blocking operation runs on; plain threads park through
//! `runtime/park.rs`), `never.rs`, `error.rs`.
//!
//! Parking allocates nothing: a parked operation's waiters live inside its
//! own pinned future (or on the blocked thread's stack), and the channel
//! links them into intrusive lists. That is why the futures of
//! [`Sender::send`] and [`Receiver::recv`] are `!Unpin` (`.await` and
//! `select!` pin them for you; pin them with `std::pin::pin!` to poll by
//! hand).

mod error;
mod hchan;
mod lock;
mod never;
#[cfg(not(gort_loom))]
mod random;
mod select;
mod waiter;

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use pin_project_lite::pin_project;

pub use self::error::{RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
pub use self::never::never;
#[doc(hidden)]
pub use self::select::{
    CaseList, CaseSet, DynCase, End, RecvCase, Register, SelectCase, Selecting, SendCase,
    select_blocking, try_select,
};
pub use self::select::{Select, Selected};

use self::hchan::{Chan, TryRecv, TrySend};
use crate::loom::Arc;
use crate::loom::atomic::Ordering;

/// A channel holding at most `cap` values; `cap == 0` is [`unbuffered`].
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(cap, 1));
    (
        Sender { chan: chan.clone() },
        Receiver { chan, stream: None },
    )
}

/// A rendezvous channel: a send completes only once a receiver has the value.
pub fn unbuffered<T>() -> (Sender<T>, Receiver<T>) {
    bounded(0)
}

/// A channel that closing never reaches: dropping its one `Sender` does not
/// close it (timer channels, like Go's, are never closed).
pub(crate) fn unclosable<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = bounded(cap);
    tx.chan.senders.fetch_add(1, Ordering::Relaxed);
    (tx, rx)
}

/// The sending side of a channel. Cloning it adds a sender (MPMC).
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving side of a channel. Cloning it adds a receiver (MPMC).
///
/// Also a [`Stream`] of the values, ending when the channel is closed and drained.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// The receive of `Stream::poll_next`, made on its first use.
    stream: Option<Pin<Box<StreamRecv<T>>>>,
}

impl<T> Sender<T> {
    /// Sends `v`, waiting for room (or, unbuffered, for a receiver to take it).
    /// `Err` gives the value back if the channel is closed or has no receivers.
    ///
    /// Dropping the future before it is ready sends nothing, or the value was
    /// already taken by a receiver; never half of each.
    pub fn send(&self, v: T) -> SendFuture<'_, T> {
        SendFuture {
            op: Selecting::new(SendCase::on(&self.chan, v)),
        }
    }

    /// Sends without waiting: `Full` if there is no room and no receiver
    /// waiting (a parked receiver takes the value even when unbuffered).
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let outcome = self.chan.lock().try_send(v, None);
        match outcome {
            TrySend::Sent(wake) => {
                if let Some(waker) = wake {
                    waker.wake();
                }
                Ok(())
            }
            TrySend::Full(v) => Err(TrySendError::Full(v)),
            TrySend::Closed(v) => Err(TrySendError::Closed(v)),
        }
    }

    /// Sends `v`, blocking this thread. For plain threads; in a task use [`send`](Self::send).
    pub fn send_blocking(&self, v: T) -> Result<(), SendError<T>> {
        self.send_within(v, None).map_err(|e| match e {
            SendTimeoutError::Closed(v) => SendError(v),
            SendTimeoutError::Timeout(_) => unreachable!("no deadline"),
        })
    }

    /// Sends `v`, blocking this thread for at most `d`.
    pub fn send_timeout(&self, v: T, d: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_within(v, Some(d))
    }

    /// Tries first (no clock read, no waiter set up when the channel is
    /// ready), then blocks for at most `d` (`None`: without limit).
    fn send_within(&self, v: T, d: Option<Duration>) -> Result<(), SendTimeoutError<T>> {
        let v = match self.try_send(v) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(v)) => return Err(SendTimeoutError::Closed(v)),
            Err(TrySendError::Full(v)) => v,
        };
        let deadline = d.and_then(|d| Instant::now().checked_add(d));
        let mut op = pin!(Selecting::new(SendCase::on(&self.chan, v)));
        if op.as_mut().wait_blocking(deadline).is_none() {
            let v = op
                .cases()
                .take_unsent()
                .expect("an unsent value comes back");
            return Err(SendTimeoutError::Timeout(v));
        }
        op.cases()
            .take()
            .map_err(|SendError(v)| SendTimeoutError::Closed(v))
    }

    /// Go's `close(ch)`: receivers drain the buffer, then get `None`; parked
    /// and later sends fail with their value. `false` if it was already closed.
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.chan.lock().is_closed()
    }

    /// The number of values buffered.
    pub fn len(&self) -> usize {
        self.chan.lock().len()
    }

    /// Whether no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity (0: unbuffered).
    pub fn capacity(&self) -> usize {
        self.chan.lock().cap
    }

    /// Marks the channel *watched*: one receiver is its owner's own (a
    /// context's `done`), the others are watchers, and once the owner asks
    /// (`keep_alive_while_watched`) the channel keeps it alive while any
    /// watcher lives. Called before any receiver is handed out.
    pub(crate) fn watch(&self) {
        self.chan.watched.store(true, Ordering::Relaxed);
    }

    /// Keeps `owner` alive while the channel is open and a receiver other
    /// than the owner's own lives; see [`watch`](Sender::watch).
    pub(crate) fn keep_alive_while_watched<O: std::any::Any + Send + Sync>(
        &self,
        owner: &std::sync::Arc<O>,
    ) {
        self.chan.keep_alive_while_watched(owner);
    }
}

impl<T> Receiver<T> {
    /// Receives a value, waiting for one; `None` once the channel is closed and
    /// drained. Dropping the future never loses a value.
    pub fn recv(&self) -> RecvFuture<'_, T> {
        RecvFuture {
            op: Selecting::new(RecvCase::on(&self.chan)),
        }
    }

    /// Receives without waiting (takes from a parked sender even when unbuffered).
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let outcome = self.chan.lock().try_recv(None);
        match outcome {
            TryRecv::Got(v, wake) => {
                if let Some(waker) = wake {
                    waker.wake();
                }
                Ok(v)
            }
            TryRecv::Empty => Err(TryRecvError::Empty),
            TryRecv::Closed => Err(TryRecvError::Closed),
        }
    }

    /// Receives, blocking this thread. For plain threads; in a task use [`recv`](Self::recv).
    pub fn recv_blocking(&self) -> Option<T> {
        match self.recv_within(None) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Closed) => None,
            Err(RecvTimeoutError::Timeout) => unreachable!("no deadline"),
        }
    }

    /// Receives, blocking this thread for at most `d`.
    pub fn recv_timeout(&self, d: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_within(Some(d))
    }

    /// Tries first, then blocks for at most `d` (`None`: without limit), as
    /// [`Sender::send_within`].
    fn recv_within(&self, d: Option<Duration>) -> Result<T, RecvTimeoutError> {
        match self.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Closed) => return Err(RecvTimeoutError::Closed),
            Err(TryRecvError::Empty) => {}
        }
        let deadline = d.and_then(|d| Instant::now().checked_add(d));
        let mut op = pin!(Selecting::new(RecvCase::on(&self.chan)));
        if op.as_mut().wait_blocking(deadline).is_none() {
            return Err(RecvTimeoutError::Timeout);
        }
        op.cases().take().ok_or(RecvTimeoutError::Closed)
    }

    /// A blocking iterator over the values: Go's `for v := range ch`.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Whether the channel is closed (values may still be buffered).
    pub fn is_closed(&self) -> bool {
        self.chan.lock().is_closed()
    }

    /// The number of values buffered.
    pub fn len(&self) -> usize {
        self.chan.lock().len()
    }

    /// Whether no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity (0: unbuffered).
    pub fn capacity(&self) -> usize {
        self.chan.lock().cap
    }

    /// Cancels `timer`, this channel's only sender, once every receiver is
    /// gone (`time::after`).
    pub(crate) fn cancel_timer_when_dropped(&self, timer: crate::runtime::timer::TimerKey) {
        self.chan.lock().set_timer(timer);
    }

    pub(crate) fn from_chan(chan: Arc<Chan<T>>) -> Receiver<T> {
        Receiver { chan, stream: None }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver::from_chan(self.chan.clone())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // A value handed to a parked `poll_next` goes back to the channel
        // before this receiver stops counting.
        self.stream = None;
        match self.chan.receivers.fetch_sub(1, Ordering::AcqRel) {
            1 => self.chan.disconnect_receivers(),
            // Only the owner's own receiver is left (`Sender::watch`).
            2 if self.chan.watched.load(Ordering::Relaxed) => self.chan.unwatched(),
            _ => {}
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`Sender::send`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct SendFuture<'a, T> {
        #[pin]
        op: Selecting<SendCase<'a, T>>,
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().op.poll_lone(cx)
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture").finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`Receiver::recv`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct RecvFuture<'a, T> {
        #[pin]
        op: Selecting<RecvCase<'a, T>>,
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.project().op.poll_lone(cx)
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture").finish_non_exhaustive()
    }
}

pin_project! {
    /// The receive behind a `Receiver`'s `Stream`: boxed, since the
    /// `Receiver` itself is `Unpin` and may move between polls while a waiter
    /// in here is linked. Allocated on first use and reused.
    struct StreamRecv<T> {
        // Declared first, so it is dropped (and unlinked) before `chan`.
        #[pin]
        op: Selecting<RecvCase<'static, T>>,
        // Keeps alive the channel that `op` borrows.
        chan: Arc<Chan<T>>,
    }
}

impl<T> StreamRecv<T> {
    fn new(chan: &Arc<Chan<T>>) -> Pin<Box<StreamRecv<T>>> {
        let chan = chan.clone();
        Box::pin(StreamRecv {
            op: Selecting::new(StreamRecv::case(&chan)),
            chan,
        })
    }

    /// A fresh receive case over `chan`, the `Arc` stored beside it.
    fn case(chan: &Arc<Chan<T>>) -> RecvCase<'static, T> {
        // SAFETY: the `Chan` lives in the `Arc`'s allocation, which does not
        // move and outlives the case: the `Arc` is stored in the same struct
        // and dropped after it.
        unsafe { RecvCase::on_ptr(NonNull::from(&**chan)) }
    }

    fn poll_recv(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.project();
        let mut op = this.op;
        let v = std::task::ready!(op.as_mut().poll_lone(cx));
        op.set(Selecting::new(StreamRecv::case(this.chan)));
        Poll::Ready(v)
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let chan = &this.chan;
        this.stream
            .get_or_insert_with(|| StreamRecv::new(chan))
            .as_mut()
            .poll_recv(cx)
    }
}

/// The blocking iterator of [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv_blocking()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
