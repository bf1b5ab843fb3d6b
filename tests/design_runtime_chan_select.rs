//! DESIGN.md conformance, black-box (public API only): §1/§10 paths and shapes,
//! §2 tasks and the runtime, §3 channels, §4 select and Select.
//! Public API only.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Context as TaskCx;
use std::thread;
use std::time::{Duration, Instant};

// §10: every pinned path.
#[allow(unused_imports)]
use gort::chan::*;
#[allow(unused_imports)]
use gort::context::{AfterFunc, CancelCauseFunc, CancelFunc, Cause, Context, ContextError, Key};
#[allow(unused_imports)]
use gort::errgroup::Group;
#[allow(unused_imports)]
use gort::semaphore::{Permit, Weighted};
#[allow(unused_imports)]
use gort::sync::WaitGroup;
#[allow(unused_imports)]
use gort::time::{Elapsed, Ticker, Timer, after, sleep, sleep_until, tick, timeout};
#[allow(unused_imports)]
use gort::{
    Builder, JoinError, JoinHandle, Runtime, Select, Selected, blocking, go, num_goroutines, run,
    select, select_blocking, spawn_blocking, yield_now,
};

use futures_core::Stream;

// ---------------------------------------------------------------- helpers

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}
fn assert_clone<T: Clone>() {}
fn assert_unpin<T: Unpin>() {}
fn assert_copy_eq<T: Copy + Eq>() {}
fn assert_error<T: std::error::Error + std::fmt::Debug + std::fmt::Display>() {}
fn assert_static<T: 'static>() {}

mod design_support;
use design_support::*;

// ---------------------------------------------------------------- §10 / compile-time

#[test]
#[allow(clippy::type_complexity)] // signatures spelled out as fn pointers
fn compile_time_bounds() {
    // §3 Sender/Receiver: Clone + Send + Sync when T: Send (even if T is !Sync).
    assert_send_sync::<Sender<std::cell::Cell<i32>>>();
    assert_send_sync::<Receiver<std::cell::Cell<i32>>>();
    assert_clone::<Sender<i32>>();
    assert_clone::<Receiver<i32>>();
    assert_unpin::<Receiver<i32>>();
    // §2
    assert_send_sync::<Runtime>();
    assert_unpin::<JoinHandle<i32>>();
    assert_send::<JoinHandle<i32>>();
    assert_error::<JoinError>();
    assert_send::<JoinError>();
    // §6
    assert_send_sync::<Context>();
    assert_clone::<Context>();
    assert_copy_eq::<ContextError>();
    assert_error::<ContextError>();
    assert_send_sync::<CancelFunc>();
    assert_send_sync::<CancelCauseFunc>();
    assert_send::<AfterFunc>();
    let _: fn(&'static str) -> Key<u8> = Key::<u8>::new;
    // §7
    assert_clone::<WaitGroup>();
    assert_send_sync::<WaitGroup>();
    let _ = WaitGroup::default();
    assert_clone::<Group<String>>();
    assert_send_sync::<Group<String>>();
    assert_clone::<Weighted>();
    assert_send_sync::<Weighted>();
    assert_static::<Permit>();
    assert_send::<Permit>();
    // §10 error shapes
    assert_error::<SendError<i32>>();
    assert_error::<TrySendError<i32>>();
    assert_error::<SendTimeoutError<i32>>();
    assert_error::<TryRecvError>();
    assert_error::<RecvTimeoutError>();
    assert_error::<Elapsed>();
    let SendError(_v): SendError<i32> = SendError(1);
    match TrySendError::Full(1) {
        TrySendError::Full(_) | TrySendError::Closed(_) => {}
    }
    match SendTimeoutError::Timeout(1) {
        SendTimeoutError::Timeout(_) | SendTimeoutError::Closed(_) => {}
    }
    match TryRecvError::Empty {
        TryRecvError::Empty | TryRecvError::Closed => {}
    }
    match RecvTimeoutError::Timeout {
        RecvTimeoutError::Timeout | RecvTimeoutError::Closed => {}
    }
    match JoinError::Aborted {
        JoinError::Panicked(_p) => {
            let _: Box<dyn std::any::Any + Send> = _p;
        }
        JoinError::Aborted => {}
    }
    match ContextError::Canceled {
        ContextError::Canceled | ContextError::DeadlineExceeded => {}
    }
    // §2 signatures
    let _: fn(std::future::Ready<u8>) -> JoinHandle<u8> = go::<std::future::Ready<u8>>;
    let _: fn() -> usize = num_goroutines;
    let _: fn() -> std::io::Result<Runtime> = Runtime::new;
    let _: fn() -> Builder = Runtime::builder;
    let _: fn(&Runtime) -> usize = Runtime::procs;
    let _: fn(&Runtime) -> usize = Runtime::num_goroutines;
    let _: fn(JoinHandle<u8>) -> Result<u8, JoinError> = JoinHandle::<u8>::join;
    let _: fn(&JoinHandle<u8>) -> bool = JoinHandle::<u8>::is_finished;
    let _: fn(&JoinHandle<u8>) = JoinHandle::<u8>::abort;
    // §3 signatures
    let _: fn(usize) -> (Sender<u8>, Receiver<u8>) = gort::chan::bounded::<u8>;
    let _: fn() -> (Sender<u8>, Receiver<u8>) = gort::chan::unbuffered::<u8>;
    let _: fn() -> Receiver<u8> = gort::chan::never::<u8>;
    let _: fn(&Sender<u8>, u8) -> Result<(), TrySendError<u8>> = Sender::<u8>::try_send;
    let _: fn(&Sender<u8>, u8) -> Result<(), SendError<u8>> = Sender::<u8>::send_blocking;
    let _: fn(&Sender<u8>, u8, Duration) -> Result<(), SendTimeoutError<u8>> =
        Sender::<u8>::send_timeout;
    let _: fn(&Sender<u8>) -> bool = Sender::<u8>::close;
    let _: fn(&Sender<u8>) -> bool = Sender::<u8>::is_closed;
    let _: fn(&Sender<u8>) -> usize = Sender::<u8>::len;
    let _: fn(&Sender<u8>) -> usize = Sender::<u8>::capacity;
    let _: fn(&Receiver<u8>) -> Result<u8, TryRecvError> = Receiver::<u8>::try_recv;
    let _: fn(&Receiver<u8>) -> Option<u8> = Receiver::<u8>::recv_blocking;
    let _: fn(&Receiver<u8>, Duration) -> Result<u8, RecvTimeoutError> =
        Receiver::<u8>::recv_timeout;
    let _: fn(&Receiver<u8>) -> bool = Receiver::<u8>::is_closed;
    let _: fn(&Receiver<u8>) -> usize = Receiver::<u8>::len;
    let _: fn(&Receiver<u8>) -> usize = Receiver::<u8>::capacity;
    // §5
    let _: fn(Duration) -> Receiver<Instant> = after;
    let _: fn(Duration) -> Receiver<Instant> = tick;
    let _: fn(&Timer) -> &Receiver<Instant> = Timer::c;
    let _: fn(&Timer) -> bool = Timer::stop;
    let _: fn(&Timer, Duration) -> bool = Timer::reset;
    let _: fn(&Ticker) -> &Receiver<Instant> = Ticker::c;
    let _: fn(&Ticker) = Ticker::stop;
    let _: fn(&Ticker, Duration) = Ticker::reset;
    // §6
    let _: fn() -> Context = Context::background;
    let _: fn() -> Context = Context::todo;
    let _: fn(&Context) -> (Context, CancelFunc) = Context::with_cancel;
    let _: fn(&Context) -> (Context, CancelCauseFunc) = Context::with_cancel_cause;
    let _: fn(&Context, Instant) -> (Context, CancelFunc) = Context::with_deadline;
    let _: fn(&Context, Duration) -> (Context, CancelFunc) = Context::with_timeout;
    let _: fn(&Context, Instant, Cause) -> (Context, CancelFunc) = Context::with_deadline_cause;
    let _: fn(&Context, Duration, Cause) -> (Context, CancelFunc) = Context::with_timeout_cause;
    let _: fn(&Context) -> Context = Context::without_cancel;
    let _: fn(&Context) -> Receiver<()> = Context::done;
    let _: fn(&Context) -> Option<ContextError> = Context::err;
    let _: fn(&Context) -> Option<Cause> = Context::cause;
    let _: fn(&Context) -> Option<Instant> = Context::deadline;
    let _: fn(&CancelFunc) = CancelFunc::cancel;
    let _: fn(&CancelCauseFunc, Option<Cause>) = CancelCauseFunc::cancel;
    let _: fn(&AfterFunc) -> bool = AfterFunc::stop;
    let _: Cause = Arc::new(ContextError::Canceled) as Arc<dyn std::error::Error + Send + Sync>;
    // §7
    let _: fn() -> WaitGroup = WaitGroup::new;
    let _: fn(&WaitGroup, isize) = WaitGroup::add;
    let _: fn(&WaitGroup) = WaitGroup::done;
    let _: fn(&WaitGroup) = WaitGroup::wait_blocking;
    let _: fn() -> Group<String> = Group::<String>::new;
    let _: fn(&Context) -> (Group<String>, Context) = Group::<String>::with_context;
    let _: fn(&Group<String>, Option<usize>) = Group::<String>::set_limit;
    let _: fn(&Group<String>) -> Result<(), String> = Group::<String>::wait_blocking;
    let _: fn(u64) -> Weighted = Weighted::new;
    let _: fn(&Weighted, u64) -> Option<Permit> = Weighted::try_acquire;
    let _: fn(&Weighted, u64) = Weighted::release;
    let _: fn(Permit) = Permit::forget;
    // §4
    let _: fn() -> Select<'static> = Select::new;
    let _: fn(Select<'static>) -> Selected = Select::select_blocking;
    let _: fn(Select<'static>) -> Option<Selected> = Select::try_select;
    let _: fn(&Selected) -> usize = Selected::index;
    let _: fn(Selected) -> Option<u8> = Selected::recv::<u8>;
    let _: fn(Selected) -> Result<(), SendError<u8>> = Selected::send_result::<u8>;
}

/// Futures of the API can be held across `.await` inside `go` (they are Send).
#[test]
fn futures_are_send_inside_go() {
    let (tx, rx) = gort::chan::bounded::<u32>(4);
    let rx2 = rx.clone();
    let tx2 = tx.clone();
    let ctx = Context::background();
    let h = go(async move {
        tx2.send(1).await.unwrap();
        let a = rx2.recv().await.unwrap();
        let b = select! {
            recv(rx2) -> v => v.unwrap_or(0),
            recv(ctx.done()) -> _ => 0,
            recv(after(Duration::from_millis(10))) -> _ => 2,
            send(tx2, 3) -> r => { r.unwrap(); 3 },
        };
        let mut s = Select::new();
        let i = s.recv(&rx2);
        s.send(&tx2, 9u32);
        let sel = s.select().await;
        let c = if sel.index() == i {
            sel.recv::<u32>().unwrap()
        } else {
            sel.send_result::<u32>().unwrap();
            9
        };
        sleep(Duration::from_millis(1)).await;
        yield_now().await;
        let wg = WaitGroup::new();
        wg.wait().await;
        let sem = Weighted::new(1);
        let p = sem.acquire(&ctx, 1).await.unwrap();
        drop(p);
        let g = Group::<String>::new();
        g.go(async { Ok(()) }).await;
        g.wait().await.unwrap();
        let _ = timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
        a + b + c
    });
    let r = within(10, move || h.join().unwrap());
    assert!(r >= 1);
    drop((tx, rx));
}

#[test]
fn display_strings() {
    assert_eq!(SendError(1).to_string(), "send on closed channel");
    assert_eq!(
        TrySendError::Closed(1).to_string(),
        "send on closed channel"
    );
    assert_eq!(
        SendTimeoutError::Closed(1).to_string(),
        "send on closed channel"
    );
    assert_eq!(ContextError::Canceled.to_string(), "context canceled");
    assert_eq!(
        ContextError::DeadlineExceeded.to_string(),
        "context deadline exceeded"
    );
    // Debug exists for all
    let _ = format!(
        "{:?}{:?}{:?}{:?}{:?}",
        SendError(1),
        TrySendError::Full(1),
        SendTimeoutError::Timeout(1),
        TryRecvError::Empty,
        RecvTimeoutError::Closed
    );
    let _ = format!("{:?}{}", JoinError::Aborted, JoinError::Aborted);
}

// ---------------------------------------------------------------- §2 runtime

#[test]
fn builder_by_value_and_procs() {
    let b: Builder = Runtime::builder();
    let b: Builder = b.procs(3);
    let b: Builder = b.thread_name("audit-procs");
    let b: Builder = b.stack_size(1 << 20);
    let rt: Runtime = b.build().unwrap();
    assert_eq!(rt.procs(), 3);
    assert_eq!(rt.block_on(async { 5 }), 5);
}

#[test]
fn runtime_new_defaults_to_available_parallelism() {
    if std::env::var_os("GORT_MAXPROCS").is_some() {
        return;
    }
    let rt = Runtime::new().unwrap();
    assert_eq!(rt.procs(), thread::available_parallelism().unwrap().get());
}

/// Runtime::new honours GORT_MAXPROCS (checked in a child process).
#[test]
fn runtime_new_honours_gort_maxprocs() {
    if std::env::var("AUDIT_CHILD").is_ok() {
        let rt = Runtime::new().unwrap();
        assert_eq!(rt.procs(), 3);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "runtime_new_honours_gort_maxprocs",
            "--test-threads=1",
        ])
        .env("AUDIT_CHILD", "1")
        .env("GORT_MAXPROCS", "3")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn go_inside_runtime_spawns_there() {
    let rt = Runtime::builder()
        .procs(2)
        .thread_name("audit-inside")
        .build()
        .unwrap();
    let name = rt.block_on(async {
        go(async { thread::current().name().map(String::from) })
            .await
            .unwrap()
    });
    assert!(name.unwrap_or_default().contains("audit-inside"));
    // from inside a task of rt
    let name = rt
        .go(async {
            go(async { thread::current().name().map(String::from) })
                .await
                .unwrap()
        })
        .join()
        .unwrap();
    assert!(name.unwrap_or_default().contains("audit-inside"));
}

#[test]
fn go_outside_any_runtime_uses_default() {
    let h = go(async { 40 + 2 });
    assert_eq!(within(10, move || h.join().unwrap()), 42);
    let h = spawn_blocking(|| 7);
    assert_eq!(within(10, move || h.join().unwrap()), 7);
}

#[test]
fn run_blocks_this_thread_on_main() {
    let me = thread::current().id();
    let r = run(async move {
        assert_eq!(thread::current().id(), me);
        go(async { 1 }).await.unwrap() + 1
    });
    assert_eq!(r, 2);
}

#[test]
fn run_from_several_threads_at_once() {
    within(20, || {
        let hs: Vec<_> = (0..4u64)
            .map(|i| {
                thread::spawn(move || {
                    run(async move {
                        let (tx, rx) = gort::chan::unbuffered::<u64>();
                        go(async move {
                            for k in 0..100 {
                                tx.send(k).await.unwrap();
                            }
                        });
                        sleep(Duration::from_millis(20)).await;
                        let mut s = 0;
                        while let Some(v) = rx.recv().await {
                            s += v;
                        }
                        s + i
                    })
                })
            })
            .collect();
        let r: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(r, vec![4950, 4951, 4952, 4953]);
    });
}

#[test]
fn abort_finished_task_keeps_output() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let h = rt.go(async { 7 });
    assert!(wait_until(5, || h.is_finished()));
    h.abort();
    assert_eq!(h.join().unwrap(), 7);
}

#[test]
fn abort_before_run_is_aborted() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let ran2 = ran.clone();
    let r = rt
        .go(async move {
            let r2 = ran2.clone();
            let h = go(async move {
                r2.store(true, Ordering::SeqCst);
                1
            });
            h.abort();
            h.await
        })
        .join()
        .unwrap();
    assert!(matches!(r, Err(JoinError::Aborted)), "{r:?}");
    assert!(!ran.load(Ordering::SeqCst));
}

/// A task parked on a receive, holding a guard that sets the returned flag
/// when the task's future is dropped; the sender keeps it parked.
fn go_parked_with_guard(rt: &Runtime) -> (JoinHandle<()>, Arc<AtomicBool>, Sender<()>) {
    let dropped = Arc::new(AtomicBool::new(false));
    let g = SetOnDrop(dropped.clone());
    let (tx, rx) = gort::chan::unbuffered::<()>();
    let h = rt.go(async move {
        let _g = g;
        rx.recv().await;
    });
    (h, dropped, tx)
}

#[test]
fn abort_waiting_task_drops_it() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let (h, dropped, _tx) = go_parked_with_guard(&rt);
    thread::sleep(Duration::from_millis(50));
    h.abort();
    let r = within(10, move || h.join());
    assert!(matches!(r, Err(JoinError::Aborted)));
    assert!(dropped.load(Ordering::SeqCst));

    // a busy task that only yields
    let h = rt.go(async {
        loop {
            yield_now().await;
        }
    });
    thread::sleep(Duration::from_millis(20));
    h.abort();
    let r = within(10, move || h.join());
    assert!(matches!(r, Err(JoinError::Aborted)));
}

#[test]
fn panicking_task_yields_panicked_and_runtime_survives() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    for _ in 0..20 {
        let r = rt.go(async { panic!("boom-audit") }).join();
        match r {
            Err(JoinError::Panicked(p)) => assert_eq!(panic_msg(&*p), "boom-audit"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(rt.go(async { 3 }).join().unwrap(), 3);
    assert_eq!(rt.block_on(async { go(async { 4 }).await.unwrap() }), 4);
}

#[test]
fn block_on_inside_task_fails_clearly() {
    let rt = Arc::new(Runtime::builder().procs(2).build().unwrap());
    let rt2 = rt.clone();
    let r = within(10, move || {
        rt.go(async move { rt2.block_on(async { 1 }) }).join()
    });
    match r {
        Err(JoinError::Panicked(p)) => {
            let m = panic_msg(&*p);
            assert!(
                m.contains("block_on") || m.contains("block"),
                "unclear message: {m}"
            );
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    // gort::run inside a task too
    let rt = Runtime::builder().procs(2).build().unwrap();
    let r = within(10, move || rt.go(async { run(async { 1 }) }).join());
    assert!(matches!(r, Err(JoinError::Panicked(_))));
}

#[test]
fn num_goroutines_counts_live_tasks() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    assert_eq!(rt.num_goroutines(), 0);
    let (tx, rx) = gort::chan::unbuffered::<()>();
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            rt.go(async move {
                rx.recv().await;
            })
        })
        .collect();
    assert_eq!(rt.num_goroutines(), 3);
    let inside = rt.block_on(async { num_goroutines() });
    assert_eq!(inside, 3);
    drop(tx);
    for h in hs {
        h.join().unwrap();
    }
    assert!(wait_until(5, || rt.num_goroutines() == 0));
}

#[test]
fn dropping_runtime_drops_unfinished_tasks() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let (h, dropped, tx) = go_parked_with_guard(&rt);
    thread::sleep(Duration::from_millis(30));
    within(10, move || drop(rt));
    assert!(dropped.load(Ordering::SeqCst));
    assert!(matches!(h.join(), Err(JoinError::Aborted)));
    drop(tx);
}

#[test]
fn dropping_join_handle_detaches() {
    let (tx, rx) = gort::chan::bounded::<u8>(1);
    drop(go(async move {
        sleep(Duration::from_millis(20)).await;
        tx.send(9).await.unwrap();
    }));
    assert_eq!(within(10, move || rx.recv_blocking()), Some(9));
}

#[test]
fn blocking_and_spawn_blocking() {
    assert_eq!(blocking(|| 5), 5);
    let r = run(async {
        let a = go(async { blocking(|| 2) }).await.unwrap();
        let b = spawn_blocking(|| {
            thread::sleep(Duration::from_millis(10));
            3
        })
        .await
        .unwrap();
        a + b
    });
    assert_eq!(r, 5);
}

#[test]
fn spawn_blocking_panic_is_panicked() {
    let r = within(10, || {
        spawn_blocking(|| -> u8 { panic!("sb-audit") }).join()
    });
    assert!(matches!(r, Err(JoinError::Panicked(_))));
}

// ---------------------------------------------------------------- §3 channels

#[test]
fn channel_basics() {
    let (tx, rx) = gort::chan::bounded::<i32>(2);
    assert_eq!(tx.capacity(), 2);
    assert_eq!(rx.capacity(), 2);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(tx.len(), 2);
    assert_eq!(rx.len(), 2);
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(!tx.is_closed());
    assert!(tx.close());
    assert!(!tx.close(), "closing twice returns false");
    assert!(rx.is_closed() && tx.is_closed());
    assert_eq!(tx.try_send(4), Err(TrySendError::Closed(4)));
    assert_eq!(tx.send_blocking(5), Err(SendError(5)));
    assert_eq!(
        tx.send_timeout(6, Duration::from_millis(1)),
        Err(SendTimeoutError::Closed(6))
    );
    assert_eq!(rx.try_recv(), Ok(2), "drains after close");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(rx.recv_blocking(), None);
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Closed)
    );
    let r = foreign_block_on(tx.send(7));
    assert_eq!(r, Err(SendError(7)));
    assert_eq!(foreign_block_on(rx.recv()), None);
}

#[test]
fn unbuffered_capacity_zero_and_bounded_zero() {
    let (tx, rx) = gort::chan::unbuffered::<i32>();
    assert_eq!(tx.capacity(), 0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    assert_eq!(
        tx.send_timeout(2, Duration::from_millis(20)),
        Err(SendTimeoutError::Timeout(2))
    );
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(20)),
        Err(RecvTimeoutError::Timeout)
    );
    let (tx0, _rx0) = gort::chan::bounded::<i32>(0);
    assert_eq!(tx0.capacity(), 0);
    assert_eq!(tx0.try_send(1), Err(TrySendError::Full(1)));
}

#[test]
fn unbuffered_send_returns_only_once_received() {
    let (tx, rx) = gort::chan::unbuffered::<i32>();
    let received = Arc::new(AtomicBool::new(false));
    let r2 = received.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        r2.store(true, Ordering::SeqCst);
        rx.recv_blocking()
    });
    within(10, move || {
        tx.send_blocking(5).unwrap();
        assert!(received.load(Ordering::SeqCst));
    });
    assert_eq!(t.join().unwrap(), Some(5));
}

#[test]
fn last_sender_drop_closes_and_last_receiver_drop_fails_sends() {
    let (tx, rx) = gort::chan::bounded::<i32>(3);
    let tx2 = tx.clone();
    tx.try_send(1).unwrap();
    drop(tx);
    assert!(!rx.is_closed());
    tx2.try_send(2).unwrap();
    drop(tx2);
    assert!(rx.is_closed());
    assert_eq!(rx.recv_blocking(), Some(1));
    assert_eq!(rx.recv_blocking(), Some(2));
    assert_eq!(rx.recv_blocking(), None);

    let (tx, rx) = gort::chan::bounded::<i32>(3);
    let rx2 = rx.clone();
    drop(rx);
    tx.try_send(1).unwrap();
    drop(rx2);
    assert_eq!(tx.try_send(2), Err(TrySendError::Closed(2)));
    assert_eq!(tx.send_blocking(3), Err(SendError(3)));
    let (tx, rx) = gort::chan::unbuffered::<i32>();
    drop(rx);
    assert_eq!(foreign_block_on(tx.send(4)), Err(SendError(4)));
}

#[test]
fn receivers_parked_when_last_receiver_goes_wakes_parked_sender() {
    let (tx, rx) = gort::chan::unbuffered::<i32>();
    let t = thread::spawn(move || tx.send_blocking(1));
    thread::sleep(Duration::from_millis(50));
    drop(rx);
    let r = within(10, move || t.join().unwrap());
    assert_eq!(r, Err(SendError(1)));
}

#[test]
fn fifo_across_threads() {
    let (tx, rx) = gort::chan::bounded::<u32>(7);
    let t = thread::spawn(move || {
        for i in 0..2000 {
            tx.send_blocking(i).unwrap();
        }
    });
    let got: Vec<u32> = within(20, move || rx.iter().collect());
    t.join().unwrap();
    assert_eq!(got, (0..2000).collect::<Vec<_>>());
}

#[test]
fn into_iterator_for_ref_receiver() {
    let (tx, rx) = gort::chan::bounded::<u32>(3);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    drop(tx);
    let mut v = vec![];
    for x in &rx {
        v.push(x);
    }
    assert_eq!(v, [1, 2]);
}

#[test]
fn try_send_succeeds_against_parked_receiver_on_unbuffered() {
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let t = thread::spawn(move || rx.recv_blocking());
    let ok = wait_until(5, || tx.try_send(11).is_ok());
    assert!(ok, "try_send never succeeded against a parked receiver");
    assert_eq!(t.join().unwrap(), Some(11));
}

#[test]
fn try_recv_succeeds_against_parked_sender() {
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let t = thread::spawn(move || tx.send_blocking(12));
    let got = try_recv_within(5, &rx);
    assert_eq!(got, Some(12));
    t.join().unwrap().unwrap();
}

#[test]
fn try_recv_on_unbuffered_parked_sender_in_task() {
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let h = go(async move { tx.send(13).await });
    let got = try_recv_within(5, &rx);
    assert_eq!(got, Some(13));
    h.join().unwrap().unwrap();
}

#[test]
fn never_is_never_ready() {
    let rx = gort::chan::never::<u8>();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(!rx.is_closed());
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(30)),
        Err(RecvTimeoutError::Timeout)
    );
    let r = select_blocking! {
        recv(rx) -> _ => 1,
        default => 2,
    };
    assert_eq!(r, 2);
}

#[test]
fn stream_for_receiver_in_foreign_executor() {
    let (tx, mut rx) = gort::chan::bounded::<u32>(1);
    let t = thread::spawn(move || {
        for i in 0..50 {
            tx.send_blocking(i).unwrap();
        }
    });
    let got = within(10, move || {
        foreign_block_on(async move {
            let mut v = vec![];
            while let Some(x) = std::future::poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)).await {
                v.push(x);
            }
            v
        })
    });
    t.join().unwrap();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}

#[test]
fn futures_polled_by_foreign_executor() {
    within(20, || {
        let (tx, rx) = gort::chan::unbuffered::<u32>();
        let (tx2, rx2) = gort::chan::unbuffered::<u32>();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send_blocking(1).unwrap();
            thread::sleep(Duration::from_millis(20));
            rx2.recv_blocking()
        });
        foreign_block_on(async {
            assert_eq!(rx.recv().await, Some(1));
            tx2.send(2).await.unwrap();
            let s = Instant::now();
            sleep(Duration::from_millis(30)).await;
            assert!(s.elapsed() >= Duration::from_millis(30));
            sleep_until(Instant::now() + Duration::from_millis(5)).await;
            let r = select! {
                recv(rx) -> v => v,
                recv(after(Duration::from_secs(5))) -> _ => Some(99),
            };
            assert_eq!(r, None); // the thread ends and drops tx: closed
        });
        assert_eq!(t.join().unwrap(), Some(2));
    });
}

#[test]
fn futures_polled_by_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let r = within(20, move || {
        rt.block_on(async {
            let (tx, rx) = gort::chan::bounded::<u32>(0);
            let h = tokio::spawn(async move {
                for i in 0..100 {
                    tx.send(i).await.unwrap();
                }
            });
            let mut s = 0;
            while let Some(v) = rx.recv().await {
                s += v;
            }
            h.await.unwrap();
            sleep(Duration::from_millis(5)).await;
            let ctx = Context::background();
            let (c, cancel) = ctx.with_timeout(Duration::from_millis(20));
            let r = select! {
                recv(c.done()) -> _ => 1,
                recv(gort::chan::never::<u8>()) -> _ => 2,
            };
            drop(cancel);
            s + r
        })
    });
    assert_eq!(r, 4951);
}

#[test]
fn dropped_recv_future_loses_nothing() {
    let (tx, rx) = gort::chan::bounded::<u32>(1);
    let waker = noop_waker();
    let mut cx = TaskCx::from_waker(&waker);
    {
        let mut f = pin!(rx.recv());
        assert!(f.as_mut().poll(&mut cx).is_pending());
        tx.try_send(1).unwrap();
        // dropped here without being polled again
    }
    assert_eq!(rx.try_recv(), Ok(1));
    // unbuffered: a dropped parked recv must leave no phantom receiver
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    {
        let mut f = pin!(rx.recv());
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(tx.try_send(5), Err(TrySendError::Full(5)));
    // a dropped parked send sends nothing
    {
        let mut f = pin!(tx.send(6));
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn dropped_recv_future_after_handoff_returns_value_to_channel() {
    // A recv that was handed a value on an unbuffered channel, then dropped
    // before observing it: the value must still be received by someone.
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let waker = noop_waker();
    let mut cx = TaskCx::from_waker(&waker);
    let rx2 = rx.clone();
    let t = {
        let mut f = Box::pin(rx.recv());
        assert!(f.as_mut().poll(&mut cx).is_pending());
        // sender hands the value to the parked receiver
        let ok = tx.try_send(77);
        assert!(ok.is_ok(), "try_send against parked receiver: {ok:?}");
        let t = thread::spawn(move || rx2.recv_timeout(Duration::from_secs(5)));
        drop(f);
        t
    };
    assert_eq!(t.join().unwrap(), Ok(77));
}

// ---------------------------------------------------------------- §4 select!

#[test]
fn select_default_only_arm() {
    let r = select_blocking! { default => 5, };
    assert_eq!(r, 5);
    let r = run(async {
        select! { default => 6, }
    });
    assert_eq!(r, 6);
}

#[test]
fn select_send_on_closed_is_ready_with_err() {
    let (tx, rx) = gort::chan::bounded::<u32>(0);
    tx.close();
    let r = select_blocking! {
        send(tx, 5) -> res => res,
    };
    assert_eq!(r, Err(SendError(5)));
    drop(rx);
    // receivers gone
    let (tx, rx) = gort::chan::bounded::<u32>(0);
    drop(rx);
    let r = run(async {
        select! {
            send(tx, 6) -> res => res,
            default => Ok(()),
        }
    });
    assert_eq!(r, Err(SendError(6)));
}

#[test]
fn select_send_value_evaluated_exactly_once() {
    let n = AtomicUsize::new(0);
    let mk = |v: u32| {
        n.fetch_add(1, Ordering::SeqCst);
        v
    };
    let (tx, _rx) = gort::chan::unbuffered::<u32>();
    let (tx2, _rx2) = gort::chan::bounded::<u32>(0);
    let r = select_blocking! {
        send(tx, mk(1)) -> _ => 1,
        send(tx2, mk(2)) -> _ => 2,
        default => 0,
    };
    assert_eq!(r, 0);
    assert_eq!(n.load(Ordering::SeqCst), 2);
    // a case that cannot proceed, another chosen
    let (tx3, rx3) = gort::chan::bounded::<u32>(1);
    let r = select_blocking! {
        send(tx, mk(3)) -> _ => 1,
        send(tx3, mk(4)) -> _ => 2,
    };
    assert_eq!(r, 2);
    assert_eq!(n.load(Ordering::SeqCst), 4);
    assert_eq!(rx3.try_recv(), Ok(4));
}

#[test]
fn select_exactly_one_case_and_random_choice() {
    let (tx1, rx1) = gort::chan::bounded::<u32>(1);
    let (tx2, rx2) = gort::chan::bounded::<u32>(1);
    let mut counts = [0u32; 2];
    for _ in 0..1000 {
        let _ = tx1.try_send(1);
        let _ = tx2.try_send(2);
        let i = select_blocking! {
            recv(rx1) -> v => { assert_eq!(v, Some(1)); 0 },
            recv(rx2) -> v => { assert_eq!(v, Some(2)); 1 },
        };
        counts[i] += 1;
        // exactly one taken: the other is still buffered
        if i == 0 {
            assert_eq!(rx2.len(), 1);
        } else {
            assert_eq!(rx1.len(), 1);
        }
    }
    assert!(counts[0] > 350 && counts[1] > 350, "{counts:?}");
    // send cases: not chosen sends nothing
    let (ta, ra) = gort::chan::bounded::<u32>(1);
    let (tb, rb) = gort::chan::bounded::<u32>(1);
    for _ in 0..100 {
        select_blocking! {
            send(ta, 1) -> r => r.unwrap(),
            send(tb, 2) -> r => r.unwrap(),
        }
        assert_eq!(ra.len() + rb.len(), 1);
        let _ = ra.try_recv();
        let _ = rb.try_recv();
    }
}

#[test]
#[allow(clippy::needless_range_loop)] // `rxs[i]`: a place expression as the channel
fn select_control_flow_and_places() {
    fn q(rx: &Receiver<u32>) -> Result<u32, String> {
        let v = select_blocking! {
            recv(rx) -> v => v.ok_or_else(|| "closed".to_string())?,
        };
        Ok(v)
    }
    let (tx, rx) = gort::chan::bounded::<u32>(4);
    tx.try_send(1).unwrap();
    assert_eq!(q(&rx), Ok(1));
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| gort::chan::bounded::<u32>(1)).unzip();
    txs[2].try_send(3).unwrap();
    let mut got = 0;
    for i in 0..3 {
        got += select_blocking! {
            recv(rxs[i]) -> v => v.unwrap_or(0),
            default => continue,
        };
    }
    assert_eq!(got, 3);
    let mut k = 0;
    loop {
        k += 1;
        select_blocking! {
            recv(rx) -> _ => break,
            default => { tx.try_send(9).unwrap(); },
        }
    }
    assert_eq!(k, 2);
    drop(tx);
    assert!(q(&rx).is_err());
    // async: return in an arm
    async fn f(rx: &Receiver<u32>) -> u32 {
        select! {
            recv(rx) -> _ => return 10,
            recv(gort::time::after(Duration::from_millis(5))) -> _ => {},
        }
        20
    }
    let (_tx, rx) = gort::chan::unbuffered::<u32>();
    assert_eq!(run(f(&rx)), 20);
}

#[test]
fn select_with_default_succeeds_against_parked_receiver() {
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let t = thread::spawn(move || rx.recv_blocking());
    let ok = wait_until(5, || {
        select_blocking! {
            send(tx, 1) -> r => { r.unwrap(); true },
            default => false,
        }
    });
    assert!(ok);
    assert_eq!(t.join().unwrap(), Some(1));
    // recv with default against parked sender
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let t = thread::spawn(move || tx.send_blocking(2));
    let mut got = None;
    assert!(wait_until(5, || {
        select_blocking! {
            recv(rx) -> v => { got = v; true },
            default => false,
        }
    }));
    assert_eq!(got, Some(2));
    t.join().unwrap().unwrap();
}

#[test]
fn select_keeps_temporaries_alive() {
    let ctx = Context::background();
    let (c, cancel) = ctx.with_cancel();
    cancel.cancel();
    let r = select_blocking! {
        recv(c.done()) -> v => v.is_none(),
        recv(gort::time::after(Duration::from_secs(5))) -> _ => false,
    };
    assert!(r);
}

#[test]
fn select_blocking_in_select_arm_unify() {
    let (tx, rx) = gort::chan::bounded::<u32>(1);
    tx.try_send(4).unwrap();
    let x: u32 = select_blocking! {
        recv(rx) -> v => v.unwrap(),
        default => 0,
    };
    assert_eq!(x, 4);
}

// ---------------------------------------------------------------- §4 Select

#[test]
fn dynamic_select() {
    let (tx1, rx1) = gort::chan::bounded::<u32>(1);
    let (tx2, rx2) = gort::chan::bounded::<String>(1);
    let mut s = Select::new();
    let i1 = s.recv(&rx1);
    let i2 = s.recv(&rx2);
    assert_ne!(i1, i2);
    assert!(s.try_select().is_none(), "no case ready: None");
    tx2.try_send("hi".into()).unwrap();
    let mut s = Select::new();
    let _ = s.recv(&rx1);
    let i2 = s.recv(&rx2);
    let sel = s.select_blocking();
    assert_eq!(sel.index(), i2);
    assert_eq!(sel.recv::<String>(), Some("hi".to_string()));
    // send
    let mut s = Select::new();
    let j = s.send(&tx1, 5);
    let sel = s.try_select().expect("room: ready");
    assert_eq!(sel.index(), j);
    assert_eq!(sel.send_result::<u32>(), Ok(()));
    assert_eq!(rx1.try_recv(), Ok(5));
    // not-chosen send sends nothing
    tx1.try_send(1).unwrap();
    let (tx3, rx3) = gort::chan::bounded::<u32>(0);
    let mut s = Select::new();
    s.send(&tx1, 2);
    s.send(&tx3, 3);
    assert!(s.try_select().is_none());
    assert_eq!(rx1.len(), 1);
    assert_eq!(rx1.try_recv(), Ok(1));
    // send on closed: ready, Err(SendError(v))
    tx3.close();
    let mut s = Select::new();
    let k = s.send(&tx3, 8);
    let sel = s.try_select().unwrap();
    assert_eq!(sel.index(), k);
    assert_eq!(sel.send_result::<u32>(), Err(SendError(8)));
    drop(rx3);
    // recv of closed: Some(selected) with None
    drop(tx2);
    let mut s = Select::new();
    s.recv(&rx2);
    let sel = s.try_select().unwrap();
    assert_eq!(sel.recv::<String>(), None);
    // async select over a vec
    let chans: Vec<_> = (0..5).map(|_| gort::chan::bounded::<u32>(1)).collect();
    chans[3].0.try_send(33).unwrap();
    let got = run(async {
        let mut s = Select::new();
        for (_, rx) in &chans {
            s.recv(rx);
        }
        let sel = s.select().await;
        (sel.index(), sel.recv::<u32>())
    });
    assert_eq!(got, (3, Some(33)));
}

#[test]
fn dynamic_select_blocks_until_ready() {
    let (tx, rx) = gort::chan::unbuffered::<u32>();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        tx.send_blocking(1)
    });
    let r = within(10, move || {
        let never = gort::chan::never::<u32>();
        let mut s = Select::new();
        s.recv(&never);
        let i = s.recv(&rx);
        let sel = s.select_blocking();
        (sel.index() == i, sel.recv::<u32>())
    });
    assert_eq!(r, (true, Some(1)));
    t.join().unwrap().unwrap();
}

#[test]
fn num_goroutines_excludes_finished_unjoined_tasks() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let h = rt.go(async { 1 });
    assert!(wait_until(5, || h.is_finished()));
    assert!(wait_until(5, || rt.num_goroutines() == 0));
    assert_eq!(h.join().unwrap(), 1);
}

#[test]
fn block_on_same_runtime_from_several_threads() {
    let rt = Arc::new(Runtime::builder().procs(2).build().unwrap());
    let hs: Vec<_> = (0..4u32)
        .map(|i| {
            let rt = rt.clone();
            thread::spawn(move || {
                rt.block_on(async move {
                    sleep(Duration::from_millis(20)).await;
                    go(async move { i * 2 }).await.unwrap()
                })
            })
        })
        .collect();
    let r: Vec<u32> = within(20, move || {
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(r, [0, 2, 4, 6]);
}

#[test]
fn dynamic_select_is_random_among_ready() {
    let (t1, r1) = gort::chan::bounded::<u8>(1);
    let (t2, r2) = gort::chan::bounded::<u8>(1);
    let mut c = [0u32; 2];
    for _ in 0..1000 {
        let _ = t1.try_send(1);
        let _ = t2.try_send(2);
        let mut s = Select::new();
        s.recv(&r1);
        s.recv(&r2);
        c[s.try_select().unwrap().index()] += 1;
    }
    assert!(c[0] > 350 && c[1] > 350, "{c:?}");
}

#[test]
fn select_macro_is_hygienic() {
    let case = 5u32;
    let __gort_index = 7u32;
    let (tx, rx) = gort::chan::bounded::<u32>(1);
    tx.try_send(1).unwrap();
    let r = select_blocking! {
        recv(rx) -> v => v.unwrap() + case + __gort_index,
        default => 0,
    };
    assert_eq!(r, 13);
}
