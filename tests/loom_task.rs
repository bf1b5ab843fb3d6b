//! loom models of a task's state machine (`runtime/state.rs`): a wake racing
//! a poll is never lost and never queues the task twice; an abort racing a
//! poll and a wake drops the future on the next run.
#![cfg(gort_loom)]

use gort::__loom::{Start, State};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

/// One poll: completes if the event it waits for has happened.
fn run_once(state: &State, event: &AtomicBool) -> Option<bool> {
    match state.start_run() {
        Start::Cancel => None,
        Start::Poll if event.load(Ordering::Acquire) => {
            state.complete();
            Some(false)
        }
        // Pending: `true` if the runner must queue it again.
        Start::Poll => Some(state.after_pending()),
    }
}

#[test]
fn a_wake_racing_a_poll_is_never_lost_nor_doubled() {
    loom::model(|| {
        let state = Arc::new(State::new());
        let event = Arc::new(AtomicBool::new(false));
        let (s, e) = (state.clone(), event.clone());
        let waker = thread::spawn(move || {
            e.store(true, Ordering::Release);
            s.wake()
        });
        let requeued = run_once(&state, &event) == Some(true);
        let woke_idle = waker.join().unwrap();
        assert!(!(requeued && woke_idle), "queued twice");
        if requeued || woke_idle {
            // The next run sees the event and completes.
            assert_eq!(run_once(&state, &event), Some(false));
        }
        assert!(state.is_complete(), "the wake was lost");
    });
}

#[test]
fn abort_racing_a_poll_and_a_wake_cancels_on_the_next_run() {
    loom::model(|| {
        let state = Arc::new(State::new());
        let never = AtomicBool::new(false);
        let (s1, s2) = (state.clone(), state.clone());
        let aborter = thread::spawn(move || s1.abort());
        let waker = thread::spawn(move || s2.wake());
        let first = run_once(&state, &never);
        let queued = [
            first == Some(true),
            aborter.join().unwrap(),
            waker.join().unwrap(),
        ]
        .iter()
        .filter(|&&q| q)
        .count();
        assert!(queued <= 1, "queued {queued} times");
        if first.is_none() {
            return; // cancelled on its first run: the abort came first
        }
        assert_eq!(queued, 1, "an abort left the task idle");
        assert_eq!(state.start_run(), Start::Cancel);
    });
}

#[test]
fn shutdown_and_a_wake_never_both_take_the_task() {
    loom::model(|| {
        let state = Arc::new(State::new());
        // Run once and park, so the task is idle.
        assert_eq!(state.start_run(), Start::Poll);
        assert!(!state.after_pending());
        let s = state.clone();
        let waker = thread::spawn(move || s.wake());
        let claimed = state.claim_to_cancel();
        let woke = waker.join().unwrap();
        assert!(
            claimed,
            "an idle or queued task is always claimable at shutdown"
        );
        if woke {
            // The queued reference finds the task claimed: it must not run it.
            assert!(!state.claim_to_cancel());
        }
    });
}
