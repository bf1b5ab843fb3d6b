//! DESIGN.md conformance, black-box, misuse part: zero, huge and repeated
//! arguments, calls in the wrong place, and second calls, each checked
//! against what Go (or golang.org/x/sync) does; where gort deliberately
//! differs the test's comment says how. Every body runs under `within`, so a
//! hang is a failure rather than a stuck test run.
//!
//! A case that must run in a fresh process (an environment variable) has a
//! parent test that re-runs this test binary on one `child_*` test with
//! `GORT_MISUSE_CHILD` set; without it a `child_*` test does nothing.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gort::chan::{self, TryRecvError};
use gort::context::{Cause, Context, ContextError};
use gort::errgroup::Group;
use gort::semaphore::Weighted;
use gort::sync::WaitGroup;
use gort::time::{Ticker, Timer, after, sleep, tick, timeout};
use gort::{JoinError, Runtime, Select};

mod design_support;
use design_support::*;

// ---------------------------------------------------------------- helpers

/// The panic message of `f`, or `None` if it returned normally.
fn panic_of<R>(f: impl FnOnce() -> R) -> Option<String> {
    catch_unwind(AssertUnwindSafe(f))
        .err()
        .map(|p| panic_msg(&*p))
}

fn rt(procs: usize) -> Arc<Runtime> {
    Arc::new(Runtime::builder().procs(procs).build().unwrap())
}

const CHILD_ENV: &str = "GORT_MISUSE_CHILD";

fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Re-runs this test binary on the single test `name`, with `envs` set.
fn run_child(name: &str, envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env_remove("GORT_MAXPROCS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A hung child would hang the parent: give it a deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("hung: the child test process did not finish in 30 s")
        .unwrap()
}

/// The rest of the child's first stdout line that contains `tag`.
fn child_line(out: &std::process::Output, tag: &str) -> Option<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.find(tag).map(|i| l[i + tag.len()..].to_string()))
}

// ---------------------------------------------------------------- time

/// Go: `(*Ticker).Reset(0)` panics "non-positive interval for Ticker.Reset".
#[test]
fn time_ticker_reset_zero_panics_like_go() {
    let msg = within(5, || {
        let t = Ticker::new(Duration::from_secs(3600));
        panic_of(|| t.reset(Duration::ZERO))
    });
    assert_eq!(
        msg.as_deref(),
        Some("non-positive interval for Ticker.Reset")
    );
}

/// Go: `time.After(0)`, `time.NewTimer(0)`, `t.Reset(0)` and `time.Sleep(0)`
/// fire (return) at once; a zero timeout expires at once.
#[test]
fn time_after_timer_and_reset_zero_fire_at_once() {
    within(5, || {
        assert!(
            after(Duration::ZERO)
                .recv_timeout(Duration::from_secs(2))
                .is_ok()
        );
        let t = Timer::new(Duration::ZERO);
        assert!(t.c().recv_timeout(Duration::from_secs(2)).is_ok());
        t.reset(Duration::ZERO);
        assert!(t.c().recv_timeout(Duration::from_secs(2)).is_ok());
        gort::run(async { sleep(Duration::ZERO).await });
        let r = gort::run(timeout(Duration::ZERO, std::future::pending::<()>()));
        assert!(r.is_err());
    });
}

/// Go: a huge duration (`math.MaxInt64`) means "never": no overflow, no panic.
#[test]
fn time_duration_max_is_never_and_does_not_overflow() {
    within(5, || {
        let rx = after(Duration::MAX);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let t = Timer::new(Duration::MAX);
        assert!(t.stop(), "a never-firing timer is still active");
        assert!(!t.reset(Duration::MAX));
        let tk = Ticker::new(Duration::MAX);
        tk.reset(Duration::MAX);
        tk.stop();
        let rx = tick(Duration::MAX);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        // Just below the overflow of an Instant, too.
        let _ = after(Duration::from_secs(u64::MAX / 2));
        let _ = Timer::new(Duration::new(u64::MAX, 999_999_999));
    });
}

/// Go: `time.After(math.MaxInt64)` in a select loses to a ready case, and a
/// far-future sleep loses to a short timeout; the deadline does not overflow.
#[test]
fn time_sleep_max_in_select_and_timeout_max() {
    within(5, || {
        gort::run(async {
            let (tx, rx) = chan::bounded::<u8>(1);
            tx.try_send(7).unwrap();
            let got = gort::select! {
                recv(rx) -> v => v,
                recv(after(Duration::MAX)) -> _ => None,
            };
            assert_eq!(got, Some(7));
            assert_eq!(timeout(Duration::MAX, async { 5 }).await, Ok(5));
            // A sleep(MAX) raced against a short timeout: the timeout wins.
            let r = timeout(Duration::from_millis(20), sleep(Duration::MAX)).await;
            assert!(r.is_err());
            // sleep(MAX)'s deadline does not overflow.
            let s = sleep(Duration::MAX);
            assert!(s.deadline() > Instant::now() + Duration::from_secs(86400 * 365));
        });
    });
}

/// Go: `context.WithTimeout(ctx, math.MaxInt64)` is live, with a far
/// deadline, and is still cancelled by its parent.
#[test]
fn context_with_timeout_max_is_live() {
    within(5, || {
        let (ctx, cancel) = Context::background().with_timeout(Duration::MAX);
        assert_eq!(ctx.err(), None);
        assert!(ctx.deadline().is_some());
        assert_eq!(ctx.done().try_recv(), Err(TryRecvError::Empty));
        let cause: Cause = Arc::new(std::io::Error::other("late"));
        let (ctx2, _c2) = ctx.with_timeout_cause(Duration::MAX, cause);
        assert_eq!(ctx2.err(), None);
        cancel.cancel();
        assert_eq!(ctx2.err(), Some(ContextError::Canceled));
    });
}

/// Go: a select on the channel and `time.After(math.MaxInt64)` waits without
/// limit and takes the channel when the counterpart comes. gort's
/// `recv_timeout(MAX)` / `send_timeout(MAX)` do the same, with no overflow.
#[test]
fn chan_recv_and_send_timeout_max_wait_without_overflow() {
    within(5, || {
        let (tx, rx) = chan::unbuffered::<u32>();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.send_blocking(1).unwrap();
            tx
        });
        assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
        let tx = t.join().unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            rx.recv_blocking()
        });
        assert!(tx.send_timeout(2, Duration::MAX).is_ok());
        assert_eq!(t.join().unwrap(), Some(2));
    });
}

// ---------------------------------------------------------------- runtime config

/// Go: `runtime.GOMAXPROCS(n)` with n < 1 leaves the setting unchanged.
/// gort: `Builder::procs(0)` panics with a clear message instead.
#[test]
fn runtime_builder_procs_zero_panics_clearly() {
    let msg = within(5, || panic_of(|| Runtime::builder().procs(0)));
    assert_eq!(msg.as_deref(), Some("gort: procs must be at least 1"));
}

/// Go: `GOMAXPROCS` may be set far above the CPU count (the limit is
/// 1024 Ps in Go 1.22+; gort's is 65,536); a runtime with 10,000 Ps still
/// builds and runs a task.
#[test]
fn runtime_many_procs_work() {
    within(20, || {
        let rt = Runtime::builder().procs(10_000).build().unwrap();
        assert_eq!(rt.procs(), 10_000);
        assert_eq!(
            rt.block_on(async { gort::go(async { 3 }).await.unwrap() }),
            3
        );
    });
}

/// Child of `runtime_invalid_gort_maxprocs_fails_clearly`: prints what
/// `Runtime::new` and `gort::run` do under this process's `GORT_MAXPROCS`.
#[test]
fn child_gort_maxprocs_env() {
    if !is_child() {
        return;
    }
    match Runtime::new() {
        Ok(rt) => println!("RESULT:ok:{}", rt.procs()),
        Err(e) => println!("RESULT:err:{e}"),
    }
    let r = panic_of(|| gort::run(async { 1 }));
    println!("RUN:{}", r.unwrap_or_else(|| "ok".into()));
}

/// Go ignores an invalid `GOMAXPROCS` (0, negative, garbage) and uses the CPU
/// count. gort deliberately refuses an invalid `GORT_MAXPROCS` with a clear
/// error naming it (`Runtime::new` is `Err`, `gort::run` panics), rather
/// than a silent misconfiguration or a hang.
#[test]
fn runtime_invalid_gort_maxprocs_fails_clearly() {
    for bad in ["0", "-1", "abc", ""] {
        let out = run_child("child_gort_maxprocs_env", &[("GORT_MAXPROCS", bad)]);
        let res = child_line(&out, "RESULT:").expect("the child reported");
        assert!(
            res.starts_with("err:") && res.contains("GORT_MAXPROCS"),
            "GORT_MAXPROCS={bad:?}: {res}"
        );
        let run = child_line(&out, "RUN:").expect("the child reported");
        assert!(
            run.contains("GORT_MAXPROCS"),
            "GORT_MAXPROCS={bad:?}: {run}"
        );
    }
    // The child itself works: a valid value is taken.
    let out = run_child("child_gort_maxprocs_env", &[("GORT_MAXPROCS", "3")]);
    assert_eq!(child_line(&out, "RESULT:").as_deref(), Some("ok:3"));
}

// ---------------------------------------------------------------- WaitGroup

/// Go: any `Add` that leaves the counter below zero panics "sync: negative
/// WaitGroup counter", also from a positive count and for the most negative
/// delta (`wg.Add(math.MinInt32)`), which must not wrap to a positive count.
#[test]
fn waitgroup_add_below_zero_in_one_step_panics_like_go() {
    within(5, || {
        let wg = WaitGroup::new();
        wg.add(2);
        assert_eq!(
            panic_of(|| wg.add(-3)).as_deref(),
            Some("sync: negative WaitGroup counter")
        );
        let wg = WaitGroup::new();
        assert_eq!(
            panic_of(|| wg.add(isize::MIN)).as_deref(),
            Some("sync: negative WaitGroup counter")
        );
        let wg = WaitGroup::new();
        wg.add(1);
        assert_eq!(
            panic_of(|| wg.add(isize::MIN)).as_deref(),
            Some("sync: negative WaitGroup counter")
        );
    });
}

// ---------------------------------------------------------------- semaphore

/// x/sync: `NewWeighted(0)`: `Acquire(ctx, 0)` and `TryAcquire(0)` succeed,
/// `TryAcquire(1)` fails.
#[test]
fn semaphore_size_zero_acquire_zero_succeeds() {
    within(5, || {
        let sem = Weighted::new(0);
        assert!(sem.try_acquire(0).is_some());
        assert!(sem.try_acquire(1).is_none());
        let p = gort::run(async { sem.acquire(&Context::background(), 0).await });
        assert_eq!(p.unwrap().count(), 0);
    });
}

/// x/sync: `Release(n)` of more than held panics "semaphore: released more
/// than held" before it changes the count (the check comes first), so a
/// recovered caller still sees the permits it holds.
#[test]
fn semaphore_a_refused_over_release_leaves_the_count_alone() {
    within(5, || {
        let sem = Weighted::new(3);
        let p = sem.try_acquire(2).unwrap();
        assert_eq!(
            panic_of(|| sem.release(3)).as_deref(),
            Some("semaphore: released more than held")
        );
        assert_eq!(sem.held(), 2, "a failed release leaves the count alone");
        drop(p);
        assert_eq!(sem.held(), 0);
    });
}

// ---------------------------------------------------------------- errgroup

/// x/sync: every `Wait` returns `g.err`, so two goroutines waiting on one
/// group both get the first error. gort moves the error out (`E` need not be
/// `Clone`): one waiter gets it, the other panics "Wait called again"; never
/// does a waiter of a failed group see `Ok(())`.
#[test]
fn errgroup_a_second_concurrent_waiter_panics_rather_than_report_ok() {
    within(10, || {
        let g: Group<String> = Group::new();
        let (tx, rx) = chan::unbuffered::<()>();
        assert!(g.try_go(async move {
            rx.recv().await;
            Err("first".to_string())
        }));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || {
                    catch_unwind(AssertUnwindSafe(|| g.wait_blocking())).map_err(|p| panic_msg(&*p))
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20)); // both are waiting
        tx.send_blocking(()).unwrap();
        let mut outcomes: Vec<_> = waiters.into_iter().map(|t| t.join().unwrap()).collect();
        outcomes.sort_by_key(Result::is_err);
        assert_eq!(outcomes[0], Ok(Err("first".to_string())), "{outcomes:?}");
        let msg = outcomes[1].as_ref().unwrap_err();
        assert!(msg.contains("Wait called again"), "{outcomes:?}");
    });
}

/// Go: x/sync's errgroup does not recover a goroutine's panic (its 2025
/// propagation through `Wait` was reverted), so the program dies and there
/// is no second `Wait`. gort resumes the panic from the first `wait`; a
/// second `wait` must not report `Ok(())` for a group that failed: it
/// panics "Wait called again".
#[test]
fn errgroup_second_wait_after_a_panic_panics() {
    within(5, || {
        let g: Group<String> = Group::new();
        assert!(g.try_go(async { panic!("p") }));
        assert_eq!(panic_of(|| g.wait_blocking()).as_deref(), Some("p"));
        let again = panic_of(|| g.wait_blocking()).expect("a second wait panics, never Ok(())");
        assert!(again.contains("Wait called again"), "{again}");
    });
}

/// An error value whose drop sets a flag.
struct Failed(&'static str, #[allow(dead_code)] SetOnDrop);

/// x/sync: after the first error, later errors are ignored (`errOnce`), also
/// after `Wait` returned it. gort: a later task's error is dropped when that
/// task ends, not kept for a later `wait` (which panics "Wait called again");
/// a later panic still resurfaces (in Go it would end the program).
#[test]
fn errgroup_a_later_error_is_dropped_after_wait_returned_the_first() {
    within(5, || {
        let g: Group<Failed> = Group::new();
        let first = SetOnDrop(Arc::new(AtomicBool::new(false)));
        assert!(g.try_go(async move { Err(Failed("first", first)) }));
        match g.wait_blocking() {
            Err(Failed(name, _)) => assert_eq!(name, "first"),
            Ok(()) => panic!("the group failed"),
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let second = SetOnDrop(dropped.clone());
        assert!(g.try_go(async move { Err(Failed("second", second)) }));
        assert!(
            wait_until(5, || dropped.load(Ordering::SeqCst)),
            "the later error is dropped when its task ends"
        );
        let again = panic_of(|| g.wait_blocking()).expect("not Ok(()), not the later error");
        assert!(again.contains("Wait called again"), "{again}");
        // A later panic is not dropped: it resurfaces from the next wait.
        assert!(g.try_go(async { panic!("late panic") }));
        assert_eq!(
            panic_of(|| g.wait_blocking()).as_deref(),
            Some("late panic")
        );
    });
}

/// x/sync (2023+): `WithContext` cancels with the error as cause, so
/// `context.Cause(ctx)` is the first error. gort does so where `E` can be a
/// cause (`Cause`, `String`, `&str`: `tests/errgroup.rs`); any other `E`
/// need not be an `Error`, so its cause is the plain "context canceled".
#[test]
fn errgroup_derived_context_cause_of_a_non_error_type_is_plain_canceled() {
    within(5, || {
        let (g, ctx) = Group::<u32>::with_context(&Context::background());
        g.try_go(async { Err(7) });
        assert_eq!(g.wait_blocking(), Err(7));
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
        assert_eq!(ctx.cause().unwrap().to_string(), "context canceled");
    });
}

// ---------------------------------------------------------------- select

/// Go: `select { default: }` takes default; `select {}` (no cases, no
/// default) blocks forever without spinning. gort: `try_select` is `None`,
/// the async forms stay pending, and a zero-case `select_blocking` parks the
/// thread for good without burning CPU.
#[test]
fn select_with_zero_cases() {
    within(5, || {
        assert!(Select::new().try_select().is_none());
        let v = gort::select_blocking! { default => 5, };
        assert_eq!(v, 5);
        // Async: pending forever.
        let r = gort::run(timeout(Duration::from_millis(30), Select::new().select()));
        assert!(r.is_err());
        let r = gort::run(timeout(Duration::from_millis(30), async {
            gort::select! {}
        }));
        assert!(r.is_err());
    });
    // Blocking: the thread stays blocked and does not burn CPU.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("empty-select".into())
        .spawn(move || {
            let _ = Select::new().select_blocking();
            let _ = done_tx.send(());
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let before = thread_cpu_ticks("empty-select").expect("thread found");
    assert!(
        done_rx.recv_timeout(Duration::from_millis(600)).is_err(),
        "blocks forever"
    );
    let after_ = thread_cpu_ticks("empty-select").expect("thread found");
    assert!(
        after_ - before <= 3,
        "busy loop: {} ticks in 600 ms",
        after_ - before
    );
    // (the thread is leaked: it blocks forever, like Go's `select {}`)
}

/// Go's select is checked by the compiler (a case's value has the channel's
/// type). gort's dynamic `Select` cannot be: `Selected::recv::<Wrong>()`,
/// `recv` of a send case and `send_result` of a receive case panic with a
/// clear message, never read a value as the wrong type.
#[test]
fn select_selected_wrong_type_panics_clearly() {
    within(5, || {
        let (tx, rx) = chan::bounded::<i32>(1);
        tx.try_send(1).unwrap();
        let mut s = Select::new();
        s.recv(&rx);
        let sel = s.try_select().unwrap();
        let msg = panic_of(|| sel.recv::<String>()).unwrap();
        assert!(msg.contains("not a receive case of this type"), "{msg}");

        let mut s = Select::new();
        let i = s.send(&tx, 5);
        let sel = s.try_select().unwrap();
        assert_eq!(sel.index(), i);
        let msg = panic_of(|| sel.recv::<i32>()).unwrap();
        assert!(msg.contains("not a receive case"), "{msg}");

        let mut s = Select::new();
        s.recv(&rx);
        let sel = s.try_select().unwrap();
        let msg = panic_of(|| sel.send_result::<i32>()).unwrap();
        assert!(msg.contains("not a send case"), "{msg}");
    });
}

// ---------------------------------------------------------------- context

/// Go: `cancel(nil)` sets the cause to `context.Canceled` itself (so
/// `errors.Is(context.Cause(ctx), context.Canceled)`), and a later
/// `cancel(err)` does not replace it; a first non-nil cause is not replaced
/// by a later `cancel(nil)` either.
#[test]
fn context_cancel_cause_none_is_canceled_and_stays() {
    within(5, || {
        let (ctx, cancel) = Context::background().with_cancel_cause();
        cancel.cancel(None);
        let cause = ctx.cause().unwrap();
        assert_eq!(
            cause.downcast_ref::<ContextError>(),
            Some(&ContextError::Canceled)
        );
        cancel.cancel(Some(Arc::new(std::io::Error::other("second"))));
        assert_eq!(ctx.cause().unwrap().to_string(), "context canceled");

        let (ctx, cancel) = Context::background().with_cancel_cause();
        cancel.cancel(Some(Arc::new(std::io::Error::other("first"))));
        cancel.cancel(None);
        assert_eq!(ctx.cause().unwrap().to_string(), "first");
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
    });
}

// ---------------------------------------------------------------- tasks

/// Go has no join handle: a goroutine may block on anything, say a channel
/// that carries another goroutine's result. gort: a blocking
/// `JoinHandle::join` on a worker would stall its P, so it panics with a
/// clear message (not a silent deadlock); `.await` is the way.
#[test]
fn task_join_handle_join_inside_a_task_panics_clearly() {
    within(10, || {
        let rt = rt(1);
        let r = rt.block_on(async {
            gort::go(async {
                let h = gort::go(async { 2 });
                h.join()
            })
            .await
        });
        match r {
            Err(JoinError::Panicked(p)) => {
                let m = panic_msg(&*p);
                assert!(m.contains("JoinHandle::join"), "{m}");
            }
            other => panic!("expected a clear panic, got {other:?}"),
        }
    });
}

/// Go: a goroutine's panic ends the program with the panic value printed.
/// gort keeps the task's payload in `JoinError::Panicked`; it displays as
/// "task panicked" and its `Debug` shows the message.
#[test]
fn task_join_error_of_a_panic_displays_and_debugs() {
    within(10, || {
        let rt = rt(1);
        let e = rt
            .go(async { panic!("with {}", "format") })
            .join()
            .unwrap_err();
        assert_eq!(e.to_string(), "task panicked");
        assert_eq!(format!("{e:?}"), "Panicked(\"with format\")");
        let e = rt
            .go(async { std::panic::panic_any(7u8) })
            .join()
            .unwrap_err();
        assert_eq!(format!("{e:?}"), "Panicked(\"..\")");
    });
}

/// Go: a panic in a select case body is the goroutine's panic; the received
/// value is consumed, the channel's other values stay. gort: the same, with
/// the panic in the task's `JoinError`.
#[test]
fn task_panic_inside_select_arm() {
    within(10, || {
        let rt = rt(2);
        let (tx, rx) = chan::bounded::<u8>(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        let rx2 = rx.clone();
        let h = rt.go(async move {
            gort::select! {
                recv(rx2) -> v => {
                    if v == Some(1) { panic!("arm body panicked") }
                },
            }
        });
        match h.join() {
            Err(JoinError::Panicked(p)) => assert_eq!(panic_msg(&*p), "arm body panicked"),
            other => panic!("{other:?}"),
        }
        assert_eq!(rx.try_recv(), Ok(2), "the other value is still there");
    });
}

/// Go has one runtime per process, never dropped. gort: dropping a
/// `Runtime` from inside one of its own tasks (the last reference) must not
/// deadlock.
#[test]
fn task_drop_runtime_from_its_own_task() {
    let outcome = within(10, || {
        let rt = rt(2);
        let (tx, rx) = chan::bounded::<()>(1);
        let mine = rt.clone();
        let h = rt.go(async move {
            rx.recv().await;
            drop(mine); // the last reference
            "survived"
        });
        drop(rt);
        tx.send_blocking(()).unwrap();
        format!("{:?}", h.join())
    });
    eprintln!("drop runtime from its own task: join -> {outcome}");
}

/// Go has one runtime per process, never dropped. gort: a plain thread
/// blocked in `join` while the task's runtime is dropped wakes with
/// `Aborted`, not a hang.
#[test]
fn task_join_across_runtime_drop_is_aborted() {
    within(10, || {
        let rt = rt(1);
        let h = rt.go(std::future::pending::<()>());
        let t = std::thread::spawn(move || h.join());
        std::thread::sleep(Duration::from_millis(20));
        drop(rt);
        assert!(matches!(t.join().unwrap(), Err(JoinError::Aborted)));
    });
}

/// Go cannot abort a goroutine (a context asks it to return). gort: aborting
/// a parked task gives `Aborted`; aborting it twice is harmless.
#[test]
fn task_abort_twice() {
    within(10, || {
        let rt = rt(1);
        let h = rt.go(std::future::pending::<()>());
        h.abort();
        h.abort();
        assert!(matches!(h.join(), Err(JoinError::Aborted)));
    });
}

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop of an aborted future panicked");
        }
    }
}

/// Go has no destructors and never drops its runtime. gort: dropping a
/// runtime that holds a parked task whose destructor panics does not hang.
#[test]
fn runtime_drop_with_panicking_task_drop() {
    let r = within(10, || {
        let rt = rt(1);
        let h = rt.go(async {
            let _g = PanicOnDrop;
            std::future::pending::<()>().await
        });
        std::thread::sleep(Duration::from_millis(20));
        let dropped = panic_of(move || drop(rt));
        let joined = h.join();
        assert!(
            joined.is_err(),
            "a never-ready task cannot finish: {joined:?}"
        );
        (dropped, format!("{joined:?}"))
    });
    eprintln!(
        "runtime drop with panicking task drop: drop panic={:?}, join={}",
        r.0, r.1
    );
}

/// Go has no futures; its nearest misuse, a second receive of a one-shot
/// result channel, blocks forever. gort: polling a `JoinHandle` again after
/// it returned its output is a clear panic, not a hang or a second value.
#[test]
fn task_join_handle_polled_after_output_panics_clearly() {
    within(10, || {
        let rt = rt(1);
        let msg = rt.block_on(async {
            let mut h = gort::go(async { 1 });
            assert_eq!((&mut h).await.unwrap(), 1);
            let mut h = std::pin::pin!(h);
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            panic_of(|| h.as_mut().poll(&mut cx))
        });
        let msg = msg.unwrap();
        assert!(msg.contains("JoinHandle polled after it returned"), "{msg}");
    });
}
