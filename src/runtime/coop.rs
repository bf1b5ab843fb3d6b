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
pub(crate) const BUDGET: u64 = 128;

/// The budget outside a gort task: one operation at a time, it would take
/// centuries to spend, so a plain thread never waits on it. A sentinel
/// rather than an `Option`: spending is a load, a test and a store, on the
/// path of every channel operation.
const UNLIMITED: u64 = u64::MAX;

thread_local! {
    static REMAINING: Cell<u64> = const { Cell::new(UNLIMITED) };
}

/// Runs `f` (one poll of a task) with a fresh budget.
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(u64);
    impl Drop for Reset {
        fn drop(&mut self) {
            REMAINING.set(self.0);
        }
    }
    let _reset = Reset(REMAINING.replace(BUDGET));
    f()
}

/// Spends one unit of the current task's budget. When it is used up, schedules
/// the task again and returns `Pending`: the caller returns `Pending` too and
/// has changed nothing.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let n = REMAINING.get();
    if n == 0 {
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    REMAINING.set(n - 1);
    Poll::Ready(())
}

/// Uses up the current task's budget, so it yields at its next gort operation.
pub(crate) fn exhaust() {
    // Inside a task the budget is at most `BUDGET`; outside, near `UNLIMITED`.
    if REMAINING.get() <= BUDGET {
        REMAINING.set(0);
    }
}
