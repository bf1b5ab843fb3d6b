//! The select engine: one blocking operation over any number of cases. A
//! plain `recv` or `send` is a select with one case, so there is one protocol.
//!
//! # Protocol (Go's `selectgo`, made safe against dropped futures)
//! 1. **Pass 1**, in a random order: try each case without waiting, each
//!    under its own channel's lock. The first that can proceed completes;
//!    none of our waiters exists yet, so nobody else can commit us meanwhile.
//! 2. **Pass 2**, same order: create the [`Selector`] and, under each
//!    channel's lock, link a waiter for the case. Before linking, the case
//!    checks whether it became ready since pass 1. For the first case nothing
//!    of ours is linked yet, so it just completes. For a later case our
//!    earlier waiters are reachable, so we first take ourselves off the market
//!    (CAS `WAITING` → `ABORTED`; if that loses, a counterpart committed us and
//!    we stop), then complete the case as in pass 1. If it cannot complete
//!    after all (its counterparts died in between), we unlink everything and
//!    start again at pass 1 with a fresh selector: nobody relied on the old one.
//!    (A restart needs a counterpart that dies between our check and our
//!    attempt, under that channel's lock: some other select committed or gave
//!    up meanwhile. Two selects registering against each other in lockstep
//!    could in principle restart each other repeatedly; timing breaks the tie.)
//! 3. **Wait**: the first party to CAS our selector from `WAITING` to a case
//!    has already done the transfer for that case and unlinked that waiter; it
//!    wakes us. We collect the case's outcome from its slot and unlink the
//!    waiters of the other cases.
//!
//! A case never pairs with a waiter of its own select: waiters are told apart
//! by their selector, not by their thread, so two tasks on one thread pair
//! like any others and a select with `send(tx)` and `recv(rx)` on one
//! unbuffered channel does not meet itself.
//!
//! # Dropped at any point
//! Dropping a waiting select CASes `WAITING` → `ABORTED`. If that wins, no
//! case took effect: waiters are unlinked, a send case keeps its value (it
//! gave nothing to anyone). If it loses, some case `k` was committed: a send
//! case's value was taken, so it *was* sent; a receive case's value sits in
//! its slot and is put back at the head of its channel ([`Chan::put_back`]),
//! to be received by someone else. So every value whose send returned `Ok` is
//! received exactly once, or is still buffered when the channel is dropped.
//!
//! # Fairness
//! Passes use a fresh uniformly random permutation of the cases (Go's
//! `pollorder`), so among cases ready at pass 1 each is chosen with equal
//! probability.
//!
//! # Rejected
//! Locking every channel of the select at once (Go's `sellock`) needs the
//! locks of channels of different `T` behind one type-erased interface and a
//! lock order; taking ourselves off the market before completing a late-ready
//! case gives the same exactly-once guarantee with one lock at a time.
//! Spinning until a committed select wakes up to take its value (crossbeam's
//! zero-capacity flavor) livelocks two tasks on one worker; here the running
//! party always finishes the transfer alone.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::hchan::{Chan, TryRecv, TrySend};
use super::waiter::{Commit, Selector, Waiter};
use super::{Receiver, SendError, Sender};
use crate::loom::Arc;
use crate::runtime::coop;
use crate::runtime::wait::{WaitReason, parked_on};

/// What registering one case in pass 2 found.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    /// A waiter is linked.
    Linked,
    /// The case took effect at once.
    Completed,
    /// A counterpart committed the select meanwhile: stop registering.
    Lost,
    /// We took ourselves off the market but the case could not proceed after
    /// all: unlink everything and start over.
    Restart,
}

/// One case of a select, type-erased. Implemented by [`RecvCase`] and
/// [`SendCase`]; used by the `select!` macros, not meant to be called directly.
#[doc(hidden)]
pub trait SelectCase {
    /// Pass 1: completes the case if it can proceed now.
    fn try_complete(&mut self) -> bool;
    /// Pass 2: see [`Register`]. `first`: no waiter of `selector` is linked yet.
    fn register(&mut self, selector: &Arc<Selector>, index: usize, first: bool) -> Register;
    /// The selector was committed to this case: collect its outcome.
    fn complete(&mut self, commit: Commit);
    /// Unlinks this case's waiter, if linked; a send case takes its value back.
    fn unregister(&mut self);
    /// The select completed with this case but is being dropped before its
    /// outcome was returned: a received value goes back to the channel.
    fn abandon(&mut self);
    /// Whether this is a send case (for the wait reason a task dump shows).
    fn is_send(&self) -> bool;
}

/// A set of cases the engine can index.
#[doc(hidden)]
pub trait CaseSet {
    /// The number of cases.
    fn count(&self) -> usize;
    /// Case `i`.
    fn case(&mut self, i: usize) -> &mut dyn SelectCase;
}

impl CaseSet for [&mut (dyn SelectCase + Send + '_)] {
    fn count(&self) -> usize {
        self.len()
    }
    fn case(&mut self, i: usize) -> &mut dyn SelectCase {
        &mut *self[i]
    }
}

impl CaseSet for [&mut (dyn SelectCase + '_)] {
    fn count(&self) -> usize {
        self.len()
    }
    fn case(&mut self, i: usize) -> &mut dyn SelectCase {
        &mut *self[i]
    }
}

impl CaseSet for Vec<Box<dyn DynCase + '_>> {
    fn count(&self) -> usize {
        self.len()
    }
    fn case(&mut self, i: usize) -> &mut dyn SelectCase {
        self[i].as_case()
    }
}

/// The state of one select between polls: the engine proper.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct SelectState {
    selector: Option<Arc<Selector>>,
}

impl SelectState {
    /// A select that has not started.
    pub fn new() -> SelectState {
        SelectState { selector: None }
    }

    /// Drives the select; `Ready(i)`: case `i` took effect and holds its outcome.
    pub fn poll<C: CaseSet + ?Sized>(
        &mut self,
        cases: &mut C,
        cx: &mut Context<'_>,
    ) -> Poll<usize> {
        if let Some(selector) = &self.selector {
            return self.poll_waiting(selector.clone(), cases, cx);
        }
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let n = cases.count();
        let mut order = PollOrder::new(n);
        loop {
            for k in 0..n {
                let i = order.get(k);
                if cases.case(i).try_complete() {
                    return Poll::Ready(i);
                }
            }
            if n == 0 {
                parked_on(WaitReason::Select);
                return Poll::Pending; // `select {}`: blocks forever
            }
            let selector = Arc::new(Selector::new(cx.waker().clone()));
            match register_all(cases, &selector, &order) {
                Registered::Completed(i) => {
                    unregister_others(cases, i);
                    return Poll::Ready(i);
                }
                Registered::Restart => {
                    unregister_others(cases, usize::MAX);
                    order.shuffle();
                    std::hint::spin_loop();
                }
                Registered::Parked => {
                    self.selector = Some(selector.clone());
                    return self.poll_waiting(selector, cases, cx);
                }
            }
        }
    }

    fn poll_waiting<C: CaseSet + ?Sized>(
        &mut self,
        selector: Arc<Selector>,
        cases: &mut C,
        cx: &mut Context<'_>,
    ) -> Poll<usize> {
        if selector.committed().is_none() {
            selector.set_waker(cx.waker());
            if selector.committed().is_none() {
                parked_on(wait_reason(cases));
                return Poll::Pending;
            }
        }
        let commit = selector.committed().expect("checked above");
        self.selector = None;
        cases.case(commit.case).complete(commit);
        unregister_others(cases, commit.case);
        Poll::Ready(commit.case)
    }

    /// Gives up a waiting select. `Some(i)`: case `i` had taken effect first;
    /// its outcome is collected (the caller returns or [abandons] it).
    ///
    /// [abandons]: SelectCase::abandon
    pub fn abort<C: CaseSet + ?Sized>(&mut self, cases: &mut C) -> Option<usize> {
        let selector = self.selector.take()?;
        match selector.try_abort() {
            Ok(()) => {
                unregister_others(cases, usize::MAX);
                None
            }
            Err(commit) => {
                cases.case(commit.case).complete(commit);
                unregister_others(cases, commit.case);
                Some(commit.case)
            }
        }
    }

    /// Whether the select is parked (its waiters are linked).
    pub fn is_waiting(&self) -> bool {
        self.selector.is_some()
    }
}

/// What a parked select waits for, in Go's words (`chan receive`, `chan
/// send`, `select`), for the runtime's task dump and deadlock detector.
fn wait_reason<C: CaseSet + ?Sized>(cases: &mut C) -> WaitReason {
    match cases.count() {
        1 if cases.case(0).is_send() => WaitReason::ChanSend,
        1 => WaitReason::ChanReceive,
        _ => WaitReason::Select,
    }
}

/// The result of pass 2 as a whole.
enum Registered {
    /// Waiters are linked (or a counterpart committed us meanwhile): wait.
    Parked,
    /// Case `i` took effect during registration.
    Completed(usize),
    /// Start over at pass 1.
    Restart,
}

fn register_all<C: CaseSet + ?Sized>(
    cases: &mut C,
    selector: &Arc<Selector>,
    order: &PollOrder,
) -> Registered {
    for k in 0..order.len() {
        let i = order.get(k);
        match cases.case(i).register(selector, i, k == 0) {
            Register::Linked => {}
            Register::Completed => return Registered::Completed(i),
            Register::Lost => return Registered::Parked,
            Register::Restart => return Registered::Restart,
        }
    }
    Registered::Parked
}

fn unregister_others<C: CaseSet + ?Sized>(cases: &mut C, except: usize) {
    for i in 0..cases.count() {
        if i != except {
            cases.case(i).unregister();
        }
    }
}

impl<S: CaseSet + ?Sized> CaseSet for &mut S {
    fn count(&self) -> usize {
        (**self).count()
    }
    fn case(&mut self, i: usize) -> &mut dyn SelectCase {
        (**self).case(i)
    }
}

/// A select in flight: owns its cases and the engine state, and gives up
/// cleanly when dropped (see the module docs).
#[doc(hidden)]
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Selecting<C: CaseSet> {
    /// The cases; after completion, case `i` holds its outcome.
    pub cases: C,
    state: SelectState,
}

impl<C: CaseSet> Selecting<C> {
    /// A select over `cases`, not started.
    pub fn new(cases: C) -> Selecting<C> {
        Selecting {
            cases,
            state: SelectState::new(),
        }
    }

    /// Gives up; `Some(i)` if case `i` took effect first (its outcome is in it).
    pub fn abort(&mut self) -> Option<usize> {
        self.state.abort(&mut self.cases)
    }
}

impl<C: CaseSet + Unpin> Future for Selecting<C> {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let this = self.get_mut();
        this.state.poll(&mut this.cases, cx)
    }
}

impl<C: CaseSet> Drop for Selecting<C> {
    fn drop(&mut self) {
        if let Some(i) = self.state.abort(&mut self.cases) {
            self.cases.case(i).abandon();
        }
    }
}

/// A receive case: `recv(rx) -> v`.
#[doc(hidden)]
#[derive(Debug)]
pub struct RecvCase<'a, T> {
    chan: &'a Chan<T>,
    parked: Option<(Arc<Waiter<T>>, usize)>,
    outcome: Option<Option<T>>,
}

impl<'a, T> RecvCase<'a, T> {
    /// A case receiving from `rx`.
    pub fn new(rx: &'a Receiver<T>) -> RecvCase<'a, T> {
        RecvCase::on(&rx.chan)
    }

    pub(crate) fn on(chan: &'a Chan<T>) -> RecvCase<'a, T> {
        RecvCase {
            chan,
            parked: None,
            outcome: None,
        }
    }

    /// Rebuilds a case suspended by [`suspend`](Self::suspend).
    pub(crate) fn resume(chan: &'a Chan<T>, parked: RecvParked<T>) -> RecvCase<'a, T> {
        RecvCase {
            chan,
            parked: parked.0,
            outcome: None,
        }
    }

    /// The parts of a parked case that outlive one poll (for `Stream`).
    pub(crate) fn suspend(self) -> RecvParked<T> {
        RecvParked(self.parked)
    }

    /// The value received (`None`: closed and drained), once the case took effect.
    pub fn take(&mut self) -> Option<T> {
        self.outcome
            .take()
            .expect("select: case did not take effect")
    }

    fn finish(&mut self, outcome: TryRecv<T>) -> bool {
        match outcome {
            TryRecv::Got(v, wake) => {
                if let Some(selector) = wake {
                    selector.wake();
                }
                self.outcome = Some(Some(v));
                true
            }
            TryRecv::Closed => {
                self.outcome = Some(None);
                true
            }
            TryRecv::Empty => false,
        }
    }
}

impl<T> SelectCase for RecvCase<'_, T> {
    fn try_complete(&mut self) -> bool {
        let outcome = self.chan.lock().try_recv(None);
        self.finish(outcome)
    }

    fn register(&mut self, selector: &Arc<Selector>, index: usize, first: bool) -> Register {
        let mut state = self.chan.lock();
        if first || state.recv_ready(selector) {
            if !first && selector.try_abort().is_err() {
                return Register::Lost;
            }
            let outcome = state.try_recv(Some(selector));
            if matches!(outcome, TryRecv::Empty) {
                if !first {
                    return Register::Restart;
                }
            } else {
                drop(state);
                self.finish(outcome);
                return Register::Completed;
            }
        }
        let waiter = Arc::new(Waiter::new(selector.clone(), index, None));
        let key = state.park_receiver(waiter.clone());
        self.parked = Some((waiter, key));
        Register::Linked
    }

    fn complete(&mut self, commit: Commit) {
        let (waiter, _) = self.parked.take().expect("a committed case was parked");
        let v = waiter.slot.lock().take();
        debug_assert_eq!(v.is_none(), commit.closed);
        self.outcome = Some(v);
    }

    fn unregister(&mut self) {
        if let Some((waiter, key)) = self.parked.take() {
            self.chan.lock().unpark_receiver(key, &waiter);
        }
    }

    fn abandon(&mut self) {
        if let Some(Some(v)) = self.outcome.take() {
            self.chan.put_back(v);
        }
    }

    fn is_send(&self) -> bool {
        false
    }
}

/// A receive case's registration, kept between polls by a `Receiver`'s `Stream`.
#[derive(Debug)]
pub(crate) struct RecvParked<T>(Option<(Arc<Waiter<T>>, usize)>);

/// A send case: `send(tx, v) -> res`.
#[doc(hidden)]
#[derive(Debug)]
pub struct SendCase<'a, T> {
    chan: &'a Chan<T>,
    /// The value while it is not parked in a waiter (and after it came back).
    value: Option<T>,
    parked: Option<(Arc<Waiter<T>>, usize)>,
    outcome: Option<Result<(), SendError<T>>>,
}

impl<'a, T> SendCase<'a, T> {
    /// A case sending `value` on `tx`.
    pub fn new(tx: &'a Sender<T>, value: T) -> SendCase<'a, T> {
        SendCase::on(&tx.chan, value)
    }

    pub(crate) fn on(chan: &'a Chan<T>, value: T) -> SendCase<'a, T> {
        SendCase {
            chan,
            value: Some(value),
            parked: None,
            outcome: None,
        }
    }

    /// The outcome of the send, once the case took effect.
    pub fn take(&mut self) -> Result<(), SendError<T>> {
        self.outcome
            .take()
            .expect("select: case did not take effect")
    }

    /// The value, if it was not sent (another case won, or the select gave up).
    pub fn take_unsent(&mut self) -> Option<T> {
        self.value.take()
    }

    fn finish(&mut self, outcome: TrySend<T>) -> Result<(), T> {
        match outcome {
            TrySend::Sent(wake) => {
                if let Some(selector) = wake {
                    selector.wake();
                }
                self.outcome = Some(Ok(()));
                Ok(())
            }
            TrySend::Closed(v) => {
                self.outcome = Some(Err(SendError(v)));
                Ok(())
            }
            TrySend::Full(v) => Err(v),
        }
    }
}

impl<T> SelectCase for SendCase<'_, T> {
    fn try_complete(&mut self) -> bool {
        let v = self.value.take().expect("a send case holds its value");
        let outcome = self.chan.lock().try_send(v, None);
        match self.finish(outcome) {
            Ok(()) => true,
            Err(v) => {
                self.value = Some(v);
                false
            }
        }
    }

    fn register(&mut self, selector: &Arc<Selector>, index: usize, first: bool) -> Register {
        let mut state = self.chan.lock();
        let mut v = self.value.take().expect("a send case holds its value");
        if first || state.send_ready(selector) {
            if !first && selector.try_abort().is_err() {
                self.value = Some(v);
                return Register::Lost;
            }
            match state.try_send(v, Some(selector)) {
                TrySend::Full(back) if first => v = back,
                TrySend::Full(back) => {
                    self.value = Some(back);
                    return Register::Restart;
                }
                outcome => {
                    drop(state);
                    let _ = self.finish(outcome);
                    return Register::Completed;
                }
            }
        }
        let waiter = Arc::new(Waiter::new(selector.clone(), index, Some(v)));
        let key = state.park_sender(waiter.clone());
        self.parked = Some((waiter, key));
        Register::Linked
    }

    fn complete(&mut self, commit: Commit) {
        let (waiter, _) = self.parked.take().expect("a committed case was parked");
        self.outcome = Some(if commit.closed {
            let v = waiter.slot.lock().take();
            Err(SendError(v.expect("close leaves a parked sender's value")))
        } else {
            Ok(())
        });
    }

    fn unregister(&mut self) {
        if let Some((waiter, key)) = self.parked.take() {
            self.chan.lock().unpark_sender(key, &waiter);
            // Not committed: nobody else touches the slot any more.
            self.value = waiter.slot.lock().take();
        }
    }

    fn abandon(&mut self) {}

    fn is_send(&self) -> bool {
        true
    }
}

// Values are moved in and out freely and never pinned: a case is `Unpin`
// whatever `T` is, and so are the futures built on it.
impl<T> Unpin for RecvCase<'_, T> {}
impl<T> Unpin for SendCase<'_, T> {}

impl<T> CaseSet for RecvCase<'_, T> {
    fn count(&self) -> usize {
        1
    }
    fn case(&mut self, _: usize) -> &mut dyn SelectCase {
        self
    }
}

impl<T> CaseSet for SendCase<'_, T> {
    fn count(&self) -> usize {
        1
    }
    fn case(&mut self, _: usize) -> &mut dyn SelectCase {
        self
    }
}

/// A case of a dynamic [`Select`]: its outcome can be taken type-erased.
#[doc(hidden)]
pub trait DynCase: SelectCase + Send {
    /// Upcast.
    fn as_case(&mut self) -> &mut dyn SelectCase;
    /// The outcome, boxed.
    fn take_any(&mut self) -> Box<dyn Any + Send>;
}

impl<T: Send + 'static> DynCase for RecvCase<'_, T> {
    fn as_case(&mut self) -> &mut dyn SelectCase {
        self
    }
    fn take_any(&mut self) -> Box<dyn Any + Send> {
        Box::new(self.take())
    }
}

impl<T: Send + 'static> DynCase for SendCase<'_, T> {
    fn as_case(&mut self) -> &mut dyn SelectCase {
        self
    }
    fn take_any(&mut self) -> Box<dyn Any + Send> {
        Box::new(self.take())
    }
}

/// A select over cases known only at run time: Go's `reflect.Select`.
///
/// ```
/// let (tx1, rx1) = gort::chan::bounded::<i32>(1);
/// let (tx2, rx2) = gort::chan::bounded::<&str>(1);
/// tx2.try_send("ready").unwrap();
/// let mut sel = gort::Select::new();
/// let a = sel.recv(&rx1);
/// let b = sel.recv(&rx2);
/// let done = sel.select_blocking();
/// assert_eq!(done.index(), b);
/// assert_ne!(a, b);
/// assert_eq!(done.recv::<&str>(), Some("ready"));
/// # drop(tx1);
/// ```
#[derive(Default)]
pub struct Select<'a> {
    cases: Vec<Box<dyn DynCase + 'a>>,
}

impl std::fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select")
            .field("cases", &self.cases.len())
            .finish()
    }
}

impl<'a> Select<'a> {
    /// A select with no cases (blocks forever unless cases are added).
    pub fn new() -> Select<'a> {
        Select { cases: Vec::new() }
    }

    /// Adds a receive case; returns its index.
    pub fn recv<T: Send + 'static>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.cases.push(Box::new(RecvCase::new(rx)));
        self.cases.len() - 1
    }

    /// Adds a send case; returns its index. `v` is sent only if this case is chosen.
    pub fn send<T: Send + 'static>(&mut self, tx: &'a Sender<T>, v: T) -> usize {
        self.cases.push(Box::new(SendCase::new(tx, v)));
        self.cases.len() - 1
    }

    /// Waits until one case takes effect.
    pub async fn select(self) -> Selected {
        let mut selecting = Selecting::new(self.cases);
        let index = (&mut selecting).await;
        Selected::new(index, selecting.cases[index].take_any())
    }

    /// Blocks the calling thread until one case takes effect.
    pub fn select_blocking(self) -> Selected {
        let mut selecting = Selecting::new(self.cases);
        let index = crate::runtime::park::block_on(&mut selecting, None).expect("no deadline");
        Selected::new(index, selecting.cases[index].take_any())
    }

    /// Takes a case that can proceed now; `None` if none can (Go's `default`).
    pub fn try_select(mut self) -> Option<Selected> {
        let index = try_select(&mut self.cases)?;
        Some(Selected::new(index, self.cases[index].take_any()))
    }
}

/// Blocks this thread until one of `cases` takes effect. Used by `select_blocking!`.
#[doc(hidden)]
pub fn select_blocking<C: CaseSet + Unpin>(cases: C) -> usize {
    let mut selecting = Selecting::new(cases);
    crate::runtime::park::block_on(&mut selecting, None).expect("no deadline")
}

/// Pass 1 only: the case that took effect, if any could. Used for `default`.
#[doc(hidden)]
pub fn try_select<C: CaseSet + ?Sized>(cases: &mut C) -> Option<usize> {
    let order = PollOrder::new(cases.count());
    (0..order.len())
        .map(|k| order.get(k))
        .find(|&i| cases.case(i).try_complete())
}

/// The case a [`Select`] took, with its outcome.
pub struct Selected {
    index: usize,
    outcome: Box<dyn Any + Send>,
}

impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selected")
            .field("index", &self.index)
            .finish()
    }
}

impl Selected {
    fn new(index: usize, outcome: Box<dyn Any + Send>) -> Selected {
        Selected { index, outcome }
    }

    /// The index of the case, as returned by [`Select::recv`] / [`Select::send`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// The value of a receive case (`None`: the channel was closed).
    ///
    /// # Panics
    /// If the case was not a receive of a `T`.
    pub fn recv<T: 'static>(self) -> Option<T> {
        *self
            .outcome
            .downcast::<Option<T>>()
            .expect("Selected::recv: not a receive case of this type")
    }

    /// The outcome of a send case.
    ///
    /// # Panics
    /// If the case was not a send of a `T`.
    pub fn send_result<T: 'static>(self) -> Result<(), SendError<T>> {
        *self
            .outcome
            .downcast::<Result<(), SendError<T>>>()
            .expect("Selected::send_result: not a send case of this type")
    }
}

/// A uniformly random order of `n` cases (Go's `pollorder`). Small selects
/// (every `recv`/`send` is one) keep it in a few bytes on the stack.
enum PollOrder {
    Inline { len: u8, idx: [u8; INLINE] },
    Heap(Vec<usize>),
}

const INLINE: usize = 32;

impl PollOrder {
    #[inline]
    fn new(n: usize) -> PollOrder {
        let mut order = if n <= INLINE {
            let mut idx = [0u8; INLINE];
            for (i, slot) in idx.iter_mut().enumerate().take(n) {
                *slot = i as u8;
            }
            PollOrder::Inline { len: n as u8, idx }
        } else {
            PollOrder::Heap((0..n).collect())
        };
        if n > 1 {
            order.shuffle();
        }
        order
    }

    #[inline]
    fn len(&self) -> usize {
        match self {
            PollOrder::Inline { len, .. } => usize::from(*len),
            PollOrder::Heap(v) => v.len(),
        }
    }

    /// The case polled `k`-th.
    #[inline]
    fn get(&self, k: usize) -> usize {
        match self {
            PollOrder::Inline { idx, .. } => usize::from(idx[k]),
            PollOrder::Heap(v) => v[k],
        }
    }

    /// Under loom the order is fixed: a model must run the same way every time.
    #[cfg(gort_loom)]
    fn shuffle(&mut self) {}

    #[cfg(not(gort_loom))]
    fn shuffle(&mut self) {
        match self {
            PollOrder::Inline { len, idx } => fisher_yates(&mut idx[..usize::from(*len)]),
            PollOrder::Heap(v) => fisher_yates(v),
        }
    }
}

#[cfg(not(gort_loom))]
fn fisher_yates<I>(slice: &mut [I]) {
    for i in (1..slice.len()).rev() {
        slice.swap(i, random_below(i + 1));
    }
}

/// A random number in `0..n` from a per-thread xorshift generator.
#[cfg(not(gort_loom))]
fn random_below(n: usize) -> usize {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(std::thread::current().id()) | 1
        });
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        ((u128::from(x) * n as u128) >> 64) as usize
    })
}
