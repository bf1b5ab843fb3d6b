//! A weighted semaphore: `golang.org/x/sync/semaphore`, with RAII permits.
//!
//! ```
//! use gort::context::Context;
//! use gort::semaphore::Weighted;
//!
//! let sem = Weighted::new(3);
//! gort::run(async {
//!     let ctx = Context::background();
//!     let two = sem.acquire(&ctx, 2).await.unwrap(); // waits, FIFO, until free
//!     assert!(sem.try_acquire(2).is_none());          // only one left
//!     drop(two);                                      // Drop releases
//!     assert!(sem.try_acquire(3).is_some());
//!     let (short, _cancel) = ctx.with_timeout(std::time::Duration::from_millis(5));
//!     assert!(sem.acquire(&short, 4).await.is_err()); // more than the size: waits for `short`
//! });
//! ```
//!
//! # What it guarantees
//! - Waiters are served strictly in FIFO order: a large request at the head of
//!   the queue blocks smaller ones behind it, even when they would fit (Go's
//!   rule; it keeps large requests from starving). [`Weighted::try_acquire`]
//!   fails while anyone waits.
//! - A context that is already done fails `acquire` even when permits are free
//!   (Go's rule). A waiter whose context ends leaves the queue and, if it was
//!   at the head, lets the ones behind it through.
//! - A request larger than the semaphore's size can never be served: as in
//!   x/sync, it waits (outside the queue, so it blocks nobody) for its
//!   context to end and returns the context's error. With a context that can
//!   never end it waits forever, as x/sync's does.
//! - No permit is ever lost: a dropped `acquire` future gives back a grant it
//!   had not yet observed; [`Permit`] gives its count back on drop.
//! - Permits granted to a waiter whose context ends at the same moment are
//!   given back and the error returned (the newest x/sync behaviour).
//!
//! # Protocol
//! One mutex guards `cur` (permits held) and the queue, a `BTreeMap` from a
//! ticket number to the waiter's request and waker: FIFO by ticket, and a
//! cancelled waiter is removed in O(log n) wherever it is. Granting (in
//! `release`, or when the head leaves) moves permits to waiters from the head
//! while they fit, removes them from the queue and wakes them after the lock
//! is released. A waiter learns it was granted by finding its ticket gone:
//! only a grant or the waiter itself removes a ticket.
//!
//! # Rejected
//! A lock-free counter with a separate wait list (tokio's batch semaphore) is
//! faster uncontended but much harder to keep FIFO with weighted requests and
//! cancellation; the lock is held for a few instructions and never across a
//! wake.

use crate::runtime::wait::{WaitReason, parked_on};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use crate::context::{CancelWait, Context, ContextError};
use crate::loom::Mutex;

/// A semaphore of `n` permits that are acquired and released in any amounts.
/// Cloning gives another handle to the same semaphore.
#[derive(Clone)]
pub struct Weighted {
    sem: Arc<Sem>,
}

struct Sem {
    size: u64,
    state: Mutex<State>,
}

struct State {
    /// Permits held (granted and not released).
    cur: u64,
    /// Waiters by ticket: the smallest ticket is the head.
    waiters: BTreeMap<u64, Waiter>,
    next_ticket: u64,
}

struct Waiter {
    n: u64,
    waker: Waker,
}

/// `n` permits of a [`Weighted`]; dropping it releases them. `'static + Send`:
/// it may be moved into a task.
#[must_use = "dropping a Permit releases it at once"]
pub struct Permit {
    sem: Weighted,
    n: u64,
}

impl Weighted {
    /// A semaphore with `n` permits.
    pub fn new(n: u64) -> Weighted {
        Weighted {
            sem: Arc::new(Sem {
                size: n,
                state: Mutex::new(State {
                    cur: 0,
                    waiters: BTreeMap::new(),
                    next_ticket: 0,
                }),
            }),
        }
    }

    /// Acquires `n` permits, waiting in FIFO order until they are free or `ctx`
    /// is done. Fails with `ctx`'s error if it is done first (or already). A
    /// request for more than the size can never be served: it waits for `ctx`
    /// to end (x/sync).
    pub async fn acquire(&self, ctx: &Context, n: u64) -> Result<Permit, ContextError> {
        Acquire {
            sem: self,
            ctx,
            n,
            ticket: None,
            wait: CancelWait::default(),
        }
        .await
    }

    /// Acquires `n` permits if they are free and nobody waits; never blocks.
    pub fn try_acquire(&self, n: u64) -> Option<Permit> {
        let mut state = self.sem.state.lock();
        if self.sem.size - state.cur >= n && state.waiters.is_empty() {
            state.cur += n;
            Some(self.permit(n))
        } else {
            None
        }
    }

    /// Releases `n` permits, for permits kept with [`Permit::forget`].
    ///
    /// # Panics
    /// "semaphore: released more than held" if fewer than `n` are held.
    pub fn release(&self, n: u64) {
        let mut state = self.sem.state.lock();
        if n > state.cur {
            drop(state);
            panic!("semaphore: released more than held");
        }
        state.cur -= n;
        let woken = self.sem.grant(&mut state);
        drop(state);
        woken.into_iter().for_each(Waker::wake);
    }

    /// The number of permits the semaphore was made with.
    pub fn size(&self) -> u64 {
        self.sem.size
    }

    fn permit(&self, n: u64) -> Permit {
        Permit {
            sem: self.clone(),
            n,
        }
    }

    /// Permits currently held, for tests that check nothing leaks.
    #[doc(hidden)]
    pub fn held(&self) -> u64 {
        self.sem.state.lock().cur
    }

    /// Requests currently queued, for tests that check nothing leaks.
    #[doc(hidden)]
    pub fn waiters(&self) -> usize {
        self.sem.state.lock().waiters.len()
    }
}

impl Sem {
    /// Grants permits to waiters from the head while they fit (Go's
    /// `notifyWaiters`); returns the wakers to wake once the lock is released.
    fn grant(&self, state: &mut State) -> Vec<Waker> {
        let mut woken = Vec::new();
        while let Some(head) = state.waiters.first_entry() {
            let n = head.get().n;
            if self.size - state.cur < n {
                // Strict FIFO: smaller requests behind the head wait too.
                break;
            }
            state.cur += n;
            woken.push(head.remove().waker);
        }
        woken
    }

    /// Takes `ticket` out of the queue. `true` if it was still queued; `false`
    /// if it had been granted its permits. Returns the wakers to wake.
    fn leave(&self, ticket: u64, n: u64) -> (bool, Vec<Waker>) {
        let mut state = self.state.lock();
        let head = state.waiters.first_key_value().map(|(&t, _)| t);
        if state.waiters.remove(&ticket).is_some() {
            let woken = if head == Some(ticket) && self.size > state.cur {
                self.grant(&mut state)
            } else {
                Vec::new()
            };
            (true, woken)
        } else {
            // Granted but never observed: give the permits back.
            state.cur -= n;
            (false, self.grant(&mut state))
        }
    }
}

/// The future of [`Weighted::acquire`].
struct Acquire<'a> {
    sem: &'a Weighted,
    ctx: &'a Context,
    n: u64,
    /// Our place in the queue, once queued; `None` before and after.
    ticket: Option<u64>,
    wait: CancelWait,
}

impl Acquire<'_> {
    /// The first poll: take the permits at once, fail, or join the queue.
    fn start(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Permit, ContextError>> {
        let sem = &self.sem.sem;
        let mut state = sem.state.lock();
        if let Some(err) = self.ctx.err() {
            return Poll::Ready(Err(err));
        }
        if sem.size - state.cur >= self.n && state.waiters.is_empty() {
            state.cur += self.n;
            return Poll::Ready(Ok(self.sem.permit(self.n)));
        }
        if self.n > sem.size {
            // x/sync: it can never be served; wait for the context to end.
            drop(state);
            return match self.ctx.poll_cancelled(&mut self.wait, cx) {
                Poll::Ready(()) => Poll::Ready(Err(self.ctx_err())),
                Poll::Pending => Poll::Pending,
            };
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiters.insert(
            ticket,
            Waiter {
                n: self.n,
                waker: cx.waker().clone(),
            },
        );
        self.ticket = Some(ticket);
        drop(state);
        self.wait_turn(ticket, cx)
    }

    /// A later poll: granted, cancelled, or still waiting.
    fn wait_turn(
        &mut self,
        ticket: u64,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<Permit, ContextError>> {
        let cancelled = self.ctx.poll_cancelled(&mut self.wait, cx).is_ready();
        let sem = &self.sem.sem;
        let mut state = sem.state.lock();
        match state.waiters.get_mut(&ticket) {
            Some(waiter) if !cancelled => {
                waiter.waker.clone_from(cx.waker());
                parked_on(WaitReason::SemaphoreAcquire);
                Poll::Pending
            }
            Some(_) => {
                drop(state);
                self.ticket = None;
                let (_, woken) = sem.leave(ticket, self.n);
                woken.into_iter().for_each(Waker::wake);
                Poll::Ready(Err(self.ctx_err()))
            }
            None => {
                drop(state);
                self.ticket = None;
                let permit = self.sem.permit(self.n);
                match self.ctx.err() {
                    // Granted as the context ended: give the permits back.
                    Some(err) => Poll::Ready(Err(err)),
                    None => Poll::Ready(Ok(permit)),
                }
            }
        }
    }

    fn ctx_err(&self) -> ContextError {
        self.ctx.err().unwrap_or(ContextError::Canceled)
    }
}

impl Future for Acquire<'_> {
    type Output = Result<Permit, ContextError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // `Acquire` holds no self-references: it is `Unpin`.
        let this = self.get_mut();
        match this.ticket {
            None => this.start(cx),
            Some(ticket) => this.wait_turn(ticket, cx),
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let (_, woken) = self.sem.sem.leave(ticket, self.n);
            woken.into_iter().for_each(Waker::wake);
        }
    }
}

impl Permit {
    /// Keeps the permits held without releasing them; give them back later
    /// with [`Weighted::release`].
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this is.
    pub fn count(&self) -> u64 {
        self.n
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.release(self.n);
        }
    }
}

impl fmt::Debug for Weighted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.sem.state.lock();
        f.debug_struct("Weighted")
            .field("size", &self.sem.size)
            .field("held", &state.cur)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("n", &self.n).finish()
    }
}
