//! The select engine: one blocking operation over any number of cases. A
//! plain `recv` or `send` is a select with one case, so there is one protocol;
//! such a lone case runs passes 1 and 2 under one acquisition of its
//! channel's lock ([`LoneCase::try_or_park`]), which needs no taking off the
//! market since nothing of it is linked before.
//!
//! # Protocol (Go's `selectgo`, made safe against dropped futures)
//! 1. **Pass 1**, in a random order: try each case without waiting, each
//!    under its own channel's lock. The first that can proceed completes;
//!    none of our waiters exists yet, so nobody else can commit us meanwhile.
//! 2. **Pass 2**, same order: arm the [`Selector`] (it lives in the pinned
//!    `Selecting`; each case holds its own waiter, so nothing is allocated)
//!    and, under each channel's lock, link the case's waiter. Before linking, the case
//!    checks whether it became ready since pass 1. For the first case nothing
//!    of ours is linked yet, so it just completes. For a later case our
//!    earlier waiters are reachable, so we first take ourselves off the market
//!    (CAS `WAITING` → `ABORTED`; if that loses, a counterpart committed us and
//!    we stop), then complete the case as in pass 1. If it cannot complete
//!    after all (its counterparts died in between), we unlink everything,
//!    disarm the selector and start again at pass 1: nobody relied on it.
//!    (A restart needs a counterpart that dies between our check and our
//!    attempt, under that channel's lock: some other select committed or gave
//!    up meanwhile. Two selects registering against each other in lockstep
//!    could in principle restart each other repeatedly; timing breaks the tie.)
//! 3. **Wait**: the first party to CAS our selector from `WAITING` to a case
//!    has already done the transfer for that case and unlinked that waiter; it
//!    wakes us. We collect the case's outcome from its slot and unlink the
//!    waiters of the other cases. Polled through a different waker while
//!    waiting, we give up (as when dropped) and register afresh: committers
//!    read the waker without a lock, so it never changes while armed.
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
//! its slot, and the case puts it back at the head of its channel when it is
//! dropped untaken ([`Chan::put_back`]), to be received by someone else. So every value whose send returned `Ok` is
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
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use pin_project_lite::pin_project;

use super::hchan::{Chan, State, TryRecv, TrySend};
use super::lock::SpinGuard;
use super::waiter::{Commit, Outcome, Selector, Waiter};
use super::{Receiver, SendError, Sender};
use crate::runtime::wait::{WaitReason, parked_on};
use crate::runtime::{coop, park};

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
///
/// A case holds its own waiter, which a channel links to while the select is
/// parked: cases are pinned, and a case unlinks its waiter when dropped.
#[doc(hidden)]
pub trait SelectCase {
    /// Pass 1: completes the case if it can proceed now.
    fn try_complete(self: Pin<&mut Self>) -> bool;
    /// Pass 2: see [`Register`]. `first`: no waiter of `selector` is linked yet.
    ///
    /// # Safety
    /// `selector` stays alive and in place until this case was unregistered
    /// or completed (the engine keeps it pinned in its `Selecting`).
    unsafe fn register(
        self: Pin<&mut Self>,
        selector: &Selector,
        index: usize,
        first: bool,
    ) -> Register;
    /// The selector was committed to this case: collect its outcome.
    fn complete(self: Pin<&mut Self>, commit: Commit);
    /// Unlinks this case's waiter, if linked; a send case keeps its value.
    fn unregister(self: Pin<&mut Self>);
    /// Whether this is a send case (for the wait reason a task dump shows).
    fn is_send(&self) -> bool;
}

/// A set of cases the engine can index.
#[doc(hidden)]
pub trait CaseSet {
    /// The number of cases.
    fn count(&self) -> usize;
    /// Case `i`.
    fn case(self: Pin<&mut Self>, i: usize) -> Pin<&mut dyn SelectCase>;
}

/// The cases of one `select!`, as a list built by nesting:
/// `CaseList(c0, CaseList(c1, …CaseList(cn, End)))`, each `ci` a pinned case
/// of its own type. The list keeps the cases' types, so a select future is
/// `Send` exactly when every case is: a select over values that are not
/// `Send` works, as Go's does, in a future that is not `Send` either. Case `i`
/// is found by walking `i` links, which the compiler unrolls.
#[doc(hidden)]
#[derive(Debug)]
pub struct CaseList<H, T>(pub H, pub T);

/// The end of a [`CaseList`].
#[doc(hidden)]
#[derive(Debug)]
pub struct End;

impl<H: SelectCase, T: CaseSet + Unpin> CaseSet for CaseList<Pin<&mut H>, T> {
    #[inline]
    fn count(&self) -> usize {
        1 + self.1.count()
    }
    #[inline]
    fn case(self: Pin<&mut Self>, i: usize) -> Pin<&mut dyn SelectCase> {
        let this = self.get_mut();
        match i {
            0 => this.0.as_mut(),
            _ => Pin::new(&mut this.1).case(i - 1),
        }
    }
}

impl CaseSet for End {
    #[inline]
    fn count(&self) -> usize {
        0
    }
    fn case(self: Pin<&mut Self>, i: usize) -> Pin<&mut dyn SelectCase> {
        unreachable!("select: no case {i}")
    }
}

impl CaseSet for Vec<Pin<Box<dyn DynCase + '_>>> {
    #[inline]
    fn count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn case(self: Pin<&mut Self>, i: usize) -> Pin<&mut dyn SelectCase> {
        self.get_mut()[i].as_mut()
    }
}

impl<S: CaseSet + Unpin + ?Sized> CaseSet for &mut S {
    #[inline]
    fn count(&self) -> usize {
        (**self).count()
    }
    #[inline]
    fn case(self: Pin<&mut Self>, i: usize) -> Pin<&mut dyn SelectCase> {
        Pin::new(&mut **self.get_mut()).case(i)
    }
}

pin_project! {
    /// A select in flight: owns its selector (which its cases' waiters point
    /// at), borrows or owns its cases, and gives up cleanly when dropped (see
    /// the module docs).
    #[doc(hidden)]
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Selecting<C: CaseSet> {
        // The cases; after completion, case `i` holds its outcome.
        #[pin]
        cases: C,
        // Armed while waiters of ours may be linked: the select must then be
        // finished or aborted.
        #[pin]
        selector: Selector,
    }

    impl<C: CaseSet> PinnedDrop for Selecting<C> {
        fn drop(this: Pin<&mut Self>) {
            this.abort();
        }
    }
}

impl<C: CaseSet> Selecting<C> {
    /// A select over `cases`, not started.
    pub fn new(cases: C) -> Selecting<C> {
        Selecting {
            cases,
            selector: Selector::new(),
        }
    }

    /// The cases (after completion, case `i` holds its outcome).
    pub fn cases(self: Pin<&mut Self>) -> Pin<&mut C> {
        self.project().cases
    }

    /// Blocks this thread until a case takes effect or `deadline` passes,
    /// then gives up. `Some(i)`: case `i` took effect (perhaps just as the
    /// select gave up); `None`: none did.
    pub(crate) fn wait_blocking(
        mut self: Pin<&mut Self>,
        deadline: Option<Instant>,
    ) -> Option<usize> {
        match park::block_on(&mut self.as_mut(), deadline) {
            Some(i) => Some(i),
            None => self.abort(),
        }
    }

    /// Gives up a waiting select. `Some(i)`: case `i` had taken effect first;
    /// its outcome is collected in it (a received value the caller does not
    /// take goes back to its channel when the case is dropped).
    pub fn abort(self: Pin<&mut Self>) -> Option<usize> {
        let this = self.project();
        let selector = this.selector.into_ref().get_ref();
        if !selector.is_armed() {
            return None;
        }
        give_up(this.cases, selector)
    }
}

impl<C: CaseSet> Future for Selecting<C> {
    type Output = usize;

    /// Drives the select; `Ready(i)`: case `i` took effect and holds its outcome.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.drive(cx)
    }
}

impl<C: CaseSet> Selecting<C> {
    /// Whether no waiter of this select is linked: it was never polled, or
    /// it finished.
    #[inline]
    fn is_idle(&self) -> bool {
        !self.selector.is_armed()
    }

    /// The engine behind [`poll`](Future::poll), and behind every poll of a
    /// lone `send`/`recv` after its first.
    fn drive(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let this = self.project();
        let mut cases = this.cases;
        let selector = this.selector.into_ref().get_ref();
        if selector.is_armed() {
            if let Some(commit) = selector.committed() {
                return Poll::Ready(finish(cases, selector, commit));
            }
            if selector.wakes(cx.waker()) {
                parked_on(wait_reason(cases));
                return Poll::Pending;
            }
            // Polled through another waker. A registered select's waker is
            // fixed (committers read it without a lock), so give up and
            // register afresh with the new one.
            if let Some(i) = give_up(cases.as_mut(), selector) {
                return Poll::Ready(i);
            }
        }
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let n = cases.count();
        let mut order = PollOrder::new(n);
        loop {
            for k in 0..n {
                let i = order.get(k);
                if cases.as_mut().case(i).try_complete() {
                    return Poll::Ready(i);
                }
            }
            if n == 0 {
                parked_on(WaitReason::Select);
                return Poll::Pending; // `select {}`: blocks forever
            }
            selector.arm(cx.waker());
            // SAFETY: the selector is pinned in this `Selecting`, whose drop
            // (or completion) unregisters every case before it goes.
            match unsafe { register_all(cases.as_mut(), selector, &order) } {
                Registered::Completed(i) => {
                    unregister_others(cases, i);
                    selector.disarm();
                    return Poll::Ready(i);
                }
                Registered::Restart => {
                    unregister_others(cases.as_mut(), usize::MAX);
                    selector.disarm();
                    order.shuffle();
                    std::hint::spin_loop();
                }
                Registered::Parked => {
                    // A counterpart may have committed us while we registered.
                    if let Some(commit) = selector.committed() {
                        return Poll::Ready(finish(cases, selector, commit));
                    }
                    parked_on(wait_reason(cases));
                    return Poll::Pending;
                }
            }
        }
    }
}

/// Takes an armed select off the market: `None` if that won (every waiter
/// is unlinked, nothing took effect); `Some(i)` if case `i` was committed
/// first (its outcome is collected, as by [`finish`]).
fn give_up<C: CaseSet + ?Sized>(cases: Pin<&mut C>, selector: &Selector) -> Option<usize> {
    match selector.try_abort() {
        Ok(()) => {
            unregister_others(cases, usize::MAX);
            selector.disarm();
            None
        }
        Err(commit) => Some(finish(cases, selector, commit)),
    }
}

/// The select was committed to `commit`: collects that case's outcome,
/// unlinks the other cases' waiters, and disarms the selector. Returns the case.
fn finish<C: CaseSet + ?Sized>(
    mut cases: Pin<&mut C>,
    selector: &Selector,
    commit: Commit,
) -> usize {
    cases.as_mut().case(commit.case).complete(commit);
    unregister_others(cases, commit.case);
    selector.disarm();
    commit.case
}

/// What a parked select waits for, in Go's words (`chan receive`, `chan
/// send`, `select`), for the runtime's task dump and deadlock detector.
fn wait_reason<C: CaseSet + ?Sized>(cases: Pin<&mut C>) -> WaitReason {
    match cases.count() {
        1 if cases.case(0).is_send() => WaitReason::ChanSend,
        1 => WaitReason::ChanReceive,
        _ => WaitReason::Select,
    }
}

/// Pass 2 found a case ready, under its channel's lock. Before a later case
/// completes, the select takes itself off the market (its earlier waiters are
/// reachable, and a counterpart must not commit one of them too); the first
/// case has nothing linked yet. `false`: a counterpart committed it first.
fn take_off_market(selector: &Selector, first: bool) -> bool {
    first || selector.try_abort().is_ok()
}

/// How a case's waiter joins its channel's queue: [`State::park_receiver`]
/// or [`State::park_sender`].
type ParkFn<T> = unsafe fn(&mut State<T>, &Waiter<T>, &Selector, usize);

/// Links a case's `waiter` into the queue `park` picks, as case `index` of
/// `selector`.
///
/// # Safety
/// `waiter` is pinned in its case, whose drop unlinks it, and `selector`
/// outlives the registration (as for [`SelectCase::register`]).
unsafe fn link<T>(
    waiter: &Waiter<T>,
    state: &mut State<T>,
    selector: &Selector,
    index: usize,
    park: ParkFn<T>,
) {
    // SAFETY: the caller's contract.
    unsafe { park(state, waiter, selector, index) };
    waiter.set_outcome(Outcome::Registered);
}

/// The parking half of [`LoneCase::try_or_park`], under the lock of the
/// attempt that found it must wait: arms the selector and links the waiter.
/// The selector's waker slot is still empty (a lone operation is tried this
/// way only while fresh, and a finished one is never polled again), so this
/// only clones the waker under the lock, as tokio's `Notify` does under its
/// own; no waker is woken or dropped there.
///
/// # Safety
/// As for [`LoneCase::try_or_park`].
#[cold]
#[inline(never)]
unsafe fn park_lone<T>(
    waiter: &Waiter<T>,
    mut state: SpinGuard<'_, State<T>>,
    selector: &Selector,
    waker: &Waker,
    park: ParkFn<T>,
) {
    debug_assert!(!selector.has_waker(), "a fresh selector has no waker yet");
    selector.arm(waker);
    // SAFETY: the caller's contract.
    unsafe { link(waiter, &mut state, selector, 0, park) };
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

/// # Safety
/// As for [`SelectCase::register`].
unsafe fn register_all<C: CaseSet + ?Sized>(
    mut cases: Pin<&mut C>,
    selector: &Selector,
    order: &PollOrder,
) -> Registered {
    for k in 0..order.len() {
        let i = order.get(k);
        // SAFETY: the caller's contract.
        match unsafe { cases.as_mut().case(i).register(selector, i, k == 0) } {
            Register::Linked => {}
            Register::Completed => return Registered::Completed(i),
            Register::Lost => return Registered::Parked,
            Register::Restart => return Registered::Restart,
        }
    }
    Registered::Parked
}

fn unregister_others<C: CaseSet + ?Sized>(mut cases: Pin<&mut C>, except: usize) {
    for i in 0..cases.count() {
        if i != except {
            cases.as_mut().case(i).unregister();
        }
    }
}

pin_project! {
    /// A receive case: `recv(rx) -> v`.
    #[doc(hidden)]
    #[derive(Debug)]
    pub struct RecvCase<'a, T> {
        // A `&'a Chan<T>` (a pointer, so that a `Receiver`'s stream can hold
        // a case over the channel it keeps alive itself without `T: 'static`).
        chan: NonNull<Chan<T>>,
        lifetime: PhantomData<&'a ()>,
        // Linked into the channel's `recvq` while parked; its slot holds the
        // value received until it is taken.
        #[pin]
        waiter: Waiter<T>,
    }

    impl<'a, T> PinnedDrop for RecvCase<'a, T> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this;
            this.as_mut().unregister();
            if this.waiter.outcome() == Outcome::Moved {
                // SAFETY: unregistered and `Moved`: the slot is full and ours.
                // A value still in it was received for nobody: it goes back
                // to the channel.
                let v = unsafe { this.waiter.take() };
                this.chan().put_back(v);
            }
        }
    }
}

impl<'a, T> RecvCase<'a, T> {
    /// A case receiving from `rx`.
    pub fn new(rx: &'a Receiver<T>) -> RecvCase<'a, T> {
        RecvCase::on(&rx.chan)
    }

    pub(crate) fn on(chan: &'a Chan<T>) -> RecvCase<'a, T> {
        // SAFETY: a reference is valid for `'a`.
        unsafe { RecvCase::on_ptr(NonNull::from(chan)) }
    }

    /// A case over a channel reached through a pointer.
    ///
    /// # Safety
    /// `chan` stays valid for as long as the case exists.
    pub(crate) unsafe fn on_ptr(chan: NonNull<Chan<T>>) -> RecvCase<'a, T> {
        RecvCase {
            chan,
            lifetime: PhantomData,
            waiter: Waiter::empty(),
        }
    }

    #[inline]
    fn chan(&self) -> &'a Chan<T> {
        // SAFETY: valid for `'a` (`on`), or for the case's life (`on_ptr`).
        unsafe { self.chan.as_ref() }
    }

    /// The value received (`None`: closed and drained), once the case took effect.
    #[inline]
    pub fn take(self: Pin<&mut Self>) -> Option<T> {
        let waiter = &self.waiter;
        let v = match waiter.outcome() {
            // SAFETY: `Moved`: the case took effect, the waiter is unlinked
            // and its slot full and ours.
            Outcome::Moved => Some(unsafe { waiter.take() }),
            Outcome::Closed => None,
            _ => panic!("select: case did not take effect"),
        };
        waiter.set_outcome(Outcome::Taken);
        v
    }

    fn finish(self: Pin<&mut Self>, outcome: TryRecv<T>) -> bool {
        let this = self.project();
        match outcome {
            TryRecv::Got(v, wake) => {
                if let Some(waker) = wake {
                    waker.wake();
                }
                // SAFETY: not linked (this runs only while unregistered).
                unsafe { this.waiter.as_ref().get_ref().put(v) };
                this.waiter.set_outcome(Outcome::Moved);
                true
            }
            TryRecv::Closed => {
                this.waiter.set_outcome(Outcome::Closed);
                true
            }
            TryRecv::Empty => false,
        }
    }
}

// SAFETY: the pointer is a `&Chan<T>` (see `chan`), which is `Send + Sync`
// when `T: Send`; everything else is `Send`/`Sync` on its own.
unsafe impl<T: Send> Send for RecvCase<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for RecvCase<'_, T> {}

impl<T> SelectCase for RecvCase<'_, T> {
    #[inline]
    fn try_complete(self: Pin<&mut Self>) -> bool {
        let outcome = self.chan().lock().try_recv(None);
        self.finish(outcome)
    }

    unsafe fn register(
        self: Pin<&mut Self>,
        selector: &Selector,
        index: usize,
        first: bool,
    ) -> Register {
        let chan = self.chan();
        let mut state = chan.lock();
        if first || state.recv_ready(selector) {
            if !take_off_market(selector, first) {
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
        // SAFETY: the caller's contract.
        unsafe {
            link(
                &self.waiter,
                &mut state,
                selector,
                index,
                State::park_receiver,
            )
        };
        Register::Linked
    }

    fn complete(self: Pin<&mut Self>, commit: Commit) {
        self.waiter.record_commit(commit);
    }

    fn unregister(self: Pin<&mut Self>) {
        if self.waiter.end_registration() {
            self.chan().lock().unpark_receiver(&self.waiter);
        }
    }

    fn is_send(&self) -> bool {
        false
    }
}

pin_project! {
    /// A send case: `send(tx, v) -> res`.
    #[doc(hidden)]
    #[derive(Debug)]
    pub struct SendCase<'a, T> {
        chan: &'a Chan<T>,
        // Its slot holds the value until it is sent (and after it came back);
        // linked into the channel's `sendq` while parked.
        #[pin]
        waiter: Waiter<T>,
    }

    impl<'a, T> PinnedDrop for SendCase<'a, T> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this;
            this.as_mut().unregister();
            if matches!(this.waiter.outcome(), Outcome::Pending | Outcome::Closed) {
                // SAFETY: unregistered and not sent: the slot is full and ours.
                drop(unsafe { this.waiter.take() }); // sent to nobody
            }
        }
    }
}

impl<'a, T> SendCase<'a, T> {
    /// A case sending `value` on `tx`.
    pub fn new(tx: &'a Sender<T>, value: T) -> SendCase<'a, T> {
        SendCase::on(&tx.chan, value)
    }

    pub(crate) fn on(chan: &'a Chan<T>, value: T) -> SendCase<'a, T> {
        SendCase {
            chan,
            waiter: Waiter::holding(value),
        }
    }

    /// The outcome of the send, once the case took effect.
    pub fn take(self: Pin<&mut Self>) -> Result<(), SendError<T>> {
        let waiter = &self.waiter;
        let result = match waiter.outcome() {
            Outcome::Moved => Ok(()),
            // SAFETY: `Closed`: the waiter is unlinked, and its slot full
            // (close leaves a parked sender's value) and ours.
            Outcome::Closed => Err(SendError(unsafe { waiter.take() })),
            _ => panic!("select: case did not take effect"),
        };
        waiter.set_outcome(Outcome::Taken);
        result
    }

    /// The value, if it was not sent (another case won, or the select gave up).
    pub fn take_unsent(self: Pin<&mut Self>) -> Option<T> {
        let waiter = &self.waiter;
        if !matches!(waiter.outcome(), Outcome::Pending | Outcome::Closed) {
            return None;
        }
        waiter.set_outcome(Outcome::Taken);
        // SAFETY: not registered and not sent: the slot is full and ours.
        Some(unsafe { waiter.take() })
    }

    /// Records a send that did not wait; `false`: the channel was full (the
    /// value is back in the slot).
    fn finish(mut self: Pin<&mut Self>, outcome: TrySend<T>) -> bool {
        match outcome {
            TrySend::Sent(wake) => {
                if let Some(waker) = wake {
                    waker.wake();
                }
                self.waiter.set_outcome(Outcome::Moved);
                true
            }
            TrySend::Closed(v) => {
                self.as_mut().restore(v);
                self.waiter.set_outcome(Outcome::Closed);
                true
            }
            TrySend::Full(v) => {
                self.restore(v);
                false
            }
        }
    }

    /// Puts the value back into the slot after [`value`](Self::value).
    #[inline]
    fn restore(self: Pin<&mut Self>, v: T) {
        debug_assert_eq!(self.waiter.outcome(), Outcome::Taken);
        // SAFETY: `Taken` by `value`, not linked: the slot is empty and ours.
        unsafe { self.waiter.put(v) };
        self.waiter.set_outcome(Outcome::Pending);
    }

    /// Takes the value out to try a send (`Taken` until it is restored, so
    /// that a panic in between cannot drop it twice).
    #[inline]
    fn value(self: Pin<&mut Self>) -> T {
        assert_eq!(
            self.waiter.outcome(),
            Outcome::Pending,
            "send: polled after it completed"
        );
        self.waiter.set_outcome(Outcome::Taken);
        // SAFETY: `Pending` and not linked: the slot is full and ours.
        unsafe { self.waiter.take() }
    }
}

impl<T> SelectCase for SendCase<'_, T> {
    #[inline]
    fn try_complete(mut self: Pin<&mut Self>) -> bool {
        let v = self.as_mut().value();
        let outcome = self.chan.lock().try_send(v, None);
        self.finish(outcome)
    }

    unsafe fn register(
        mut self: Pin<&mut Self>,
        selector: &Selector,
        index: usize,
        first: bool,
    ) -> Register {
        let chan = self.chan;
        let mut state = chan.lock();
        if first || state.send_ready(selector) {
            if !take_off_market(selector, first) {
                return Register::Lost;
            }
            let v = self.as_mut().value();
            match state.try_send(v, Some(selector)) {
                TrySend::Full(v) => {
                    // Still under the lock: parking below stays atomic with this check.
                    self.as_mut().restore(v);
                    if !first {
                        return Register::Restart;
                    }
                }
                outcome => {
                    drop(state);
                    self.finish(outcome);
                    return Register::Completed;
                }
            }
        }
        // SAFETY: the caller's contract.
        unsafe {
            link(
                &self.waiter,
                &mut state,
                selector,
                index,
                State::park_sender,
            )
        };
        Register::Linked
    }

    fn complete(self: Pin<&mut Self>, commit: Commit) {
        self.waiter.record_commit(commit);
    }

    fn unregister(self: Pin<&mut Self>) {
        if self.waiter.end_registration() {
            self.chan.lock().unpark_sender(&self.waiter);
        }
    }

    fn is_send(&self) -> bool {
        true
    }
}

impl<T> CaseSet for RecvCase<'_, T> {
    #[inline]
    fn count(&self) -> usize {
        1
    }
    #[inline]
    fn case(self: Pin<&mut Self>, _: usize) -> Pin<&mut dyn SelectCase> {
        self
    }
}

impl<T> CaseSet for SendCase<'_, T> {
    #[inline]
    fn count(&self) -> usize {
        1
    }
    #[inline]
    fn case(self: Pin<&mut Self>, _: usize) -> Pin<&mut dyn SelectCase> {
        self
    }
}

/// A case that also runs alone, as a plain `send` or `recv`.
#[doc(hidden)]
pub trait LoneCase: CaseSet {
    type Output;
    /// Settles the case now if it can, touching neither waiter nor selector
    /// (the fast path). If it would wait, arms `selector` with `waker` and
    /// links the case's waiter under the same lock as the attempt, so a
    /// parking operation takes its channel's lock once, as Go's does.
    /// `None`: parked.
    ///
    /// # Safety
    /// `selector` is idle, belongs to this operation alone, and stays alive
    /// and in place until this case was unregistered or completed (as for
    /// [`SelectCase::register`]).
    unsafe fn try_or_park(
        self: Pin<&mut Self>,
        selector: &Selector,
        waker: &Waker,
    ) -> Option<Self::Output>;
    /// The outcome, once the engine reported that the case took effect.
    fn outcome(self: Pin<&mut Self>) -> Self::Output;
}

impl<T> LoneCase for RecvCase<'_, T> {
    type Output = Option<T>;

    /// Receives, leaving the slot alone: the value goes straight out.
    #[inline(always)]
    unsafe fn try_or_park(
        self: Pin<&mut Self>,
        selector: &Selector,
        waker: &Waker,
    ) -> Option<Option<T>> {
        assert_eq!(
            self.waiter.outcome(),
            Outcome::Pending,
            "recv: polled after it completed"
        );
        let mut state = self.chan().lock();
        let v = match state.try_recv(None) {
            TryRecv::Got(v, wake) => {
                drop(state); // a waker runs unlocked
                if let Some(waker) = wake {
                    waker.wake();
                }
                Some(v)
            }
            TryRecv::Closed => None,
            TryRecv::Empty => {
                // SAFETY: the caller's contract.
                unsafe { park_lone(&self.waiter, state, selector, waker, State::park_receiver) };
                return None;
            }
        };
        self.waiter.set_outcome(Outcome::Taken);
        Some(v)
    }

    #[inline]
    fn outcome(self: Pin<&mut Self>) -> Option<T> {
        self.take()
    }
}

impl<T> LoneCase for SendCase<'_, T> {
    type Output = Result<(), SendError<T>>;

    /// `None`: the channel is full, and the value waits in the parked slot.
    #[inline(always)]
    unsafe fn try_or_park(
        mut self: Pin<&mut Self>,
        selector: &Selector,
        waker: &Waker,
    ) -> Option<Self::Output> {
        let v = self.as_mut().value();
        // `Taken` from here on: the slot stays empty unless the value comes back.
        let mut state = self.chan.lock();
        match state.try_send(v, None) {
            TrySend::Sent(wake) => {
                drop(state); // a waker runs unlocked
                if let Some(waker) = wake {
                    waker.wake();
                }
                Some(Ok(()))
            }
            TrySend::Closed(v) => Some(Err(SendError(v))),
            TrySend::Full(v) => {
                self.as_mut().restore(v);
                // SAFETY: the caller's contract.
                unsafe { park_lone(&self.waiter, state, selector, waker, State::park_sender) };
                None
            }
        }
    }

    #[inline]
    fn outcome(self: Pin<&mut Self>) -> Self::Output {
        self.take()
    }
}

/// A lone `send`/`recv`: [`Sender::send`], [`Receiver::recv`] and a
/// `Receiver`'s stream.
impl<C: LoneCase> Selecting<C> {
    /// Polls a lone operation. Its first poll takes the channel's lock once:
    /// it completes the operation there if it can, touching neither waiter
    /// nor selector (the general engine costs about twice as much per
    /// uncontended operation), and otherwise parks under the same lock
    /// ([`LoneCase::try_or_park`]). Later polls go to the engine, which
    /// finds the commit or keeps waiting.
    ///
    /// Forced inline, with `try_or_park`, into the caller's `.await`: the
    /// calls and their register saves were a quarter of the instructions of
    /// an uncontended send+recv (callgrind: 202 per pair before, 147 after;
    /// kanal's is 130). Waking, parking and hand-offs to parked parties stay
    /// out of line. Parking under the attempt's lock rather than trying
    /// again in pass 2 took chan_unbuffered_mpmc on 1 proc from 734 to 650
    /// instructions a message (tokio with kanal: 596), and a parking
    /// operation from two lock acquisitions to one.
    #[inline(always)]
    pub(crate) fn poll_lone(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let fresh = self.is_idle();
        if fresh {
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            let this = self.as_mut().project();
            let selector = this.selector.into_ref().get_ref();
            // SAFETY: the selector is idle (`fresh`) and pinned beside the
            // case in this `Selecting`, whose drop unregisters the case first.
            return match unsafe { this.cases.try_or_park(selector, cx.waker()) } {
                Some(out) => Poll::Ready(out),
                None => {
                    parked_on(wait_reason(self.cases()));
                    Poll::Pending
                }
            };
        }
        match self.as_mut().drive(cx) {
            Poll::Ready(_) => Poll::Ready(self.cases().outcome()),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A case of a dynamic [`Select`]: its outcome can be taken type-erased.
#[doc(hidden)]
pub trait DynCase: SelectCase + Send {
    /// The outcome, boxed.
    fn take_any(self: Pin<&mut Self>) -> Box<dyn Any + Send>;
}

impl<T: Send + 'static> DynCase for RecvCase<'_, T> {
    fn take_any(self: Pin<&mut Self>) -> Box<dyn Any + Send> {
        Box::new(self.take())
    }
}

impl<T: Send + 'static> DynCase for SendCase<'_, T> {
    fn take_any(self: Pin<&mut Self>) -> Box<dyn Any + Send> {
        Box::new(self.take())
    }
}

/// A select over cases known only at run time: Go's `reflect.Select`.
///
/// Its values must be `Send + 'static`, which DESIGN's signatures do not
/// say: the chosen case's outcome comes back type-erased in [`Selected`],
/// whose `recv::<T>` checks the type (`Any`, hence `'static`), and one
/// `Select` type holds cases of any `T`, so it can be `Send` (awaited inside
/// [`go`](crate::go)) only if every value is. `select!` has neither limit:
/// it keeps each case's type.
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
    cases: Vec<Pin<Box<dyn DynCase + 'a>>>,
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
        self.cases.push(Box::pin(RecvCase::new(rx)));
        self.cases.len() - 1
    }

    /// Adds a send case; returns its index. `v` is sent only if this case is chosen.
    pub fn send<T: Send + 'static>(&mut self, tx: &'a Sender<T>, v: T) -> usize {
        self.cases.push(Box::pin(SendCase::new(tx, v)));
        self.cases.len() - 1
    }

    /// Waits until one case takes effect.
    pub async fn select(self) -> Selected {
        let mut selecting = std::pin::pin!(Selecting::new(self.cases));
        let index = selecting.as_mut().await;
        Selected::take(index, selecting.cases())
    }

    /// Blocks the calling thread until one case takes effect.
    pub fn select_blocking(self) -> Selected {
        let mut selecting = std::pin::pin!(Selecting::new(self.cases));
        let index = selecting.as_mut().wait_blocking(None).expect("no deadline");
        Selected::take(index, selecting.cases())
    }

    /// Takes a case that can proceed now; `None` if none can (Go's `default`).
    pub fn try_select(mut self) -> Option<Selected> {
        let index = try_select(Pin::new(&mut self.cases))?;
        Some(Selected::take(index, Pin::new(&mut self.cases)))
    }
}

/// Blocks this thread until one of `cases` takes effect. Used by `select_blocking!`.
#[doc(hidden)]
pub fn select_blocking<C: CaseSet>(cases: C) -> usize {
    let selecting = std::pin::pin!(Selecting::new(cases));
    selecting.wait_blocking(None).expect("no deadline")
}

/// Pass 1 only: the case that took effect, if any could. Used for `default`.
#[doc(hidden)]
pub fn try_select<C: CaseSet + ?Sized>(mut cases: Pin<&mut C>) -> Option<usize> {
    let order = PollOrder::new(cases.count());
    (0..order.len())
        .map(|k| order.get(k))
        .find(|&i| cases.as_mut().case(i).try_complete())
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
    /// Takes the outcome of case `index`, which took effect.
    fn take(index: usize, cases: Pin<&mut Vec<Pin<Box<dyn DynCase + '_>>>>) -> Selected {
        let outcome = cases.get_mut()[index].as_mut().take_any();
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
            PollOrder::Inline {
                len: n as u8,
                idx: IDENTITY,
            }
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
    #[inline]
    fn shuffle(&mut self) {
        match self {
            PollOrder::Inline { len, idx } => fisher_yates(&mut idx[..usize::from(*len)]),
            PollOrder::Heap(v) => fisher_yates(v),
        }
    }
}

/// `0, 1, …, INLINE - 1`: a small order before its shuffle.
const IDENTITY: [u8; INLINE] = {
    let mut idx = [0u8; INLINE];
    let mut i = 0;
    while i < INLINE {
        idx[i] = i as u8;
        i += 1;
    }
    idx
};

/// Two cases, the common select (a value and a timeout, or `ctx.done()`),
/// take one random bit rather than the general loop: callgrind counted 54
/// instructions for shuffling two cases out of line, about a sixth of
/// select_two's cost a value on 1 proc.
#[cfg(not(gort_loom))]
#[inline]
fn fisher_yates<I>(slice: &mut [I]) {
    if slice.len() == 2 {
        if super::random::random_below(2) == 1 {
            slice.swap(0, 1);
        }
        return;
    }
    for i in (1..slice.len()).rev() {
        slice.swap(i, super::random::random_below(i + 1));
    }
}
