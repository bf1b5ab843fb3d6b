//! golang.org/x/sync/semaphore's tests, ported from their documented
//! behaviour, plus adversarial ones: futures dropped at every await point,
//! acquire racing with cancel.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll, Waker};
use std::thread;
use std::time::Duration;

use gort::context::{Context, ContextError};
use gort::semaphore::Weighted;

/// Polls `f` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut TaskContext::from_waker(Waker::noop()))
}

#[test]
fn hammer_never_exceeds_the_size() {
    const SIZE: u64 = 5;
    let sem = Weighted::new(SIZE);
    let in_use = Arc::new(AtomicU64::new(0));
    gort::run(async {
        let handles: Vec<_> = (0..16u64)
            .map(|i| {
                let sem = sem.clone();
                let in_use = in_use.clone();
                gort::go(async move {
                    let ctx = Context::background();
                    for j in 0..200u64 {
                        let n = 1 + (i + j) % SIZE;
                        let permit = sem.acquire(&ctx, n).await.unwrap();
                        let now = in_use.fetch_add(n, Ordering::SeqCst) + n;
                        assert!(now <= SIZE, "{now} permits in use");
                        gort::yield_now().await;
                        in_use.fetch_sub(n, Ordering::SeqCst);
                        drop(permit);
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(sem.held(), 0);
    assert_eq!(sem.waiters(), 0);
}

#[test]
fn release_more_than_held_panics() {
    let sem = Weighted::new(1);
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.release(1))).unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("released more than held"), "{msg}");
}

#[test]
fn try_acquire_sequence() {
    let sem = Weighted::new(2);
    let a = sem.try_acquire(1).expect("1 of 2");
    let b = sem.try_acquire(1).expect("2 of 2");
    assert!(sem.try_acquire(1).is_none());
    drop(a);
    let c = sem.try_acquire(1).expect("released one");
    assert!(sem.try_acquire(1).is_none());
    drop((b, c));
    assert!(sem.try_acquire(2).is_some());
    assert!(sem.try_acquire(3).is_none(), "more than the size");
}

#[test]
fn acquire_sequence_and_forget() {
    let sem = Weighted::new(3);
    gort::run(async {
        let ctx = Context::background();
        let p = sem.acquire(&ctx, 2).await.unwrap();
        assert_eq!(p.count(), 2);
        p.forget();
        assert_eq!(sem.held(), 2);
        assert!(sem.try_acquire(2).is_none());
        sem.release(2);
        let all = sem.acquire(&ctx, 3).await.unwrap();
        assert_eq!(sem.held(), 3);
        drop(all);
        assert_eq!(sem.held(), 0);
    });
}

#[test]
fn a_request_larger_than_the_size_waits_for_its_context_to_end() {
    // x/sync: `if n > s.size { <-ctx.Done(); return ctx.Err() }`.
    let sem = Weighted::new(10);
    gort::run(async {
        let (ctx, _c) = Context::background().with_timeout(Duration::from_millis(30));
        let r = sem.acquire(&ctx, 11).await;
        assert_eq!(r.unwrap_err(), ContextError::DeadlineExceeded);
        assert!(
            ctx.err().is_some(),
            "it returned only once its context ended"
        );
        // Without joining the queue: a smaller request behind it is served.
        let (ctx, cancel) = Context::background().with_cancel();
        let mut big = pin!(sem.acquire(&ctx, 11));
        assert!(poll_once(&mut big).is_pending());
        assert_eq!(sem.waiters(), 0);
        assert!(sem.try_acquire(10).is_some());
        cancel.cancel();
        assert_eq!(big.await.unwrap_err(), ContextError::Canceled);
    });
    assert_eq!(sem.waiters(), 0);
}

#[test]
fn a_done_context_fails_even_with_permits_free() {
    let sem = Weighted::new(10);
    let (ctx, cancel) = Context::background().with_cancel();
    cancel.cancel();
    let mut f = pin!(sem.acquire(&ctx, 1));
    assert!(matches!(
        f.as_mut().poll(&mut TaskContext::from_waker(Waker::noop())),
        Poll::Ready(Err(ContextError::Canceled))
    ));
    let (ctx, _c) = Context::background().with_timeout(Duration::ZERO);
    let r = gort::run(sem.acquire(&ctx, 1));
    assert_eq!(r.unwrap_err(), ContextError::DeadlineExceeded);
    assert_eq!(sem.held(), 0);
}

#[test]
fn waiters_are_served_fifo_and_a_big_head_blocks_small_ones() {
    let sem = Weighted::new(4);
    let bg = Context::background();
    let held = sem.try_acquire(3).unwrap();
    let mut big = Box::pin(sem.acquire(&bg, 4));
    let mut small = Box::pin(sem.acquire(&bg, 1));
    assert!(poll_once(&mut big).is_pending());
    assert!(
        poll_once(&mut small).is_pending(),
        "one is free, but the head waits"
    );
    assert!(
        sem.try_acquire(1).is_none(),
        "try_acquire does not jump the queue"
    );
    drop(held);
    let big_permit = match poll_once(&mut big) {
        Poll::Ready(Ok(p)) => p,
        other => panic!("{other:?}"),
    };
    assert!(poll_once(&mut small).is_pending());
    drop(big_permit);
    assert!(matches!(poll_once(&mut small), Poll::Ready(Ok(_))));
    assert_eq!(sem.held(), 0);
}

#[test]
fn a_cancelled_waiter_leaves_and_lets_the_next_through() {
    // x/sync TestAllocCancelDoesntStarve.
    let sem = Weighted::new(10);
    let bg = Context::background();
    let one = sem.try_acquire(1).unwrap();
    let (ctx, cancel) = bg.with_cancel();
    let mut big = Box::pin(sem.acquire(&ctx, 10));
    assert!(poll_once(&mut big).is_pending());
    let mut small = Box::pin(sem.acquire(&bg, 1));
    assert!(poll_once(&mut small).is_pending());
    cancel.cancel();
    assert!(matches!(
        poll_once(&mut big),
        Poll::Ready(Err(ContextError::Canceled))
    ));
    assert!(matches!(poll_once(&mut small), Poll::Ready(Ok(_))));
    drop(one);
    assert_eq!(sem.waiters(), 0);
}

#[test]
fn a_cancelled_waiter_is_woken() {
    let sem = Weighted::new(1);
    let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(60));
    let held = sem.try_acquire(1).unwrap();
    gort::run(async {
        let waiter = {
            let sem = sem.clone();
            let ctx = ctx.clone();
            gort::go(async move { sem.acquire(&ctx, 1).await.map(drop) })
        };
        gort::time::sleep(Duration::from_millis(10)).await;
        cancel.cancel();
        assert_eq!(waiter.await.unwrap(), Err(ContextError::Canceled));
    });
    drop(held);
    assert_eq!((sem.held(), sem.waiters()), (0, 0));
}

#[test]
fn large_acquire_does_not_starve() {
    // x/sync TestLargeAcquireDoesntStarve.
    let sem = Weighted::new(2);
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    gort::run(async {
        let mut small = Vec::new();
        for _ in 0..2 {
            let (sem, running) = (sem.clone(), running.clone());
            small.push(gort::go(async move {
                let ctx = Context::background();
                while running.load(Ordering::SeqCst) {
                    let p = sem.acquire(&ctx, 1).await.unwrap();
                    gort::yield_now().await;
                    drop(p);
                }
            }));
        }
        let big = sem.acquire(&Context::background(), 2).await.unwrap();
        running.store(false, Ordering::SeqCst);
        drop(big);
        for h in small {
            h.await.unwrap();
        }
    });
}

#[test]
fn dropping_a_queued_acquire_unblocks_the_queue() {
    let sem = Weighted::new(2);
    let bg = Context::background();
    let held = sem.try_acquire(1).unwrap();
    let mut head = Box::pin(sem.acquire(&bg, 2));
    let mut next = Box::pin(sem.acquire(&bg, 1));
    assert!(poll_once(&mut head).is_pending());
    assert!(poll_once(&mut next).is_pending());
    drop(head);
    // The head left while one permit was free: the next one got it.
    assert!(matches!(poll_once(&mut next), Poll::Ready(Ok(_))));
    drop(held);
    assert_eq!((sem.held(), sem.waiters()), (0, 0));
}

#[test]
fn dropping_a_granted_but_unobserved_acquire_gives_the_permits_back() {
    let sem = Weighted::new(3);
    let bg = Context::background();
    let held = sem.try_acquire(3).unwrap();
    let mut f = Box::pin(sem.acquire(&bg, 2));
    assert!(poll_once(&mut f).is_pending());
    drop(held); // grants 2 to `f`, which never sees it
    assert_eq!(sem.held(), 2);
    drop(f);
    assert_eq!((sem.held(), sem.waiters()), (0, 0));
}

#[test]
fn a_grant_racing_with_cancel_returns_the_error_and_the_permits() {
    let sem = Weighted::new(1);
    let (ctx, cancel) = Context::background().with_cancel();
    let held = sem.try_acquire(1).unwrap();
    let mut f = Box::pin(sem.acquire(&ctx, 1));
    assert!(poll_once(&mut f).is_pending());
    drop(held); // granted ...
    cancel.cancel(); // ... and cancelled before it is polled
    assert!(matches!(
        poll_once(&mut f),
        Poll::Ready(Err(ContextError::Canceled))
    ));
    assert_eq!(sem.held(), 0);
}

#[test]
fn acquire_racing_with_cancel_leaks_nothing() {
    let sem = Weighted::new(3);
    for round in 0..50 {
        let (ctx, cancel) = Context::background().with_cancel();
        let threads: Vec<_> = (0..4u64)
            .map(|i| {
                let (sem, ctx) = (sem.clone(), ctx.clone());
                thread::spawn(move || {
                    for j in 0..50u64 {
                        let n = 1 + (i + j) % 3;
                        let fut = sem.acquire(&ctx, n);
                        let r = if (round + j) % 3 == 0 {
                            // Dropped after one poll, queued or not.
                            let mut fut = Box::pin(fut);
                            match poll_once(&mut fut) {
                                Poll::Ready(r) => r.map(drop),
                                Poll::Pending => Ok(()),
                            }
                        } else {
                            gort::run(fut).map(drop)
                        };
                        if r.is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_micros(200));
        cancel.cancel();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!((sem.held(), sem.waiters()), (0, 0), "round {round}");
    }
}

#[test]
fn permit_is_static_and_send() {
    fn assert_static_send<T: Send + 'static>(_: &T) {}
    let sem = Weighted::new(1);
    let p = sem.try_acquire(1).unwrap();
    assert_static_send(&p);
    drop(sem);
    let t = thread::spawn(move || drop(p));
    t.join().unwrap();
}
