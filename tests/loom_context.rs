#![cfg(gort_loom)]
//! loom models of the context tree's cancel propagation: cancel racing with
//! derive, with a child's own cancel and drop, the err/cause publication,
//! and `done`'s keep-alive handed between the last handle and the last watcher.
//!
//! Run: `RUSTFLAGS="--cfg gort_loom" CARGO_TARGET_DIR=target/loom cargo test --release --test loom_context`

use gort::context::{Context, ContextError};
use loom::thread;

mod loom_support;
use loom_support::model;

#[test]
fn cancel_racing_with_derive() {
    model(|| {
        let (parent, cancel) = Context::background().with_cancel();
        let p = parent.clone();
        let t = thread::spawn(move || p.with_cancel());
        cancel.cancel();
        let (child, _cancel_child) = t.join().unwrap();
        // Registered before the cancel and reached by it, or derived after it
        // and cancelled at birth: never missed.
        assert_eq!(child.err(), Some(ContextError::Canceled));
        assert_eq!(parent.registered_entries(), 0);
    });
}

#[test]
fn parent_cancel_racing_with_child_cancel_and_drop() {
    model(|| {
        let (parent, cancel) = Context::background().with_cancel();
        let (child, cancel_child) = parent.with_cancel();
        let (grandchild, _g) = child.with_cancel();
        let t = thread::spawn(move || {
            cancel_child.cancel();
            drop(child);
        });
        cancel.cancel();
        t.join().unwrap();
        assert_eq!(grandchild.err(), Some(ContextError::Canceled));
        assert_eq!(parent.registered_entries(), 0);
    });
}

#[test]
fn drop_racing_with_parent_cancel_unlinks_exactly_once() {
    model(|| {
        let (parent, cancel) = Context::background().with_cancel();
        let (a, ca) = parent.with_cancel();
        let (b, _cb) = parent.with_cancel();
        let t = thread::spawn(move || drop((a, ca)));
        cancel.cancel();
        t.join().unwrap();
        // `b`'s slot was never removed by `a`'s unlink.
        assert_eq!(b.err(), Some(ContextError::Canceled));
        assert_eq!(parent.registered_entries(), 0);
    });
}

#[test]
fn err_and_cause_are_published_together() {
    model(|| {
        let (ctx, cancel) = Context::background().with_cancel_cause();
        let (child, _c) = ctx.with_cancel();
        let reader = thread::spawn(move || {
            if let Some(err) = child.err() {
                assert_eq!(err, ContextError::Canceled);
                assert!(child.cause().is_some());
            }
        });
        cancel.cancel(None);
        reader.join().unwrap();
    });
}

#[test]
fn last_handle_racing_with_last_watcher_frees_the_node() {
    // The last handle hands the node to `done`'s channel if a watcher is
    // left; the last watcher takes it back. Every interleaving must end
    // with the node freed (unlinked from its parent), and the watcher must
    // see `done` open while it holds it, as nothing cancelled the context.
    model(|| {
        let (parent, _cancel) = Context::background().with_cancel();
        let (ctx, cancel) = parent.with_cancel();
        let watcher = ctx.done();
        let t = thread::spawn(move || drop((ctx, cancel)));
        assert_eq!(watcher.try_recv(), Err(gort::chan::TryRecvError::Empty));
        drop(watcher);
        t.join().unwrap();
        assert_eq!(parent.registered_entries(), 0);
    });
}

#[test]
fn cancel_racing_with_the_last_handle_and_a_watcher() {
    // A cancel closes `done` (and lets go of a keep-alive) while the last
    // handle goes: the watcher sees it closed, and nothing leaks.
    model(|| {
        let (parent, cancel_parent) = Context::background().with_cancel();
        let (ctx, cancel) = parent.with_cancel();
        let watcher = ctx.done();
        let t = thread::spawn(move || drop((ctx, cancel)));
        cancel_parent.cancel();
        t.join().unwrap();
        assert_eq!(watcher.try_recv(), Err(gort::chan::TryRecvError::Closed));
        drop(watcher);
        assert_eq!(parent.registered_entries(), 0);
    });
}

#[test]
fn watcher_handed_over_between_threads_while_the_last_handle_goes() {
    // A watcher cloned and the original dropped on another thread, racing
    // with the last handle; then the last watcher's drop racing with the
    // parent's cancel. (From this session's review.)
    model(|| {
        let (parent, cancel_parent) = Context::background().with_cancel();
        let (ctx, cancel) = parent.with_cancel();
        let w1 = ctx.done();
        let t1 = thread::spawn(move || drop((ctx, cancel)));
        let t2 = thread::spawn(move || {
            let w2 = w1.clone();
            drop(w1);
            w2
        });
        let w2 = t2.join().unwrap();
        t1.join().unwrap();
        assert_eq!(w2.try_recv(), Err(gort::chan::TryRecvError::Empty));
        assert_eq!(parent.registered_entries(), 1, "w2 keeps it");
        let t3 = thread::spawn(move || drop(w2));
        cancel_parent.cancel();
        t3.join().unwrap();
        assert_eq!(parent.registered_entries(), 0);
    });
}

#[test]
fn a_handle_asking_for_done_while_the_others_go() {
    // One thread drops the cancel func, one asks for `done` and drops the
    // context, one drops the first watcher: the new watcher keeps the
    // context, and dropping it frees it.
    model(|| {
        let (parent, _cancel_parent) = Context::background().with_cancel();
        let (ctx, cancel) = parent.with_cancel();
        let w0 = ctx.done();
        let t1 = thread::spawn(move || drop(cancel));
        let t2 = thread::spawn(move || {
            let w = ctx.done();
            drop(ctx);
            w
        });
        let t3 = thread::spawn(move || drop(w0));
        let w = t2.join().unwrap();
        t1.join().unwrap();
        t3.join().unwrap();
        assert_eq!(w.try_recv(), Err(gort::chan::TryRecvError::Empty));
        assert_eq!(parent.registered_entries(), 1);
        drop(w);
        assert_eq!(parent.registered_entries(), 0);
    });
}
