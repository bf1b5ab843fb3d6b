//! Go's context tests (context_test.go, x_test.go), ported from their
//! documented behaviour, plus adversarial ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use gort::context::{Cause, Context, ContextError, Key};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct MyErr(&'static str);

fn cause(msg: &'static str) -> Cause {
    Arc::new(MyErr(msg))
}

fn cause_str(ctx: &Context) -> Option<String> {
    ctx.cause().map(|c| c.to_string())
}

/// Waits (bounded) until `ctx` is done.
fn wait_err(ctx: &Context, within: Duration) -> Option<ContextError> {
    let start = Instant::now();
    while ctx.err().is_none() && start.elapsed() < within {
        thread::sleep(Duration::from_millis(1));
    }
    ctx.err()
}

#[test]
fn background_and_todo_are_never_done() {
    for (ctx, name) in [
        (Context::background(), "context.Background"),
        (Context::todo(), "context.TODO"),
    ] {
        assert_eq!(ctx.err(), None);
        assert!(ctx.cause().is_none());
        assert_eq!(ctx.deadline(), None);
        assert_eq!(format!("{ctx:?}"), name);
    }
}

#[test]
fn error_strings_are_gos() {
    assert_eq!(ContextError::Canceled.to_string(), "context canceled");
    assert_eq!(
        ContextError::DeadlineExceeded.to_string(),
        "context deadline exceeded"
    );
}

#[test]
fn with_cancel_cancels_every_descendant() {
    let (c1, cancel) = Context::background().with_cancel();
    let (c2, _cancel2) = c1.with_cancel();
    static K: Key<u32> = Key::new("k");
    let c3 = c2.with_value(&K, 3);
    let (c4, _cancel4) = c3.with_timeout(Duration::from_secs(60));
    for c in [&c1, &c2, &c3, &c4] {
        assert_eq!(c.err(), None);
    }
    cancel.cancel();
    for c in [&c1, &c2, &c3, &c4] {
        assert_eq!(c.err(), Some(ContextError::Canceled), "{c:?}");
        assert_eq!(cause_str(c).as_deref(), Some("context canceled"));
    }
    assert!(!c4.has_timer(), "cancel disarms the child's timer");
}

#[test]
fn cancel_never_flows_upward() {
    let (parent, _cancel) = Context::background().with_cancel();
    let (child, cancel_child) = parent.with_cancel();
    let (sibling, _cancel_sibling) = parent.with_cancel();
    cancel_child.cancel();
    assert_eq!(child.err(), Some(ContextError::Canceled));
    assert_eq!(parent.err(), None);
    assert_eq!(sibling.err(), None);
}

#[test]
fn parent_finishes_child_and_forgets_it() {
    let (parent, cancel) = Context::background().with_cancel();
    let (cancel_child, _c1) = parent.with_cancel();
    let (timer_child, _c2) = parent.with_timeout(Duration::from_secs(60));
    assert_eq!(parent.registered_entries(), 2);
    cancel.cancel();
    assert_eq!(parent.registered_entries(), 0);
    assert_eq!(cancel_child.err(), Some(ContextError::Canceled));
    assert_eq!(timer_child.err(), Some(ContextError::Canceled));
    // Deriving from a cancelled context registers nothing.
    let (late, _c3) = parent.with_cancel();
    assert_eq!(late.err(), Some(ContextError::Canceled));
    assert_eq!(parent.registered_entries(), 0);
}

#[test]
fn child_cancel_removes_it_from_parent() {
    let (parent, _cancel) = Context::background().with_cancel();
    let (_child, cancel_child) = parent.with_cancel();
    let (_timed, cancel_timed) = parent.with_timeout(Duration::from_secs(60));
    assert_eq!(parent.registered_entries(), 2);
    cancel_child.cancel();
    assert_eq!(parent.registered_entries(), 1);
    cancel_timed.cancel();
    assert_eq!(parent.registered_entries(), 0);
}

#[test]
fn dropping_a_child_unlinks_it_and_disarms_its_timer() {
    let (parent, _cancel) = Context::background().with_cancel();
    let (child, cancel_child) = parent.with_timeout(Duration::from_secs(60));
    assert!(child.has_timer());
    let grandchild = child.with_cancel();
    assert_eq!(parent.registered_entries(), 1);
    drop((child, cancel_child));
    // The grandchild still holds the child.
    assert_eq!(parent.registered_entries(), 1);
    drop(grandchild);
    assert_eq!(parent.registered_entries(), 0);
}

#[test]
fn deadline_fires_with_deadline_exceeded() {
    let start = Instant::now();
    let (ctx, _cancel) = Context::background().with_deadline(start + Duration::from_millis(20));
    assert_eq!(ctx.deadline(), Some(start + Duration::from_millis(20)));
    assert_eq!(ctx.err(), None);
    assert_eq!(
        wait_err(&ctx, Duration::from_secs(5)),
        Some(ContextError::DeadlineExceeded)
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(
        cause_str(&ctx).as_deref(),
        Some("context deadline exceeded")
    );
}

#[test]
fn timeout_fires_and_reaches_children() {
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(10));
    let (child, _c) = ctx.with_cancel();
    assert_eq!(
        wait_err(&child, Duration::from_secs(5)),
        Some(ContextError::DeadlineExceeded)
    );
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
}

#[test]
fn cancelled_timeout_reports_canceled() {
    let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(1));
    cancel.cancel();
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
    assert!(!ctx.has_timer());
}

#[test]
fn past_deadline_cancels_at_once_without_a_timer() {
    let (ctx, _cancel) =
        Context::background().with_deadline(Instant::now() - Duration::from_secs(1));
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
    assert!(!ctx.has_timer());
    let (zero, _cancel) = Context::background().with_timeout(Duration::ZERO);
    assert_eq!(zero.err(), Some(ContextError::DeadlineExceeded));
    assert!(!zero.has_timer());
}

#[test]
fn child_of_an_earlier_deadline_arms_no_timer() {
    let soon = Instant::now() + Duration::from_secs(30);
    let (parent, _c) = Context::background().with_deadline(soon);
    let (child, _c2) = parent.with_deadline(soon + Duration::from_secs(30));
    assert_eq!(child.deadline(), Some(soon));
    assert!(!child.has_timer());
    let (earlier, _c3) = parent.with_deadline(soon - Duration::from_secs(10));
    assert_eq!(earlier.deadline(), Some(soon - Duration::from_secs(10)));
    assert!(earlier.has_timer());
    let (plain, _c4) = parent.with_cancel();
    assert_eq!(plain.deadline(), Some(soon));
}

#[test]
fn values_are_found_through_ancestors() {
    static K1: Key<&str> = Key::new("k1");
    static K2: Key<&str> = Key::new("k2");
    static K3: Key<&str> = Key::new("k3");
    let c0 = Context::background();
    assert_eq!(c0.value(&K1), None);
    let c1 = c0.with_value(&K1, "c1k1");
    let c2 = c1.with_value(&K2, "c2k2");
    let (c3, _cancel) = c2.with_cancel();
    let c4 = c3.with_value(&K1, "c4k1");
    let o = c4.without_cancel();
    assert_eq!(c1.value(&K1), Some(&"c1k1"));
    assert_eq!(c1.value(&K2), None);
    assert_eq!(c2.value(&K1), Some(&"c1k1"));
    assert_eq!(c2.value(&K2), Some(&"c2k2"));
    assert_eq!(c3.value(&K2), Some(&"c2k2"));
    assert_eq!(c4.value(&K1), Some(&"c4k1"), "nearest value shadows");
    assert_eq!(c4.value(&K3), None);
    assert_eq!(o.value(&K1), Some(&"c4k1"));
    assert_eq!(
        c1.value(&K1),
        Some(&"c1k1"),
        "a child never changes its parent"
    );
}

#[test]
fn keys_are_identified_by_address_and_type() {
    static A: Key<u32> = Key::new("same");
    static B: Key<u32> = Key::new("same");
    static C: Key<u64> = Key::new("same");
    let ctx = Context::background().with_value(&A, 1u32);
    assert_eq!(ctx.value(&A), Some(&1));
    assert_eq!(ctx.value(&B), None);
    assert_eq!(ctx.value(&C), None);
    assert_eq!(A.name(), "same");
}

#[test]
fn without_cancel_keeps_values_only() {
    static K: Key<i32> = Key::new("k");
    let (parent, cancel) = Context::background()
        .with_value(&K, 7)
        .with_timeout(Duration::from_secs(60));
    let detached = parent.without_cancel();
    let (child, _c) = detached.with_cancel();
    cancel.cancel();
    assert_eq!(parent.err(), Some(ContextError::Canceled));
    assert_eq!(detached.err(), None);
    assert!(detached.cause().is_none());
    assert_eq!(detached.deadline(), None);
    assert_eq!(detached.value(&K), Some(&7));
    assert_eq!(child.err(), None);
    assert_eq!(
        format!("{detached:?}").rsplit('.').next(),
        Some("WithoutCancel")
    );
}

#[test]
fn first_cancellation_wins() {
    let (ctx, cancel) = Context::background().with_cancel_cause();
    cancel.cancel(Some(cause("first")));
    cancel.cancel(Some(cause("second")));
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
    assert_eq!(cause_str(&ctx).as_deref(), Some("first"));

    let (ctx, cancel) = Context::background().with_timeout(Duration::from_millis(5));
    cancel.cancel();
    thread::sleep(Duration::from_millis(20));
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
}

#[test]
fn cause_rules() {
    // No cause given: the cause is the error.
    let (ctx, cancel) = Context::background().with_cancel_cause();
    cancel.cancel(None);
    assert_eq!(cause_str(&ctx).as_deref(), Some("context canceled"));

    // A child inherits its parent's error and cause.
    let (parent, cancel) = Context::background().with_cancel_cause();
    let (child, _c) = parent.with_cancel();
    let (timed, _c) = parent.with_timeout_cause(Duration::from_secs(60), cause("own"));
    cancel.cancel(Some(cause("parent")));
    for c in [&child, &timed] {
        assert_eq!(c.err(), Some(ContextError::Canceled));
        assert_eq!(cause_str(c).as_deref(), Some("parent"));
    }
    // A child created after the cancel inherits them too.
    let (late, _c) = parent.with_cancel_cause();
    assert_eq!(cause_str(&late).as_deref(), Some("parent"));

    // A child cancelled first keeps its own cause.
    let (parent, cancel) = Context::background().with_cancel_cause();
    let (child, cancel_child) = parent.with_cancel_cause();
    cancel_child.cancel(Some(cause("child")));
    cancel.cancel(Some(cause("parent")));
    assert_eq!(cause_str(&child).as_deref(), Some("child"));

    // A deadline's cause.
    let (ctx, _c) = Context::background().with_timeout_cause(Duration::ZERO, cause("late"));
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
    assert_eq!(cause_str(&ctx).as_deref(), Some("late"));
    let (ctx, _c) = Context::background()
        .with_deadline_cause(Instant::now() + Duration::from_millis(5), cause("fired"));
    assert_eq!(
        wait_err(&ctx, Duration::from_secs(5)),
        Some(ContextError::DeadlineExceeded)
    );
    assert_eq!(cause_str(&ctx).as_deref(), Some("fired"));

    // Cancelled before its deadline: Canceled, and the cause is the error.
    let (ctx, cancel) =
        Context::background().with_timeout_cause(Duration::from_secs(60), cause("x"));
    cancel.cancel();
    assert_eq!(cause_str(&ctx).as_deref(), Some("context canceled"));

    // The parent's earlier deadline decides, with the parent's cause.
    let (parent, _c) = Context::background()
        .with_timeout_cause(Duration::from_millis(5), cause("parent deadline"));
    let (child, _c) = parent.with_timeout_cause(Duration::from_secs(60), cause("child deadline"));
    assert!(!child.has_timer());
    assert_eq!(
        wait_err(&child, Duration::from_secs(5)),
        Some(ContextError::DeadlineExceeded)
    );
    assert_eq!(cause_str(&child).as_deref(), Some("parent deadline"));

    // Nothing to report while live.
    let (ctx, _c) = Context::background().with_cancel_cause();
    assert!(ctx.cause().is_none());
}

#[test]
fn cause_is_consistent_with_err_under_races() {
    for _ in 0..200 {
        let (ctx, cancel) = Context::background().with_cancel_cause();
        let (child, _c) = ctx.with_cancel();
        let reader = thread::spawn(move || {
            loop {
                // err() first: once it reports, the cause is there.
                if let Some(err) = child.err() {
                    assert_eq!(err, ContextError::Canceled);
                    assert_eq!(cause_str(&child).as_deref(), Some("boom"));
                    return;
                }
                std::hint::spin_loop();
            }
        });
        cancel.cancel(Some(cause("boom")));
        reader.join().unwrap();
    }
}

#[test]
fn after_func_runs_after_cancel_in_its_own_task() {
    let (ctx, cancel) = Context::background().with_cancel();
    let (tx, rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let stop = ctx.after_func(move || {
        tx.send(()).unwrap();
        // Blocks until the test says so: cancel must not wait for it.
        let _ = release_rx.recv();
    });
    assert!(rx.recv_timeout(Duration::from_millis(20)).is_err());
    cancel.cancel();
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(!stop.stop(), "already started");
    release_tx.send(()).unwrap();
}

#[test]
fn after_func_runs_after_deadline_and_at_once_when_done() {
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(5));
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    let _stop = ctx.after_func(move || tx.send("deadline").unwrap());
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("deadline"));
    let _stop = ctx.after_func(move || tx2.send("immediately").unwrap());
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("immediately"));
}

#[test]
fn after_func_stopped_never_runs() {
    let (ctx, cancel) = Context::background().with_cancel();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let stop = ctx.after_func(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(ctx.registered_entries(), 1);
    assert!(stop.stop());
    assert_eq!(ctx.registered_entries(), 0);
    assert!(!stop.stop(), "stop is idempotent");
    cancel.cancel();
    thread::sleep(Duration::from_millis(20));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn after_func_keeps_its_context_registered() {
    let (parent, cancel) = Context::background().with_cancel();
    let (ctx, cancel_ctx) = parent.with_cancel();
    let (tx, rx) = mpsc::channel();
    let _handle = ctx.after_func(move || tx.send(()).unwrap());
    drop((ctx, cancel_ctx));
    assert_eq!(parent.registered_entries(), 1);
    cancel.cancel();
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
fn after_func_on_background_never_runs_and_stops() {
    let stop = Context::background().after_func(|| panic!("must not run"));
    assert!(stop.stop());
    assert!(!stop.stop());
}

#[test]
fn after_func_concurrent_stop_and_cancel_run_exactly_one() {
    for _ in 0..200 {
        let (ctx, cancel) = Context::background().with_cancel();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let (tx, rx) = mpsc::channel();
        let stop = ctx.after_func(move || {
            r.fetch_add(1, Ordering::SeqCst);
            tx.send(()).unwrap();
        });
        let t = thread::spawn(move || cancel.cancel());
        let stopped = stop.stop();
        t.join().unwrap();
        if stopped {
            assert!(rx.recv_timeout(Duration::from_millis(10)).is_err());
            assert_eq!(ran.load(Ordering::SeqCst), 0);
        } else {
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(ran.load(Ordering::SeqCst), 1);
        }
    }
}

#[test]
fn simultaneous_cancels_from_many_threads() {
    let (root, cancel_root) = Context::background().with_cancel();
    let mut cancels = vec![cancel_root];
    let mut ctxs = vec![root.clone()];
    for i in 0..100 {
        let parent = ctxs[i / 3].clone();
        let (c, cancel) = parent.with_cancel();
        ctxs.push(c);
        cancels.push(cancel);
    }
    let barrier = Arc::new(Barrier::new(cancels.len()));
    let threads: Vec<_> = cancels
        .into_iter()
        .map(|c| {
            let b = barrier.clone();
            thread::spawn(move || {
                b.wait();
                c.cancel();
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    for c in &ctxs {
        assert_eq!(c.err(), Some(ContextError::Canceled));
        assert_eq!(c.registered_entries(), 0);
    }
}

#[test]
fn cancel_racing_with_derive_never_loses_a_child() {
    for _ in 0..50 {
        let (root, cancel) = Context::background().with_cancel();
        let barrier = Arc::new(Barrier::new(5));
        let derivers: Vec<_> = (0..4)
            .map(|_| {
                let root = root.clone();
                let b = barrier.clone();
                thread::spawn(move || {
                    b.wait();
                    let mut kept = Vec::new();
                    for i in 0..200 {
                        let (c, cancel) = root.with_cancel();
                        if i % 2 == 0 {
                            // Half derive a grandchild and are dropped at once.
                            let _ = c.with_timeout(Duration::from_secs(60));
                        } else {
                            kept.push((c, cancel));
                        }
                    }
                    kept
                })
            })
            .collect();
        barrier.wait();
        cancel.cancel();
        for t in derivers {
            for (c, _) in t.join().unwrap() {
                assert_eq!(c.err(), Some(ContextError::Canceled));
            }
        }
        assert_eq!(root.registered_entries(), 0);
    }
}

#[test]
fn cancel_of_a_large_deep_tree_reaches_every_leaf() {
    let (root, cancel) = Context::background().with_cancel();
    let mut level = vec![root.clone()];
    let mut keep = Vec::new();
    for _ in 0..4 {
        let mut next = Vec::new();
        for parent in &level {
            for _ in 0..10 {
                let (c, cf) = parent.with_cancel();
                keep.push(cf);
                next.push(c);
            }
        }
        level = next;
    }
    assert_eq!(level.len(), 10_000);
    // And a chain deep enough to overflow a recursive cancel.
    let mut chain = root.clone();
    for _ in 0..100_000 {
        chain = chain.with_cancel().0;
    }
    cancel.cancel();
    assert!(
        level
            .iter()
            .all(|c| c.err() == Some(ContextError::Canceled))
    );
    assert_eq!(chain.err(), Some(ContextError::Canceled));
    // Dropping the chain must not recurse 100k frames deep either.
    drop(chain);
}

#[test]
fn dropping_a_deep_chain_that_was_never_cancelled_does_not_recurse() {
    // Each level's cancel state holds its parent's: the last handle going
    // releases 100k of them, which must not take 100k stack frames.
    let (root, _cancel) = Context::background().with_cancel();
    let mut chain = root.clone();
    for i in 0..100_000 {
        chain = if i % 2 == 0 {
            chain.with_cancel().0
        } else {
            chain.with_timeout(Duration::from_secs(600)).0
        };
    }
    assert_eq!(root.registered_entries(), 1);
    drop(chain);
    assert_eq!(root.registered_entries(), 0);
}

#[test]
fn done_stays_open_when_its_context_handles_are_dropped() {
    use gort::chan::{RecvTimeoutError, TryRecvError};
    // Go closes `done` only on cancellation. A task that watches `done`
    // keeps the context registered, and sees the real reason it ends.
    let (parent, cancel_parent) = Context::background().with_cancel();
    let (deadline_done, cancel_done) = {
        let (ctx, _cancel) = parent.with_timeout(Duration::from_millis(50));
        let (child, _cancel_child) = parent.with_cancel();
        (ctx.done(), child.done())
    };
    assert_eq!(parent.registered_entries(), 2, "both stay registered");
    assert_eq!(deadline_done.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(cancel_done.try_recv(), Err(TryRecvError::Empty));
    // The deadline still fires, although nothing but `done` is left of it.
    assert_eq!(
        deadline_done.recv_timeout(Duration::from_secs(5)),
        Err(RecvTimeoutError::Closed)
    );
    assert_eq!(parent.registered_entries(), 1);
    assert_eq!(cancel_done.try_recv(), Err(TryRecvError::Empty));
    cancel_parent.cancel();
    assert_eq!(cancel_done.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn dropping_the_last_done_receiver_releases_the_context() {
    let (parent, cancel_parent) = Context::background().with_cancel();
    let (ctx, cancel) = parent.with_timeout(Duration::from_secs(600));
    let first = ctx.done();
    let second = ctx.done();
    drop((ctx.clone(), cancel));
    drop(ctx);
    assert_eq!(parent.registered_entries(), 1);
    drop(first);
    assert_eq!(parent.registered_entries(), 1, "a receiver is left");
    drop(second);
    assert_eq!(parent.registered_entries(), 0);
    // Asked for `done` again after its receivers went (a `select!` loop
    // over `ctx.done()` does that every round), a context is kept alive
    // again, and its channel still closes on cancel.
    let (ctx, cancel) = parent.with_cancel();
    for _ in 0..3 {
        drop(ctx.done());
    }
    let again = ctx.done();
    drop((ctx, cancel));
    assert_eq!(parent.registered_entries(), 1, "`again` keeps it");
    cancel_parent.cancel();
    assert_eq!(again.recv_blocking(), None);
}

#[test]
fn last_handle_and_last_watcher_racing_leak_nothing() {
    // The last handle going hands the node to the `done` channel if a
    // watcher is left; the last watcher going takes it back. Raced from two
    // threads, the node must end up freed (unlinked from its parent), and a
    // watcher that outlives the handles must never see `done` closed.
    let (parent, _cancel) = Context::background().with_cancel();
    for i in 0..2_000 {
        let (ctx, cancel) = parent.with_timeout(Duration::from_secs(600));
        let watcher = ctx.done();
        let extra = (i % 2 == 0).then(|| ctx.done());
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                drop((ctx, cancel));
            });
            barrier.wait();
            if let Some(extra) = extra {
                assert_eq!(extra.try_recv(), Err(gort::chan::TryRecvError::Empty));
            }
            drop(watcher);
        });
        assert_eq!(parent.registered_entries(), 0, "round {i}");
    }
}

#[test]
fn done_of_background_and_without_cancel_is_never_ready() {
    use gort::chan::TryRecvError;
    let (ctx, cancel) = Context::background().with_cancel();
    let detached = ctx.without_cancel();
    cancel.cancel();
    for c in [Context::background(), Context::todo(), detached] {
        assert_eq!(c.done().try_recv(), Err(TryRecvError::Empty));
    }
}

#[test]
fn done_is_closed_on_cancel_whenever_it_was_asked_for() {
    use gort::chan::TryRecvError;
    let (ctx, cancel) = Context::background().with_cancel();
    static K: Key<u8> = Key::new("k");
    let valued = ctx.with_value(&K, 1);
    let early = valued.done();
    assert_eq!(early.try_recv(), Err(TryRecvError::Empty));
    cancel.cancel();
    assert_eq!(early.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(ctx.done().try_recv(), Err(TryRecvError::Closed));
    assert_eq!(early.recv_blocking(), None);
    // A deadline closes it too, from the timer thread.
    let (ctx, _c) = Context::background().with_timeout(Duration::from_millis(5));
    assert_eq!(
        ctx.done().recv_timeout(Duration::from_secs(5)),
        Err(gort::chan::RecvTimeoutError::Closed)
    );
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
}

#[test]
fn err_reports_exactly_when_done_is_closed() {
    use gort::chan::TryRecvError;
    for _ in 0..300 {
        let (ctx, cancel) = Context::background().with_cancel();
        let (child, _c) = ctx.with_cancel();
        let done = child.done();
        let (child2, done2) = (child.clone(), child.done());
        let waiter = thread::spawn(move || {
            // And the other way round: once done is closed, err reports.
            assert_eq!(done2.recv_blocking(), None);
            assert_eq!(child2.err(), Some(ContextError::Canceled));
        });
        let reader = thread::spawn(move || {
            loop {
                if child.err().is_some() {
                    assert_eq!(done.try_recv(), Err(TryRecvError::Closed));
                    assert_eq!(child.done().try_recv(), Err(TryRecvError::Closed));
                    return;
                }
                std::hint::spin_loop();
            }
        });
        cancel.cancel();
        reader.join().unwrap();
        waiter.join().unwrap();
    }
}

#[test]
fn done_works_in_a_select() {
    let (ctx, cancel) = Context::background().with_cancel();
    let (_tx, rx) = gort::chan::bounded::<u32>(1);
    let picked = gort::run(async {
        let waiter = {
            let ctx = ctx.clone();
            gort::go(async move {
                let done = ctx.done();
                let mut sel = gort::Select::new();
                let _value = sel.recv(&rx);
                let cancelled = sel.recv(&done);
                sel.select().await.index() == cancelled
            })
        };
        gort::time::sleep(Duration::from_millis(5)).await;
        cancel.cancel();
        waiter.await.unwrap()
    });
    assert!(picked);
}

#[test]
fn cancelling_a_tree_of_10k_wakes_every_parked_task() {
    let (root, cancel) = Context::background().with_cancel();
    let mut level = vec![root.clone()];
    let mut keep = Vec::new();
    for _ in 0..4 {
        let mut next = Vec::new();
        for parent in &level {
            for _ in 0..10 {
                let (c, cf) = parent.with_cancel();
                keep.push(cf);
                next.push(c);
            }
        }
        level = next;
    }
    let woken = Arc::new(AtomicUsize::new(0));
    gort::run(async {
        let handles: Vec<_> = level
            .into_iter()
            .map(|leaf| {
                let woken = woken.clone();
                gort::go(async move {
                    assert_eq!(leaf.done().recv().await, None);
                    assert_eq!(leaf.err(), Some(ContextError::Canceled));
                    woken.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        gort::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(woken.load(Ordering::SeqCst), 0);
        cancel.cancel();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(woken.load(Ordering::SeqCst), 10_000);
}
