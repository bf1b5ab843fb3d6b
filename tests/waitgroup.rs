//! Go's sync.WaitGroup tests, ported from their documented behaviour.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use gort::sync::WaitGroup;

#[test]
fn wait_returns_only_when_every_done_happened() {
    // Go's TestWaitGroup: wg1 counts the workers, who then wait on wg2.
    for _ in 0..20 {
        let (wg1, wg2) = (WaitGroup::new(), WaitGroup::new());
        let n = 16;
        wg1.add(n);
        wg2.add(n);
        let passed = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let (wg1, wg2, passed) = (wg1.clone(), wg2.clone(), passed.clone());
                thread::spawn(move || {
                    wg1.done();
                    wg2.wait_blocking();
                    passed.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        wg1.wait_blocking();
        for _ in 0..n {
            assert_eq!(passed.load(Ordering::SeqCst), 0, "wg2.wait returned early");
            wg2.done();
        }
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(passed.load(Ordering::SeqCst), n as usize);
    }
}

#[test]
fn negative_counter_panics_with_gos_message() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wg.done())).unwrap_err();
    assert_eq!(
        err.downcast_ref::<&str>(),
        Some(&"sync: negative WaitGroup counter")
    );
    let err = std::panic::catch_unwind(|| WaitGroup::new().add(-2)).unwrap_err();
    assert_eq!(
        err.downcast_ref::<&str>(),
        Some(&"sync: negative WaitGroup counter")
    );
    // A counter pushed past `isize::MAX` wraps negative: Go's words again,
    // not an arithmetic-overflow panic of a debug build.
    let full = WaitGroup::new();
    full.add(isize::MAX);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| full.add(1))).unwrap_err();
    assert_eq!(
        err.downcast_ref::<&str>(),
        Some(&"sync: negative WaitGroup counter")
    );
}

#[test]
fn wait_on_zero_returns_at_once() {
    let wg = WaitGroup::default();
    wg.wait_blocking();
    gort::run(wg.wait());
}

#[test]
fn reusable_after_wait_returns() {
    // Go's TestWaitGroupRace, plus reuse.
    let wg = WaitGroup::new();
    gort::run(async {
        for round in 0..200 {
            let n = Arc::new(AtomicUsize::new(0));
            for _ in 0..3 {
                wg.add(1);
                let (wg, n) = (wg.clone(), n.clone());
                drop(gort::go(async move {
                    n.fetch_add(1, Ordering::SeqCst);
                    wg.done();
                }));
            }
            wg.wait().await;
            assert_eq!(n.load(Ordering::SeqCst), 3, "round {round}");
        }
    });
}

#[test]
fn go_runs_each_function_and_waits_for_all() {
    let wg = WaitGroup::new();
    let ran = Arc::new(AtomicUsize::new(0));
    gort::run(async {
        for _ in 0..1000 {
            let ran = ran.clone();
            wg.go(async move {
                gort::yield_now().await;
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
        wg.wait().await;
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1000);
    assert_eq!(wg.count(), 0);
}

#[test]
fn go_calls_done_even_when_the_function_panics() {
    let wg = WaitGroup::new();
    wg.go(async { panic!("boom") });
    wg.wait_blocking();
    assert_eq!(wg.count(), 0);
}

#[test]
fn many_waiters_are_all_woken() {
    let wg = WaitGroup::new();
    wg.add(1);
    let waiters: Vec<_> = (0..100)
        .map(|_| {
            let wg = wg.clone();
            gort::go(async move { wg.wait().await })
        })
        .collect();
    let blocking: Vec<_> = (0..4)
        .map(|_| {
            let wg = wg.clone();
            thread::spawn(move || wg.wait_blocking())
        })
        .collect();
    thread::sleep(Duration::from_millis(10));
    assert!(waiters.iter().all(|h| !h.is_finished()));
    wg.done();
    for h in waiters {
        h.join().unwrap();
    }
    blocking.into_iter().for_each(|t| t.join().unwrap());
}

#[test]
fn a_dropped_wait_leaves_no_registration_behind() {
    let wg = WaitGroup::new();
    wg.add(1);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        let mut wait = Box::pin(wg.wait());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert_eq!(wg.registered_waiters(), 1);
    }
    assert_eq!(wg.registered_waiters(), 0);
    let mut kept = Box::pin(wg.wait());
    assert!(kept.as_mut().poll(&mut cx).is_pending());
    wg.done();
    assert_eq!(Pin::new(&mut kept).poll(&mut cx), Poll::Ready(()));
    // Reused: a wait of the next generation blocks again.
    wg.add(1);
    let mut next = Box::pin(wg.wait());
    assert!(next.as_mut().poll(&mut cx).is_pending());
    wg.done();
    assert!(next.as_mut().poll(&mut cx).is_ready());
}
