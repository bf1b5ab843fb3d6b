//! What the loom models of gort's async primitives share: a `block_on` for a
//! loom thread and a model runner with a default preemption bound.
//!
//! Each `tests/loom_*.rs` that needs them declares `mod loom_support;`; not
//! every model uses both.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::Notify;

/// Wakes [`block_on`]. A `Notify` rather than `thread::unpark`: a late wake
/// must not unpark the thread while it is blocked in `join` (loom does not
/// allow that spurious wakeup), and a lost wakeup shows up as a deadlock loom
/// reports.
struct Wakeup(Notify);

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        self.0.notify();
    }
}

/// Runs `fut` on the current loom thread, waiting while it is pending.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let wakeup = Arc::new(Wakeup(Notify::new()));
    let waker = Waker::from(wakeup.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        wakeup.0.wait();
    }
}

/// Checks `f` under loom; `LOOM_MAX_PREEMPTIONS` wins when set, else 3 keeps
/// each model well under a minute.
pub fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(3));
    builder.check(f);
}
