//! Blocking a plain OS thread on a future: the thread parks, and the waker
//! the future registers unparks it. Every `*_blocking` / `*_timeout` method
//! (channels, `select_blocking!`, `WaitGroup`, `errgroup`) runs on this, so
//! the thread and the async paths share one protocol. (`Runtime::block_on`
//! has its own loop: it also watches for deadlocks.)
//!
//! Spurious unparks are harmless: the future is polled again and stays
//! pending. The waker is made once per thread and reused.
//!
//! Before parking, the thread backs off for a few rounds (spin, then
//! `yield_now`, crossbeam's `Backoff`), re-polling in between: once the
//! operation is registered a re-poll only reads its select state, and a
//! counterpart that arrives within microseconds then costs no park/unpark
//! round trip through the kernel.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

use crossbeam_utils::Backoff;

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    static WAKER: Waker = Waker::from(Arc::new(Unparker(thread::current())));
}

/// Runs `f` with this thread's waker (it unparks this thread).
pub(crate) fn with_thread_waker<R>(f: impl FnOnce(&Waker) -> R) -> R {
    WAKER.with(f)
}

/// Polls `fut` on this thread until it is ready.
pub(crate) fn wait<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    block_on(&mut fut, None).expect("no deadline")
}

/// Polls `fut` on this thread until it is ready, or until `deadline` has
/// passed (`None` then; the future was polled once more at the deadline and
/// is left as it is, for the caller to abort).
pub(crate) fn block_on<F: Future + Unpin>(
    fut: &mut F,
    deadline: Option<Instant>,
) -> Option<F::Output> {
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        let backoff = Backoff::new();
        loop {
            if let Poll::Ready(v) = Pin::new(&mut *fut).poll(&mut cx) {
                return Some(v);
            }
            let now = deadline.map(|_| Instant::now());
            if let (Some(deadline), Some(now)) = (deadline, now)
                && now >= deadline
            {
                return None;
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            match (deadline, now) {
                (Some(deadline), Some(now)) => thread::park_timeout(deadline - now),
                _ => thread::park(),
            }
        }
    })
}
