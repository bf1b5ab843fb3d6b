#![cfg(gort_loom)]
//! loom model of the WaitGroup: the counter's zeroing `done` racing with a
//! waiter registering, and reuse after `wait` returns.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --test loom_waitgroup`

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use gort::sync::WaitGroup;
use loom::sync::Notify;
use loom::thread;

struct NotifyWaker(Notify);

impl Wake for NotifyWaker {
    fn wake(self: Arc<Self>) {
        self.0.notify();
    }
}

/// Polls `f` on this loom thread, waiting on a loom `Notify` between polls: a
/// lost wakeup shows up as a deadlock loom reports.
fn block_on<F: Future>(f: F) -> F::Output {
    let notify = Arc::new(NotifyWaker(Notify::new()));
    let waker = Waker::from(notify.clone());
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut Context::from_waker(&waker)) {
            return out;
        }
        notify.0.wait();
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    // LOOM_MAX_PREEMPTIONS wins when set; 3 keeps each model well under a minute.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(3));
    builder.check(f);
}

#[test]
fn done_racing_with_wait_never_loses_the_wakeup() {
    model(|| {
        let wg = WaitGroup::new();
        wg.add(2);
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let wg = wg.clone();
                thread::spawn(move || wg.done())
            })
            .collect();
        block_on(wg.wait());
        assert_eq!(wg.count(), 0);
        workers.into_iter().for_each(|t| t.join().unwrap());
    });
}

#[test]
fn reuse_after_wait() {
    model(|| {
        let wg = WaitGroup::new();
        for _ in 0..2 {
            wg.add(1);
            let w = wg.clone();
            let t = thread::spawn(move || w.done());
            block_on(wg.wait());
            t.join().unwrap();
        }
        assert_eq!(wg.registered_waiters(), 0);
    });
}
