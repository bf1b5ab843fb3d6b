#![cfg(gort_loom)]
//! loom models of the semaphore's waiter queue: grant vs. cancel vs. drop.
//!
//! Run: `RUSTFLAGS="--cfg gort_loom" CARGO_TARGET_DIR=target/loom cargo test --release --test loom_semaphore`

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};

use gort::context::{Context, ContextError};
use gort::semaphore::Weighted;
use loom::thread;

mod loom_support;
use loom_support::{block_on, model};

#[test]
fn two_acquirers_one_permit() {
    model(|| {
        let sem = Weighted::new(1);
        let s = sem.clone();
        let t = thread::spawn(move || {
            let p = block_on(s.acquire(&Context::background(), 1)).unwrap();
            drop(p);
        });
        let p = block_on(sem.acquire(&Context::background(), 1)).unwrap();
        drop(p);
        t.join().unwrap();
        assert_eq!((sem.held(), sem.waiters()), (0, 0));
    });
}

#[test]
fn acquire_racing_with_cancel_and_release() {
    model(|| {
        let sem = Weighted::new(1);
        let held = sem.try_acquire(1).unwrap();
        let (ctx, cancel) = Context::background().with_cancel();
        let s = sem.clone();
        let waiter = thread::spawn(move || {
            let r = block_on(s.acquire(&ctx, 1));
            // Either outcome is fine; a granted permit goes back on drop.
            match r {
                Ok(p) => drop(p),
                Err(e) => assert_eq!(e, ContextError::Canceled),
            }
        });
        let canceller = thread::spawn(move || cancel.cancel());
        drop(held);
        canceller.join().unwrap();
        waiter.join().unwrap();
        assert_eq!((sem.held(), sem.waiters()), (0, 0));
    });
}

#[test]
fn dropped_waiter_racing_with_release() {
    model(|| {
        let sem = Weighted::new(2);
        let held = sem.try_acquire(2).unwrap();
        let s = sem.clone();
        let t = thread::spawn(move || {
            let bg = Context::background();
            let mut fut = Box::pin(s.acquire(&bg, 2));
            let polled = Pin::new(&mut fut).poll(&mut TaskContext::from_waker(Waker::noop()));
            if let Poll::Ready(r) = polled {
                drop(r.unwrap());
            }
            // Dropped while queued, granted-but-unseen, or done.
        });
        drop(held);
        t.join().unwrap();
        assert_eq!((sem.held(), sem.waiters()), (0, 0));
    });
}
