//! golang.org/x/sync/errgroup's tests, ported from their documented behaviour.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gort::context::{Cause, Context, ContextError};
use gort::errgroup::Group;

/// Waits until `ctx` is done.
async fn until_done(ctx: &Context) -> ContextError {
    assert_eq!(ctx.done().recv().await, None);
    ctx.err().expect("done is closed, so err reports")
}

#[test]
fn zero_group_returns_the_first_error() {
    // Go's TestZeroGroup.
    let cases: [&[Option<&str>]; 5] = [
        &[],
        &[None],
        &[Some("err1")],
        &[Some("err1"), None],
        &[Some("err1"), None, Some("err2")],
    ];
    // Go waits after each `Go` on one group and sees the first error every
    // time; here the error is moved out by the wait that returns it (a
    // second wait panics: `a_second_wait_after_the_error_panics`), so each
    // prefix of a case runs on a group of its own. A limit of 1 keeps Go's
    // order: a task starts only once the one before it has recorded its
    // outcome and given back its slot (without it, a later task could run,
    // and fail, first: this test failed now and then, once in 8 runs).
    gort::run(async {
        for errs in cases {
            for n in 1..=errs.len() {
                let g = Group::<&str>::new();
                g.set_limit(Some(1));
                for &err in &errs[..n] {
                    g.go(async move { err.map_or(Ok(()), Err) }).await;
                }
                let first = errs[..n].iter().flatten().next().copied();
                assert_eq!(g.wait().await.err(), first, "{:?}", &errs[..n]);
            }
        }
    });
}

#[test]
fn with_context_first_error_cancels_and_wait_returns_it() {
    // Go's TestWithContext.
    gort::run(async {
        for errs in [
            &[][..],
            &[None][..],
            &[Some("e1")][..],
            &[Some("e1"), None, Some("e2")][..],
        ] {
            let (g, ctx) = Group::<&str>::with_context(&Context::background());
            for &err in errs {
                g.go(async move { err.map_or(Ok(()), Err) }).await;
            }
            let got = g.wait().await;
            let want = errs.iter().flatten().next().copied();
            match want {
                None => assert_eq!(got, Ok(())),
                Some(_) => assert!(got.is_err_and(|e| errs.contains(&Some(e)))),
            }
            // wait cancels the derived context, error or not.
            assert_eq!(ctx.err(), Some(ContextError::Canceled));
        }
    });
}

#[test]
fn first_error_cancels_the_others_before_wait() {
    let res = gort::run(async {
        let (g, ctx) = Group::<String>::with_context(&Context::background());
        let cancelled = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let (ctx, cancelled) = (ctx.clone(), cancelled.clone());
            g.go(async move {
                until_done(&ctx).await;
                cancelled.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await;
        }
        g.go(async { Err("first".to_string()) }).await;
        let res = g.wait().await;
        assert_eq!(cancelled.load(Ordering::SeqCst), 10);
        res
    });
    assert_eq!(res, Err("first".to_string()));
}

#[test]
fn only_the_first_error_is_kept() {
    let res = gort::run(async {
        let (g, ctx) = Group::<usize>::with_context(&Context::background());
        g.go(async { Err(1) }).await;
        until_done(&ctx).await;
        for i in 2..10 {
            g.go(async move { Err(i) }).await;
        }
        g.wait().await
    });
    assert_eq!(res, Err(1));
}

#[test]
fn limit_bounds_the_running_tasks() {
    // Go's TestGoLimit.
    const LIMIT: usize = 3;
    let g = Group::<()>::new();
    g.set_limit(Some(LIMIT));
    let active = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    gort::run(async {
        for _ in 0..100 {
            let (active, max) = (active.clone(), max.clone());
            g.go(async move {
                let n = active.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(n, Ordering::SeqCst);
                gort::time::sleep(Duration::from_micros(100)).await;
                active.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
            .await;
        }
        g.wait().await.unwrap();
    });
    let max = max.load(Ordering::SeqCst);
    assert!((1..=LIMIT).contains(&max), "{max} ran at once");
}

#[test]
fn try_go_respects_the_limit() {
    // Go's TestTryGo.
    let g = Group::<&str>::new();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    g.set_limit(Some(2));
    for _ in 0..2 {
        let rx = release_rx.clone();
        assert!(g.try_go(async move {
            gort::blocking(|| rx.lock().unwrap().recv().unwrap());
            Ok(())
        }));
    }
    assert!(!g.try_go(async { Ok(()) }), "both slots are taken");
    release_tx.send(()).unwrap();
    release_tx.send(()).unwrap();
    assert_eq!(g.wait_blocking(), Ok(()));
    assert!(g.try_go(async { Err("late") }));
    assert_eq!(g.wait_blocking(), Err("late"));

    // The group's error was returned; the rest runs on a fresh group.
    let g = Group::<&str>::new();
    g.set_limit(None);
    for _ in 0..100 {
        assert!(g.try_go(async { Ok(()) }));
    }
    assert_eq!(g.wait_blocking(), Ok(()));

    g.set_limit(Some(0));
    assert!(!g.try_go(async { Ok(()) }), "a limit of 0 admits nobody");
    // And `go` waits forever, as Go's does.
    let mut go = std::pin::pin!(g.go(async { Ok(()) }));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..3 {
        assert!(go.as_mut().poll(&mut cx).is_pending());
    }
}

#[test]
fn set_limit_while_tasks_run_panics() {
    let g = Group::<()>::new();
    g.set_limit(Some(1));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    assert!(g.try_go(async move {
        gort::blocking(|| rx.recv().unwrap());
        Ok(())
    }));
    let g2 = g.clone();
    let err = std::thread::spawn(move || g2.set_limit(Some(5)))
        .join()
        .unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.starts_with("errgroup: modify limit while 1 goroutines"),
        "{msg}"
    );
    tx.send(()).unwrap();
    g.wait_blocking().unwrap();
}

#[test]
fn a_task_panic_resurfaces_from_wait_with_its_payload() {
    let (g, ctx) = Group::<&str>::with_context(&Context::background());
    assert!(g.try_go(async { Err("an error") }));
    assert!(g.try_go(async { std::panic::panic_any(42u32) }));
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.wait_blocking())).unwrap_err();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
}

#[test]
fn ten_thousand_tasks_with_a_limit() {
    let n = gort::run(async {
        let (g, ctx) = Group::<ContextError>::with_context(&Context::background());
        g.set_limit(Some(64));
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..10_000 {
            let (ctx, done) = (ctx.clone(), done.clone());
            g.go(async move {
                done.fetch_add(1, Ordering::Relaxed);
                ctx.err().map_or(Ok(()), Err)
            })
            .await;
        }
        g.wait().await.unwrap();
        done.load(Ordering::Relaxed)
    });
    assert_eq!(n, 10_000);
}

#[test]
fn a_go_dropped_while_waiting_for_a_slot_starts_nothing() {
    use std::future::Future;
    use std::task::{Context as TaskContext, Waker};
    let g = Group::<()>::new();
    g.set_limit(Some(1));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    assert!(g.try_go(async move {
        gort::blocking(|| rx.recv().unwrap());
        Ok(())
    }));
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let mut queued = Box::pin(g.go(async move {
        r.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }));
    let mut cx = TaskContext::from_waker(Waker::noop());
    assert!(
        queued.as_mut().poll(&mut cx).is_pending(),
        "the only slot is taken"
    );
    drop(queued);
    tx.send(()).unwrap();
    assert_eq!(g.wait_blocking(), Ok(()));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    // The slot came back: the group admits a task again.
    assert!(g.try_go(async { Ok(()) }));
    assert_eq!(g.wait_blocking(), Ok(()));
}

#[test]
fn handles_are_send_sync_and_clone() {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<Group<String>>();
    assert_send_sync_clone::<gort::sync::WaitGroup>();
    assert_send_sync_clone::<gort::semaphore::Weighted>();
    assert_send_sync_clone::<Context>();
    assert_send_sync_clone::<gort::context::CancelFunc>();
    assert_send_sync_clone::<gort::context::CancelCauseFunc>();
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<gort::context::AfterFunc>();
    assert_send_sync::<gort::semaphore::Permit>();
}

/// Go's `errOnce`: the first error stays the group's, also after a `wait`
/// returned it; a later task's error does not take its place.
#[test]
fn the_first_error_wins_for_good() {
    gort::run(async {
        let g = Group::<&str>::new();
        g.go(async { Err("first") }).await;
        assert_eq!(g.wait().await, Err("first"));
        g.go(async { Err("second") }).await;
        let again = gort::go({
            let g = g.clone();
            async move { g.wait().await }
        })
        .await;
        let Err(gort::JoinError::Panicked(payload)) = again else {
            panic!("the second wait returned {again:?}");
        };
        let msg = payload.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(msg.contains("Wait called again"), "panic: {msg:?}");
    });
}

/// A second `wait` after the error was returned cannot have it (`E` is not
/// `Clone`): it panics rather than report a success that never happened.
#[test]
fn a_second_wait_after_the_error_panics() {
    let g = Group::<String>::new();
    assert!(g.try_go(async { Err("boom".to_string()) }));
    assert_eq!(g.wait_blocking(), Err("boom".to_string()));
    let second = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.wait_blocking()));
    assert!(second.is_err(), "the second wait returned {second:?}");
    // A group that never failed may be waited on any number of times.
    let ok = Group::<String>::new();
    assert_eq!(ok.wait_blocking(), Ok(()));
    assert_eq!(ok.wait_blocking(), Ok(()));
}

/// x/sync's `SetLimit(-1)` removes the limit even while tasks hold slots of
/// it; only setting a new limit then panics.
#[test]
fn removing_the_limit_while_tasks_run_does_not_panic() {
    gort::run(async {
        let g = Group::<()>::new();
        g.set_limit(Some(1));
        let (tx, rx) = gort::chan::bounded::<()>(0);
        g.go(async move {
            rx.recv().await;
            Ok(())
        })
        .await;
        g.set_limit(None);
        assert!(
            g.try_go(async { Ok(()) }),
            "no limit: a slot is always free"
        );
        tx.send(()).await.unwrap();
        assert_eq!(g.wait().await, Ok(()));
    });
}

#[test]
fn the_first_error_is_the_context_cause_when_it_can_be_one() {
    // x/sync's errgroup cancels with `cancel(err)`: `context.Cause(ctx)` is
    // the first error. Here that holds for `Cause`, `String` and `&str`.
    gort::run(async {
        let boom: Cause = Arc::new(std::io::Error::other("boom"));
        let (g, ctx) = Group::<Cause>::with_context(&Context::background());
        let first = boom.clone();
        g.go(async move { Err(first) }).await;
        until_done(&ctx).await;
        g.go(async { Err(Arc::new(std::io::Error::other("later")) as Cause) })
            .await;
        assert!(g.wait().await.is_err_and(|e| Arc::ptr_eq(&e, &boom)));
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
        let cause = ctx.cause().expect("cancelled");
        assert!(Arc::ptr_eq(&cause, &boom), "the error itself is the cause");

        let (g, ctx) = Group::<String>::with_context(&Context::background());
        g.go(async { Err("fetch failed".to_string()) }).await;
        until_done(&ctx).await;
        assert_eq!(ctx.cause().unwrap().to_string(), "fetch failed");
        assert_eq!(ctx.err().unwrap().to_string(), "context canceled");
        let (child, _cancel) = ctx.with_cancel();
        assert_eq!(child.cause().unwrap().to_string(), "fetch failed");
        assert_eq!(g.wait().await, Err("fetch failed".to_string()));
        assert_eq!(
            ctx.cause().unwrap().to_string(),
            "fetch failed",
            "wait keeps it"
        );

        let (g, ctx) = Group::<&str>::with_context(&Context::background());
        g.go(async { Err("static") }).await;
        assert_eq!(g.wait().await, Err("static"));
        assert_eq!(ctx.cause().unwrap().to_string(), "static");
    });
}

#[test]
fn without_an_error_cause_the_cause_is_canceled() {
    gort::run(async {
        // An `E` that is not an error: the cause is `Canceled`.
        let (g, ctx) = Group::<usize>::with_context(&Context::background());
        g.go(async { Err(7) }).await;
        until_done(&ctx).await;
        assert_eq!(ctx.cause().unwrap().to_string(), "context canceled");
        assert_eq!(g.wait().await, Err(7));

        // No error at all: `wait` cancels with `Canceled`.
        let (g, ctx) = Group::<String>::with_context(&Context::background());
        g.go(async { Ok(()) }).await;
        assert_eq!(g.wait().await, Ok(()));
        assert_eq!(ctx.cause().unwrap().to_string(), "context canceled");
    });
}

#[test]
fn the_cause_is_the_first_error_when_two_fail_at_once() {
    // Two tasks fail together on two procs: the error `wait` returns is the
    // cause, never "context canceled" from the later failure cancelling
    // before the first one did.
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    rt.block_on(async {
        for round in 0..2_000 {
            let (g, ctx) = Group::<String>::with_context(&Context::background());
            let go = Arc::new(AtomicUsize::new(0));
            for i in 0..2 {
                let go = go.clone();
                g.go(async move {
                    go.fetch_add(1, Ordering::SeqCst);
                    while go.load(Ordering::SeqCst) < 2 {
                        std::hint::spin_loop();
                    }
                    Err(format!("task {i}"))
                })
                .await;
            }
            let err = g.wait().await.unwrap_err();
            assert_eq!(ctx.cause().unwrap().to_string(), err, "round {round}");
        }
    });
}
