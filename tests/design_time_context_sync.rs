//! DESIGN.md conformance, black-box (public API only): §5 time, §6 context,
//! §7 WaitGroup / errgroup / semaphore, and the matching §10 details.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use gort::chan::{RecvTimeoutError, TryRecvError};
use gort::context::{Cause, Context, ContextError, Key};
use gort::errgroup::Group;
use gort::semaphore::{Permit, Weighted};
use gort::sync::WaitGroup;
use gort::time::{Elapsed, Ticker, Timer, after, sleep, tick, timeout};
use gort::{go, run, select, select_blocking};

mod design_support;
use design_support::*;

#[derive(Debug)]
struct MyErr(&'static str);
impl std::fmt::Display for MyErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for MyErr {}

// ---------------------------------------------------------------- §5 time

#[test]
fn sleep_and_timeout_in_run() {
    run(async {
        let s = Instant::now();
        sleep(Duration::from_millis(30)).await;
        assert!(s.elapsed() >= Duration::from_millis(30));
        let r: Result<(), Elapsed> =
            timeout(Duration::from_millis(20), std::future::pending()).await;
        assert!(r.is_err());
        let r = timeout(Duration::from_secs(5), async { 3 }).await;
        assert_eq!(r, Ok(3));
    });
    assert!(
        !Elapsed::to_string(
            &run(timeout(Duration::ZERO, std::future::pending::<()>())).unwrap_err()
        )
        .is_empty()
    );
}

#[test]
fn after_sends_one_value_and_is_not_closed() {
    let start = Instant::now();
    let rx = after(Duration::from_millis(30));
    let t = within(10, move || {
        let t = rx.recv_blocking().unwrap();
        // one value only, and the channel is not closed (Go's timer channels)
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(100)),
            Err(RecvTimeoutError::Timeout)
        );
        t
    });
    assert!(t >= start + Duration::from_millis(30));
}

#[test]
fn tick_drops_ticks_for_slow_readers() {
    let rx = tick(Duration::from_millis(10));
    thread::sleep(Duration::from_millis(200));
    assert!(rx.len() <= 1, "backlog of {} ticks", rx.len());
    within(10, move || {
        let a = rx.recv_blocking().unwrap();
        let b = rx.recv_blocking().unwrap();
        assert!(b > a);
    });
}

#[test]
fn tick_zero_never_ticks() {
    let rx = tick(Duration::ZERO);
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(30)),
        Err(RecvTimeoutError::Timeout)
    );
}

#[test]
fn timer_stop_reset_as_go_basic() {
    let t = Timer::new(Duration::from_secs(3600));
    assert!(t.stop(), "active timer: stop true");
    assert!(!t.stop(), "stopped timer: stop false");
    assert!(
        !t.reset(Duration::from_millis(20)),
        "stopped timer: reset false"
    );
    assert!(
        t.reset(Duration::from_millis(20)),
        "active timer: reset true"
    );
    let c = within(10, move || {
        let v = t.c().recv_blocking();
        (
            v.is_some(),
            t.stop(),
            t.reset(Duration::from_secs(3600)),
            t.stop(),
        )
    });
    // after the value was received: stop false, reset false, then active again
    assert_eq!(c, (true, false, false, true));
}

#[test]
fn timer_stop_prevents_delivery() {
    let t = Timer::new(Duration::from_millis(30));
    assert!(t.stop());
    assert_eq!(
        t.c().recv_timeout(Duration::from_millis(150)),
        Err(RecvTimeoutError::Timeout)
    );
}

#[test]
fn ticker_ticks_stops_resets() {
    let tk = Ticker::new(Duration::from_millis(10));
    within(10, move || {
        for _ in 0..3 {
            tk.c().recv_blocking().unwrap();
        }
        tk.stop();
        assert_eq!(
            tk.c().recv_timeout(Duration::from_millis(100)),
            Err(RecvTimeoutError::Timeout)
        );
        tk.reset(Duration::from_millis(10));
        assert!(tk.c().recv_timeout(Duration::from_secs(2)).is_ok());
        tk.stop();
    });
}

#[test]
fn timers_from_plain_threads_and_in_select() {
    within(10, || {
        let t = Timer::new(Duration::from_millis(20));
        let r = select_blocking! {
            recv(t.c()) -> v => v.is_some(),
            recv(after(Duration::from_secs(5))) -> _ => false,
        };
        assert!(r);
        let v = foreign_block_on(async {
            let t = Timer::new(Duration::from_millis(10));
            t.c().recv().await
        });
        assert!(v.is_some());
    });
}

// ---------------------------------------------------------------- §6 context

static K1: Key<u32> = Key::new("k");
static K2: Key<u32> = Key::new("k");
static KS: Key<String> = Key::new("k");

#[test]
fn background_and_todo() {
    for ctx in [Context::background(), Context::todo()] {
        assert_eq!(ctx.err(), None);
        assert!(ctx.cause().is_none());
        assert_eq!(ctx.deadline(), None);
        assert_eq!(ctx.done().try_recv(), Err(TryRecvError::Empty));
        let r = select_blocking! {
            recv(ctx.done()) -> _ => 1,
            default => 2,
        };
        assert_eq!(r, 2);
    }
}

#[test]
fn cancel_flows_down_never_up() {
    let root = Context::background();
    let (p, pc) = root.with_cancel();
    let (c, cc) = p.with_cancel();
    let (g, _gc) = c.with_cancel();
    let v = g.with_value(&K1, 1);
    cc.cancel();
    assert_eq!(p.err(), None, "never upward");
    assert_eq!(p.done().try_recv(), Err(TryRecvError::Empty));
    assert_eq!(c.err(), Some(ContextError::Canceled));
    assert_eq!(g.err(), Some(ContextError::Canceled));
    assert_eq!(v.err(), Some(ContextError::Canceled));
    assert_eq!(g.done().try_recv(), Err(TryRecvError::Closed));
    assert_eq!(v.done().recv_blocking(), None);
    assert_eq!(c.cause().unwrap().to_string(), "context canceled");
    cc.cancel(); // idempotent
    pc.cancel();
    assert_eq!(p.err(), Some(ContextError::Canceled));
    // child made after the parent is done is done at once
    let (late, _lc) = p.with_cancel();
    assert_eq!(late.err(), Some(ContextError::Canceled));
    assert_eq!(late.done().try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn cancel_wakes_selecting_task() {
    let (ctx, cancel) = Context::background().with_cancel();
    let h = go(async move {
        select! {
            recv(ctx.done()) -> _ => ctx.err(),
            recv(after(Duration::from_secs(10))) -> _ => None,
        }
    });
    thread::sleep(Duration::from_millis(30));
    cancel.cancel();
    assert_eq!(
        within(10, move || h.join().unwrap()),
        Some(ContextError::Canceled)
    );
}

#[test]
fn cancel_cause() {
    let (c, cancel) = Context::background().with_cancel_cause();
    let (child, _cc) = c.with_cancel();
    cancel.cancel(Some(Arc::new(MyErr("boom"))));
    assert_eq!(c.err(), Some(ContextError::Canceled));
    assert_eq!(c.cause().unwrap().to_string(), "boom");
    assert_eq!(
        child.cause().unwrap().to_string(),
        "boom",
        "child inherits the cause"
    );
    cancel.cancel(Some(Arc::new(MyErr("second"))));
    assert_eq!(c.cause().unwrap().to_string(), "boom", "first cause wins");
    let (c2, cancel2) = Context::background().with_cancel_cause();
    cancel2.cancel(None);
    assert_eq!(c2.cause().unwrap().to_string(), "context canceled");
}

#[test]
fn deadlines() {
    let bg = Context::background();
    let (z, _zc) = bg.with_timeout(Duration::ZERO);
    assert_eq!(
        z.err(),
        Some(ContextError::DeadlineExceeded),
        "with_timeout(0) at creation"
    );
    assert_eq!(z.done().try_recv(), Err(TryRecvError::Closed));
    assert_eq!(z.cause().unwrap().to_string(), "context deadline exceeded");
    let (past, _pc) = bg.with_deadline(Instant::now() - Duration::from_millis(1));
    assert_eq!(past.err(), Some(ContextError::DeadlineExceeded));
    // child never later than parent
    let (p, _p) = bg.with_timeout(Duration::from_secs(60));
    let (c, _c) = p.with_timeout(Duration::from_secs(3600));
    assert_eq!(c.deadline(), p.deadline());
    let (c2, _c2) = p.with_timeout(Duration::from_secs(1));
    assert!(c2.deadline().unwrap() < p.deadline().unwrap());
    let (c3, _c3) = p.with_cancel();
    assert_eq!(c3.deadline(), p.deadline());
    // fires on a plain thread, no runtime involvement
    let (t, _tc) = bg.with_timeout(Duration::from_millis(30));
    let r = within(10, move || {
        let v = t.done().recv_blocking();
        (v, t.err())
    });
    assert_eq!(r, (None, Some(ContextError::DeadlineExceeded)));
    // cancel before the deadline: Canceled
    let (t, tc) = bg.with_timeout(Duration::from_secs(10));
    tc.cancel();
    assert_eq!(t.err(), Some(ContextError::Canceled));
    // parent's deadline reaches the child
    let (p, _p) = bg.with_timeout(Duration::from_millis(30));
    let (c, _c) = p.with_cancel();
    within(10, move || {
        c.done().recv_blocking();
        assert_eq!(c.err(), Some(ContextError::DeadlineExceeded));
    });
}

#[test]
fn deadline_causes() {
    let bg = Context::background();
    let cause: Cause = Arc::new(MyErr("too slow"));
    let (c, _cf) = bg.with_timeout_cause(Duration::from_millis(20), cause.clone());
    within(10, move || {
        c.done().recv_blocking();
        assert_eq!(c.err(), Some(ContextError::DeadlineExceeded));
        assert_eq!(c.cause().unwrap().to_string(), "too slow");
    });
    let (c, _cf) = bg.with_deadline_cause(Instant::now() - Duration::from_secs(1), cause.clone());
    assert_eq!(c.err(), Some(ContextError::DeadlineExceeded));
    assert_eq!(c.cause().unwrap().to_string(), "too slow");
    // cancel before the deadline: cause is Canceled (Go)
    let (c, cf) = bg.with_timeout_cause(Duration::from_secs(10), cause);
    cf.cancel();
    assert_eq!(c.cause().unwrap().to_string(), "context canceled");
}

#[test]
fn values_and_key_identity() {
    let bg = Context::background();
    let a = bg.with_value(&K1, 1);
    let (b, _bc) = a.with_cancel();
    let c = b.with_value(&KS, "s".to_string());
    assert_eq!(c.value(&K1), Some(&1), "looked up through ancestors");
    assert_eq!(c.value(&KS).map(String::as_str), Some("s"));
    assert_eq!(c.value(&K2), None, "same name, different key");
    let d = c.with_value(&K1, 2);
    assert_eq!(d.value(&K1), Some(&2), "nearest wins");
    assert_eq!(c.value(&K1), Some(&1));
    let w = d.without_cancel();
    assert_eq!(w.value(&K1), Some(&2), "without_cancel keeps values");
}

#[test]
fn without_cancel() {
    let (p, pc) = Context::background().with_timeout(Duration::from_secs(60));
    let w = p.without_cancel();
    assert_eq!(w.deadline(), None);
    pc.cancel();
    assert_eq!(w.err(), None);
    assert!(w.cause().is_none());
    assert_eq!(w.done().try_recv(), Err(TryRecvError::Empty));
    let (wc, _wcc) = w.with_cancel();
    assert_eq!(wc.err(), None);
}

#[test]
fn after_func() {
    let (c, cancel) = Context::background().with_cancel();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let af = c.after_func(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    let r = ran.clone();
    let stopped = c.after_func(move || {
        r.fetch_add(100, Ordering::SeqCst);
    });
    assert!(stopped.stop());
    assert!(!stopped.stop(), "callable more than once");
    cancel.cancel();
    assert!(wait_until(5, || ran.load(Ordering::SeqCst) == 1));
    assert!(!af.stop(), "already started");
    assert!(!af.stop());
    // already done: runs at once
    let r = ran.clone();
    let _af2 = c.after_func(move || {
        r.fetch_add(10, Ordering::SeqCst);
    });
    assert!(wait_until(5, || ran.load(Ordering::SeqCst) == 11));
    thread::sleep(Duration::from_millis(20));
    assert_eq!(ran.load(Ordering::SeqCst), 11);
}

// ---------------------------------------------------------------- §7 WaitGroup

#[test]
fn waitgroup_basics() {
    let wg = WaitGroup::default();
    wg.wait_blocking(); // zero: returns at once
    let n = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let n = n.clone();
        wg.go(async move {
            sleep(Duration::from_millis(5)).await;
            n.fetch_add(1, Ordering::SeqCst);
        });
    }
    let w = wg.clone();
    within(10, move || w.wait_blocking());
    assert_eq!(n.load(Ordering::SeqCst), 10);
    // reuse, async wait, add/done from threads
    wg.add(2);
    let w = wg.clone();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        w.done();
        w.done();
    });
    let w = wg.clone();
    within(10, move || run(async move { w.wait().await }));
}

#[test]
#[should_panic(expected = "sync: negative WaitGroup counter")]
fn waitgroup_negative_panics() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();
    wg.done();
}

#[test]
fn waitgroup_go_task_panic_still_done() {
    let wg = WaitGroup::new();
    wg.go(async { panic!("wg-go-audit") });
    let w = wg.clone();
    within(10, move || w.wait_blocking());
}

// ---------------------------------------------------------------- §7 errgroup

#[test]
fn errgroup_first_error_wins_and_cancels_ctx() {
    let r = within(10, || {
        run(async {
            let (g, ctx) = Group::<String>::with_context(&Context::background());
            let c2 = ctx.clone();
            g.go(async move {
                c2.done().recv().await;
                Err("late".to_string())
            })
            .await;
            g.go(async { Err("first".to_string()) }).await;
            let r = g.wait().await;
            (r, ctx.err())
        })
    });
    assert_eq!(r, (Err("first".to_string()), Some(ContextError::Canceled)));
}

#[test]
fn errgroup_wait_cancels_ctx_even_on_success() {
    let (g, ctx) = Group::<String>::with_context(&Context::background());
    assert!(g.try_go(async { Ok(()) }));
    assert_eq!(ctx.err(), None);
    let g2 = g.clone();
    let r = within(10, move || g2.wait_blocking());
    assert_eq!(r, Ok(()));
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
}

#[test]
fn errgroup_panic_resurfaces_from_wait() {
    let g = Group::<String>::new();
    assert!(g.try_go(async { panic!("eg-audit-panic") }));
    let r = within(10, move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.wait_blocking()))
    });
    match r {
        Err(p) => assert!(panic_msg(&*p).contains("eg-audit-panic")),
        Ok(v) => panic!("wait returned {v:?} instead of panicking"),
    }
}

#[test]
fn errgroup_limit() {
    let r = within(20, || {
        run(async {
            let g = Group::<()>::new();
            g.set_limit(Some(2));
            let cur = Arc::new(AtomicUsize::new(0));
            let max = Arc::new(AtomicUsize::new(0));
            for _ in 0..10 {
                let (cur, max) = (cur.clone(), max.clone());
                g.go(async move {
                    let n = cur.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(n, Ordering::SeqCst);
                    sleep(Duration::from_millis(5)).await;
                    cur.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
                .await;
            }
            g.wait().await.unwrap();
            let (tx, rx) = gort::chan::unbuffered::<()>();
            let rx2 = rx.clone();
            let a = g.try_go(async move {
                rx2.recv().await;
                Ok(())
            });
            let rx3 = rx.clone();
            let b = g.try_go(async move {
                rx3.recv().await;
                Ok(())
            });
            let c = g.try_go(async { Ok(()) });
            drop(tx);
            g.wait().await.unwrap();
            (max.load(Ordering::SeqCst), a, b, c)
        })
    });
    assert_eq!(r, (2, true, true, false));
}

// ---------------------------------------------------------------- §7 semaphore

#[test]
fn semaphore_basics() {
    let sem = Weighted::new(3);
    let ctx = Context::background();
    let p: Permit = run(sem.acquire(&ctx, 2)).unwrap();
    assert!(sem.try_acquire(2).is_none());
    let p1 = sem.try_acquire(1).unwrap();
    drop(p);
    drop(p1);
    let p3 = sem.try_acquire(3).unwrap();
    p3.forget();
    assert!(sem.try_acquire(1).is_none());
    sem.release(3);
    assert!(sem.try_acquire(3).is_some());
    // a permit moved into a task
    let p = sem.try_acquire(1).unwrap();
    let h = go(async move {
        drop(p);
    });
    within(10, move || h.join().unwrap());
    assert!(sem.try_acquire(3).is_some());
}

#[test]
#[should_panic(expected = "released more than held")]
fn semaphore_over_release_panics() {
    let sem = Weighted::new(3);
    let _p = sem.try_acquire(1).unwrap();
    sem.release(2);
}

#[test]
fn semaphore_done_ctx_fails_even_when_free() {
    let sem = Weighted::new(3);
    let (ctx, cancel) = Context::background().with_cancel();
    cancel.cancel();
    assert_eq!(
        run(sem.acquire(&ctx, 1)).err(),
        Some(ContextError::Canceled)
    );
    let (ctx, _c) = Context::background().with_timeout(Duration::ZERO);
    assert_eq!(
        run(sem.acquire(&ctx, 1)).err(),
        Some(ContextError::DeadlineExceeded)
    );
}

#[test]
fn semaphore_fifo_large_head_blocks_small() {
    within(20, || {
        run(async {
            let sem = Weighted::new(10);
            let bg = Context::background();
            let held = sem.acquire(&bg, 5).await.unwrap();
            let order = Arc::new(std::sync::Mutex::new(Vec::new()));
            let (s1, o1, b1) = (sem.clone(), order.clone(), bg.clone());
            let big = go(async move {
                let p = s1.acquire(&b1, 10).await.unwrap();
                o1.lock().unwrap().push("big");
                drop(p);
            });
            sleep(Duration::from_millis(50)).await;
            let (s2, o2, b2) = (sem.clone(), order.clone(), bg.clone());
            let small = go(async move {
                let p = s2.acquire(&b2, 1).await.unwrap();
                o2.lock().unwrap().push("small");
                drop(p);
            });
            sleep(Duration::from_millis(50)).await;
            assert!(
                order.lock().unwrap().is_empty(),
                "small passed the large head"
            );
            assert!(
                sem.try_acquire(1).is_none(),
                "try_acquire fails while anyone waits"
            );
            drop(held);
            big.await.unwrap();
            small.await.unwrap();
            assert_eq!(*order.lock().unwrap(), ["big", "small"]);
        })
    });
}

#[test]
fn semaphore_waiter_leaving_lets_next_through() {
    within(20, || {
        run(async {
            let sem = Weighted::new(10);
            let bg = Context::background();
            let _held = sem.acquire(&bg, 5).await.unwrap();
            let (ctx, cancel) = bg.with_cancel();
            let s1 = sem.clone();
            let big = go(async move { s1.acquire(&ctx, 10).await.map(drop) });
            sleep(Duration::from_millis(50)).await;
            let s2 = sem.clone();
            let b2 = bg.clone();
            let small = go(async move { s2.acquire(&b2, 3).await.map(|p| p.forget()) });
            sleep(Duration::from_millis(50)).await;
            assert!(!small.is_finished());
            cancel.cancel();
            assert_eq!(big.await.unwrap(), Err(ContextError::Canceled));
            assert_eq!(small.await.unwrap(), Ok(()));
        })
    });
}

#[test]
fn semaphore_waiter_timeout_is_deadline_exceeded() {
    within(20, || {
        run(async {
            let sem = Weighted::new(2);
            let bg = Context::background();
            let _held = sem.acquire(&bg, 2).await.unwrap();
            let (ctx, _c) = bg.with_timeout(Duration::from_millis(30));
            assert_eq!(
                sem.acquire(&ctx, 1).await.err(),
                Some(ContextError::DeadlineExceeded)
            );
        })
    });
}

#[test]
fn semaphore_from_foreign_executor() {
    let sem = Weighted::new(1);
    let p = sem.try_acquire(1).unwrap();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        drop(p);
    });
    let s = sem.clone();
    within(10, move || {
        let bg = Context::background();
        foreign_block_on(s.acquire(&bg, 1)).unwrap().forget();
    });
    t.join().unwrap();
    let _ = AtomicBool::new(false);
}
