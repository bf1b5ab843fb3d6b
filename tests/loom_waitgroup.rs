#![cfg(gort_loom)]
//! loom model of the WaitGroup: the counter's zeroing `done` racing with a
//! waiter registering, and reuse after `wait` returns.
//!
//! Run: `RUSTFLAGS="--cfg gort_loom" CARGO_TARGET_DIR=target/loom cargo test --release --test loom_waitgroup`

use gort::sync::WaitGroup;
use loom::thread;

mod loom_support;
use loom_support::{block_on, model};

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
