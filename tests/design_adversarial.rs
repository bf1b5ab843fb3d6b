//! DESIGN.md conformance, black-box, adversarial part: select self-pairing, scheduler
//! fairness/budget/blocking claims of §2, deep context chains, dropped
//! select futures.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context as TaskCx, Poll};
use std::thread;
use std::time::{Duration, Instant};

use gort::chan::{TryRecvError, TrySendError};
use gort::context::{Context, ContextError};
use gort::{Runtime, Select, go, select, select_blocking, yield_now};

mod design_support;
use design_support::*;

/// Go: a select never pairs its own send case with its own recv case.
#[test]
fn select_does_not_pair_with_itself() {
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let r = select_blocking! {
        send(tx, 1) -> _ => "sent",
        recv(rx) -> _ => "received",
        default => "default",
    };
    assert_eq!(r, "default");
    let r = within(10, move || {
        select_blocking! {
            send(tx, 1) -> _ => "sent",
            recv(rx) -> _ => "received",
            recv(gort::time::after(Duration::from_millis(50))) -> _ => "timeout",
        }
    });
    assert_eq!(r, "timeout");
    // dynamic and async forms
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let r = within(10, move || {
        gort::run(async move {
            select! {
                recv(rx) -> _ => "received",
                send(tx, 1) -> _ => "sent",
                recv(gort::time::after(Duration::from_millis(50))) -> _ => "timeout",
            }
        })
    });
    assert_eq!(r, "timeout");
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let idx = within(10, move || {
        let t = gort::time::after(Duration::from_millis(50));
        let mut s = Select::new();
        s.send(&tx, 1);
        s.recv(&rx);
        let it = s.recv(&t);
        (s.select_blocking().index(), it)
    });
    assert_eq!(idx.0, idx.1);
}

/// §2 cooperative budget: a task whose channels are always ready cannot
/// starve its P (procs = 1).
#[test]
fn coop_budget_lets_neighbours_run() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let hog = rt.go(async move {
        let (tx, rx) = gort::chan::bounded::<u32>(1);
        while !s.load(Ordering::SeqCst) {
            tx.send(1).await.unwrap();
            rx.recv().await.unwrap();
        }
    });
    let s = stop.clone();
    let other = rt.go(async move {
        s.store(true, Ordering::SeqCst);
    });
    within(20, move || {
        other.join().unwrap();
        hog.join().unwrap();
    });
}

/// §2 runnext: two tasks ping-ponging on unbuffered channels cannot starve a
/// third task on the same P.
#[test]
fn ping_pong_cannot_starve_queue() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (a_tx, a_rx) = gort::chan::unbuffered::<u32>();
    let (b_tx, b_rx) = gort::chan::unbuffered::<u32>();
    let s1 = stop.clone();
    let p1 = rt.go(async move {
        while !s1.load(Ordering::SeqCst) {
            if a_tx.send(1).await.is_err() {
                break;
            }
            if b_rx.recv().await.is_none() {
                break;
            }
        }
    });
    let p2 = rt.go(async move {
        while let Some(v) = a_rx.recv().await {
            if b_tx.send(v).await.is_err() {
                break;
            }
        }
    });
    let s = stop.clone();
    let third = rt.go(async move {
        s.store(true, Ordering::SeqCst);
    });
    within(20, move || {
        third.join().unwrap();
        p1.join().unwrap();
        p2.join().unwrap();
    });
}

/// §2 sysmon: an unwrapped thread::sleep in one task delays that task only.
#[test]
fn blocking_task_does_not_block_neighbours() {
    let rt = Runtime::builder()
        .procs(1)
        .report_blocking(false)
        .build()
        .unwrap();
    let done_at = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let blocker = rt.go(async move {
        yield_now().await;
        thread::sleep(Duration::from_millis(1500));
    });
    let d = done_at.clone();
    let neighbour = rt.go(async move {
        for _ in 0..10 {
            gort::time::sleep(Duration::from_millis(5)).await;
        }
        d.store(start.elapsed().as_millis() as u64, Ordering::SeqCst);
    });
    within(20, move || {
        neighbour.join().unwrap();
        blocker.join().unwrap();
    });
    let ms = done_at.load(Ordering::SeqCst);
    assert!(
        ms < 1200,
        "neighbour finished after {ms} ms: it waited for the blocked task"
    );
}

/// §2 blocking(f): a long f hands the P to another M.
#[test]
fn blocking_call_hands_off_p() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let done_at = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let blocker = rt.go(async move {
        yield_now().await;
        gort::blocking(|| thread::sleep(Duration::from_millis(1500)));
    });
    let d = done_at.clone();
    let neighbour = rt.go(async move {
        for _ in 0..10 {
            yield_now().await;
        }
        d.store(start.elapsed().as_millis() as u64, Ordering::SeqCst);
    });
    within(20, move || {
        neighbour.join().unwrap();
        blocker.join().unwrap();
    });
    let ms = done_at.load(Ordering::SeqCst);
    assert!(ms < 1200, "neighbour finished after {ms} ms");
}

/// §3: nothing lost when a select future is dropped after it was handed a
/// value (dynamic Select).
#[test]
fn dropped_dynamic_select_future_returns_value() {
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let never = gort::chan::never::<u32>();
    let waker = noop_waker();
    let mut cx = TaskCx::from_waker(&waker);
    let rx2 = rx.clone();
    let t = {
        let mut s = Select::new();
        s.recv(&never);
        s.recv(&rx);
        let mut f = Box::pin(s.select());
        assert!(f.as_mut().poll(&mut cx).is_pending());
        assert!(tx.try_send(5).is_ok(), "try_send against a parked select");
        let t = thread::spawn(move || rx2.recv_timeout(Duration::from_secs(5)));
        drop(f);
        t
    };
    assert_eq!(t.join().unwrap(), Ok(5));
}

/// Dropped select! future after being handed a value.
#[test]
fn dropped_select_macro_future_returns_value() {
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let (_tx2, rx2) = gort::chan::unbuffered::<u32>();
    let waker = noop_waker();
    let mut cx = TaskCx::from_waker(&waker);
    let rx3 = rx.clone();
    let t = {
        let mut f = Box::pin(async {
            select! {
                recv(rx) -> v => v,
                recv(rx2) -> v => v,
            }
        });
        assert!(f.as_mut().poll(&mut cx).is_pending());
        assert!(tx.try_send(6).is_ok());
        let t = thread::spawn(move || rx3.recv_timeout(Duration::from_secs(5)));
        drop(f);
        t
    };
    assert_eq!(t.join().unwrap(), Ok(6));
}

#[test]
fn join_handle_polled_by_foreign_executor() {
    let h = go(async {
        gort::time::sleep(Duration::from_millis(10)).await;
        5
    });
    assert_eq!(within(10, move || foreign_block_on(h).unwrap()), 5);
}

#[test]
fn run_inside_spawn_blocking_is_allowed() {
    // tokio allows Handle::block_on on a blocking-pool thread; a blocking-pool
    // thread is not a task.
    let r = within(10, || {
        gort::spawn_blocking(|| gort::run(async { 3 })).join()
    });
    assert_eq!(r.unwrap(), 3);
}

#[test]
fn zst_channels() {
    let (tx, rx) = gort::chan::bounded::<()>(2);
    tx.try_send(()).unwrap();
    tx.try_send(()).unwrap();
    assert_eq!(tx.try_send(()), Err(TrySendError::Full(())));
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.try_recv(), Ok(()));
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(()));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn many_pending_timers_are_cheap() {
    let start = Instant::now();
    let v: Vec<_> = (0..100_000)
        .map(|_| gort::time::after(Duration::from_secs(3600)))
        .collect();
    let ctxs: Vec<_> = (0..100_000)
        .map(|_| Context::background().with_timeout(Duration::from_secs(3600)))
        .collect();
    drop(v);
    drop(ctxs);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn cancel_while_acquiring_does_not_lose_permits() {
    let sem = gort::semaphore::Weighted::new(1);
    for _ in 0..200 {
        let held = sem.try_acquire(1).unwrap();
        let (ctx, cancel) = Context::background().with_cancel();
        let s = sem.clone();
        let h = go(async move { s.acquire(&ctx, 1).await.map(drop) });
        thread::sleep(Duration::from_micros(200));
        let t = thread::spawn(move || cancel.cancel());
        drop(held);
        t.join().unwrap();
        let r = within(10, move || h.join().unwrap());
        assert!(r.is_ok() || r == Err(ContextError::Canceled));
        assert!(sem.try_acquire(1).is_some(), "a permit was lost");
    }
}

#[test]
fn empty_dynamic_select_try_select_is_none() {
    let s = Select::new();
    assert!(s.try_select().is_none());
}

#[test]
fn stream_is_fused_after_none() {
    use futures_core::Stream;
    let (tx, mut rx) = gort::chan::bounded::<u32>(1);
    drop(tx);
    let waker = noop_waker();
    let mut cx = TaskCx::from_waker(&waker);
    assert_eq!(
        std::pin::Pin::new(&mut rx).poll_next(&mut cx),
        Poll::Ready(None)
    );
    assert_eq!(
        std::pin::Pin::new(&mut rx).poll_next(&mut cx),
        Poll::Ready(None)
    );
}

#[test]
fn close_wakes_parked_senders_and_receivers() {
    let (tx, rx) = gort::chan::bounded::<u32>(1);
    tx.try_send(0).unwrap();
    let senders: Vec<_> = (1..4)
        .map(|i| {
            let tx = tx.clone();
            go(async move { tx.send(i).await })
        })
        .collect();
    thread::sleep(Duration::from_millis(50));
    assert!(tx.close());
    let rs: Vec<_> = within(10, move || {
        senders.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut vals: Vec<u32> = rs.into_iter().map(|r| r.unwrap_err().0).collect();
    vals.sort();
    assert_eq!(vals, [1, 2, 3]);
    assert_eq!(rx.try_recv(), Ok(0), "buffered value survives close");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            go(async move { rx.recv().await })
        })
        .collect();
    let t = {
        let rx = rx.clone();
        thread::spawn(move || rx.recv_blocking())
    };
    thread::sleep(Duration::from_millis(50));
    tx.close();
    let rs: Vec<_> = within(10, move || {
        receivers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(rs, [None, None, None]);
    assert_eq!(t.join().unwrap(), None);
}

#[test]
fn panic_payload_is_preserved() {
    let r = within(10, || go(async { std::panic::panic_any(42u32) }).join());
    match r {
        Err(gort::JoinError::Panicked(p)) => assert_eq!(p.downcast_ref::<u32>(), Some(&42)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn plain_thread_future_woken_by_gort_task() {
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let h = go(async move {
        gort::time::sleep(Duration::from_millis(20)).await;
        tx.send(1).await
    });
    assert_eq!(
        within(10, move || foreign_block_on(async move { rx.recv().await })),
        Some(1)
    );
    within(10, move || h.join().unwrap().unwrap());
}

/// Runtime: Send + Sync, so it can be shared in an Arc; the last handle may
/// be dropped inside one of its own tasks. That must neither hang nor crash.
#[test]
fn runtime_dropped_inside_its_own_task() {
    let rt = Arc::new(Runtime::builder().procs(2).build().unwrap());
    let rt2 = rt.clone();
    let (tx, rx) = gort::chan::bounded::<()>(1);
    let h = rt.go(async move {
        gort::time::sleep(Duration::from_millis(50)).await;
        drop(rt2); // the last handle, if the main thread dropped its own
        let _ = tx.try_send(());
    });
    drop(h);
    drop(rt);
    let r = within(10, move || rx.recv_timeout(Duration::from_secs(5)));
    assert!(
        r.is_ok() || r == Err(gort::chan::RecvTimeoutError::Closed),
        "{r:?}"
    );
}
