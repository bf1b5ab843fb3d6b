//! `errgroup`: a group of tasks working on subtasks of one job, with the first
//! error cancelling the rest. `golang.org/x/sync/errgroup`.
//!
//! ```
//! use gort::context::Context;
//! use gort::errgroup::Group;
//!
//! let res = gort::run(async {
//!     let (g, ctx) = Group::<String>::with_context(&Context::background());
//!     g.set_limit(Some(2));
//!     for i in 0..5 {
//!         g.go(async move { if i == 3 { Err(format!("task {i} failed")) } else { Ok(()) } }).await;
//!     }
//!     let res = g.wait().await;
//!     assert!(ctx.err().is_some()); // wait cancels the derived context
//!     res
//! });
//! assert_eq!(res, Err("task 3 failed".to_string()));
//! ```
//!
//! # What it guarantees
//! - [`Group::wait`] returns once every task started with `go`/`try_go` has
//!   returned, with the first error any of them returned. The first failure
//!   wins for good, as Go's `errOnce`: errors after it are dropped, also
//!   once a `wait` has returned it (a later panic still resurfaces).
//! - **A second `wait` after the error was returned panics.** Go hands the
//!   same error to every `Wait`; here the error is moved out (`E` need not be
//!   `Clone`), and a later `wait` reporting `Ok(())` would claim a success
//!   that never happened.
//! - The first error cancels the context made by [`Group::with_context`];
//!   `wait` cancels it when it returns, error or not. As in Go, the first
//!   error is the context's [`cause`](Context::cause) where its type lets
//!   it be one: a [`Cause`] itself, or a `String` or `&'static str` (which
//!   becomes an error displaying it, Go's `errors.New`). Any other `E` need
//!   not be an `Error`, so the cause is then `Canceled`, as it is after a
//!   panic or a `wait` with no error.
//! - With a limit, at most that many tasks run at once: `go` waits (FIFO) for
//!   a slot, `try_go` returns `false` instead.
//! - **Panics**: a task that panics counts as failed (it cancels the context)
//!   and its payload resurfaces from `wait` through
//!   [`std::panic::resume_unwind`], in preference to any error, as tokio's
//!   `JoinSet::join_all` does. Go's errgroup cannot catch a goroutine's panic;
//!   in Rust silently dropping it would hide the bug.
//!
//! # Protocol
//! A [`WaitGroup`] counts the running tasks; a [`Weighted`] semaphore of the
//! limit's size hands out slots, and each task holds its slot's [`Permit`]
//! until it has recorded its outcome (Go releases the slot, then calls
//! `wg.Done`). A guard dropped when the task ends, by returning, panicking or
//! being dropped by its runtime, releases the slot and the count, so `wait`
//! cannot hang on a task that will never finish.
//!
//! [`Permit`]: crate::semaphore::Permit

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use crate::context::{CancelCauseFunc, Cause, Context};
use crate::loom::Mutex;
use crate::semaphore::{Permit, Weighted};
use crate::sync::WaitGroup;

/// A collection of tasks whose first error is kept and, with
/// [`with_context`](Group::with_context), cancels the others. Cloning gives
/// another handle to the same group.
pub struct Group<E> {
    inner: Arc<Inner<E>>,
}

struct Inner<E> {
    wg: WaitGroup,
    /// Cancels the context of `with_context`.
    cancel: Option<CancelCauseFunc>,
    failure: Mutex<Failure<E>>,
    /// The slots of `set_limit`; `None`: unlimited.
    limit: Mutex<Option<Weighted>>,
}

struct Failure<E> {
    err: Option<E>,
    panic: Option<Box<dyn Any + Send>>,
    /// A `wait` has returned the first error or resumed the first panic:
    /// later errors are dropped, and a later wait with no panic to resume
    /// panics.
    returned: bool,
}

impl<E: Send + 'static> Group<E> {
    /// A group with no context and no limit. Go's zero `Group`.
    pub fn new() -> Group<E> {
        Group::with_cancel(None)
    }

    /// A group and a context derived from `ctx` that is cancelled by the first
    /// failing task or when [`wait`](Group::wait) returns. The first error is
    /// its cause where `E` allows (module docs).
    pub fn with_context(ctx: &Context) -> (Group<E>, Context) {
        let (ctx, cancel) = ctx.with_cancel_cause();
        (Group::with_cancel(Some(cancel)), ctx)
    }

    fn with_cancel(cancel: Option<CancelCauseFunc>) -> Group<E> {
        Group {
            inner: Arc::new(Inner {
                wg: WaitGroup::new(),
                cancel,
                failure: Mutex::new(Failure {
                    err: None,
                    panic: None,
                    returned: false,
                }),
                limit: Mutex::new(None),
            }),
        }
    }

    /// Runs `f` in a new task ([`go`](crate::go)), first waiting for a free
    /// slot if a limit is set (forever if the limit is 0, as in Go).
    pub async fn go<F>(&self, f: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        let limit = self.inner.limit.lock().clone();
        let permit = match limit {
            None => None,
            Some(slots) => Some(take_slot(&slots).await),
        };
        self.spawn(f, permit);
    }

    /// Runs `f` in a new task if a slot is free (always, without a limit);
    /// `false` if none is.
    pub fn try_go<F>(&self, f: F) -> bool
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        let permit = match &*self.inner.limit.lock() {
            None => None,
            Some(slots) => match slots.try_acquire(1) {
                Some(permit) => Some(permit),
                None => return false,
            },
        };
        self.spawn(f, permit);
        true
    }

    /// Limits the number of tasks running at once to `n` (`None`: no limit).
    ///
    /// # Panics
    /// As Go's, if `n` is `Some` and tasks started under the current limit
    /// are still running. Removing the limit never panics (Go's
    /// `SetLimit(-1)`); running tasks keep their slots of the old one.
    pub fn set_limit(&self, n: Option<usize>) {
        let mut limit = self.inner.limit.lock();
        let Some(n) = n else {
            *limit = None;
            return;
        };
        if let Some(slots) = &*limit
            && slots.held() != 0
        {
            let active = slots.held();
            drop(limit);
            panic!(
                "errgroup: modify limit while {active} goroutines in the group are still active"
            );
        }
        *limit = Some(Weighted::new(n as u64));
    }

    /// Waits for every task to return; then cancels the context of
    /// `with_context` and returns the first error. Resumes the first task
    /// panic instead, if there was one.
    ///
    /// # Panics
    /// If an earlier `wait` already returned the group's error or resumed
    /// its panic (see the module docs).
    pub async fn wait(&self) -> Result<(), E> {
        self.inner.wg.wait().await;
        if let Some(cancel) = &self.inner.cancel {
            cancel.cancel(None);
        }
        let mut failure = self.inner.failure.lock();
        if let Some(payload) = failure.panic.take() {
            failure.returned = true;
            drop(failure);
            std::panic::resume_unwind(payload);
        }
        if let Some(err) = failure.err.take() {
            failure.returned = true;
            return Err(err);
        }
        if failure.returned {
            drop(failure);
            panic!("errgroup: Wait called again after an earlier Wait returned the group's error");
        }
        Ok(())
    }

    /// [`wait`](Group::wait), blocking this thread. For plain threads.
    pub fn wait_blocking(&self) -> Result<(), E> {
        crate::runtime::park::wait(self.wait())
    }

    fn spawn<F>(&self, f: F, permit: Option<Permit>)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        self.inner.wg.add(1);
        let guard = TaskGuard {
            inner: self.inner.clone(),
            permit,
        };
        let task = async move {
            let outcome = catch_unwind(f).await;
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(err)) => guard.inner.fail(Some(err), None),
                Err(payload) => guard.inner.fail(None, Some(payload)),
            }
            drop(guard);
        };
        drop(crate::go(task));
    }
}

/// A slot; with a limit of 0, never (Go blocks every `Go` forever): a
/// request larger than the semaphore waits for its context, which here
/// never ends.
async fn take_slot(slots: &Weighted) -> Permit {
    slots
        .acquire(Context::shared_background(), 1)
        .await
        .expect("a background context is never cancelled")
}

/// Polls `f`, turning a panic into `Err(payload)`.
async fn catch_unwind<F: Future>(f: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut f = pin!(f);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    })
    .await
}

impl<E: 'static> Inner<E> {
    /// Records a failure (the first error, the first panic) and cancels,
    /// with the error as the cause if it is the first and can be one.
    fn fail(&self, err: Option<E>, panic: Option<Box<dyn Any + Send>>) {
        let mut failure = self.failure.lock();
        let first = failure.err.is_none() && failure.panic.is_none();
        let mut cause = None;
        // Once a `wait` has returned the first failure, it stays the group's:
        // a later error is dropped (a later panic still resurfaces).
        if failure.err.is_none() && !failure.returned {
            cause = err.as_ref().and_then(as_cause);
            failure.err = err;
        }
        if failure.panic.is_none() {
            failure.panic = panic;
        }
        drop(failure);
        // Only the first failure cancels (Go cancels inside its `errOnce`):
        // a later one, racing ahead of it, would cancel with no cause.
        if first && let Some(cancel) = &self.cancel {
            cancel.cancel(cause);
        }
    }
}

/// `err` as a context cause, where its type allows (module docs).
fn as_cause<E: 'static>(err: &E) -> Option<Cause> {
    let err: &dyn Any = err;
    if let Some(cause) = err.downcast_ref::<Cause>() {
        return Some(cause.clone());
    }
    let text = crate::runtime::task::text_of(err)?;
    Some(Arc::new(ErrorString(text.to_string())))
}

/// A string as an error: Go's `errors.New`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ErrorString(String);

/// Ends a task's membership: releases its slot, then the count (Go's order).
struct TaskGuard<E> {
    inner: Arc<Inner<E>>,
    permit: Option<Permit>,
}

impl<E> Drop for TaskGuard<E> {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.inner.wg.done();
    }
}

impl<E: Send + 'static> Default for Group<E> {
    fn default() -> Group<E> {
        Group::new()
    }
}

impl<E> Clone for Group<E> {
    fn clone(&self) -> Group<E> {
        Group {
            inner: self.inner.clone(),
        }
    }
}

impl<E> fmt::Debug for Group<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("running", &self.inner.wg.count())
            .field(
                "limit",
                &self.inner.limit.lock().as_ref().map(Weighted::size),
            )
            .finish()
    }
}
