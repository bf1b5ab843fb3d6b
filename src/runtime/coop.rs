//! The cooperative budget: a task that keeps finding its channels ready is made
//! to yield after [`BUDGET`] operations, so it cannot starve the other tasks of
//! its P (Go gets this from preemption; a future can only be asked to yield).
//!
//! The worker sets the budget before it polls a task; every gort primitive that
//! may complete without waiting calls [`poll_proceed`] first. Outside a gort
//! task (a plain thread, another executor) the budget is unlimited.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations a task may complete in one poll before it is made to yield.
pub(crate) const BUDGET: u32 = 128;

thread_local! {
    /// `None`: not inside a gort task, no limit.
    static REMAINING: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Runs `f` (one poll of a task) with a fresh budget.
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(Option<u32>);
    impl Drop for Reset {
        fn drop(&mut self) {
            REMAINING.set(self.0);
        }
    }
    let _reset = Reset(REMAINING.replace(Some(BUDGET)));
    f()
}

/// Spends one unit of the current task's budget. When it is used up, schedules
/// the task again and returns `Pending`: the caller returns `Pending` too and
/// has changed nothing.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    match REMAINING.get() {
        None => Poll::Ready(()),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            REMAINING.set(Some(n - 1));
            Poll::Ready(())
        }
    }
}

/// Uses up the current task's budget, so it yields at its next gort operation.
pub(crate) fn exhaust() {
    if REMAINING.get().is_some() {
        REMAINING.set(Some(0));
    }
}
