//! loom models of a task's state machine (`runtime/state.rs`): a wake racing
//! a poll is never lost and never queues the task twice; an abort racing a
//! poll and a wake drops the future on the next run; the reference count
//! reaches zero exactly once, after every other use.
#![cfg(gort_loom)]

use gort::__loom::{Start, State, WakeByVal};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

/// One poll: completes if the event it waits for has happened.
fn run_once(state: &State, event: &AtomicBool) -> Option<bool> {
    match state.start_run() {
        Start::Cancel => None,
        Start::Poll if event.load(Ordering::Acquire) => {
            let _ = state.complete();
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
            s.wake_by_ref()
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
        let waker = thread::spawn(move || s2.wake_by_ref());
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
        let waker = thread::spawn(move || s.wake_by_ref());
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

/// A task as far as its reference count goes: the state word, something the
/// holders read, and how many times it was freed.
struct Counted {
    state: State,
    payload: UnsafeCell<usize>,
    frees: AtomicUsize,
}

impl Counted {
    /// A holder's use of the task (loom flags it if it races the free).
    fn touch(&self) {
        // SAFETY: only `free` writes, and loom checks it comes after.
        assert_eq!(self.payload.with(|p| unsafe { *p }), 7, "used after free");
    }

    fn free(&self) {
        // SAFETY: the last reference is gone: loom checks every `touch`
        // happens before this write.
        self.payload.with_mut(|p| unsafe { *p = 0 });
        self.frees.fetch_add(1, Ordering::Relaxed);
    }

    /// `TaskRef::drop`.
    fn release(&self) {
        self.touch();
        if self.state.ref_dec() {
            self.free();
        }
    }

    /// A runner: polls (here: completes or cancels) and gives back its reference.
    fn run_and_release(&self) {
        self.touch();
        let _ = self.state.start_run();
        let _ = self.state.complete();
        self.release();
    }
}

#[test]
fn the_last_reference_frees_the_task_exactly_once() {
    loom::model(|| {
        let task = Arc::new(Counted {
            state: State::new(), // the queued reference and the handle's
            payload: UnsafeCell::new(7),
            frees: AtomicUsize::new(0),
        });
        // First poll: Pending, a waker (one more reference) left in a channel.
        assert_eq!(task.state.start_run(), Start::Poll);
        task.state.ref_inc();
        assert!(!task.state.after_pending());
        let t = task.clone();
        // The channel wakes by value: the waker's reference goes to the queue
        // (and its runner gives it back) or is given back at once.
        let waker = thread::spawn(move || {
            t.touch();
            match t.state.wake_by_val() {
                WakeByVal::Schedule => t.run_and_release(),
                WakeByVal::Done => {}
                WakeByVal::Free => t.free(),
            }
        });
        let t = task.clone();
        // The JoinHandle aborts, then is dropped.
        let handle = thread::spawn(move || {
            if t.state.abort() {
                t.state.ref_inc();
                let t2 = t.clone();
                // The abort's queue entry runs elsewhere.
                thread::spawn(move || t2.run_and_release()).join().unwrap();
            }
            t.release();
        });
        // The first runner drops its reference after the poll.
        task.release();
        waker.join().unwrap();
        handle.join().unwrap();
        assert_eq!(task.frees.load(Ordering::Relaxed), 1, "freed 0 or 2 times");
    });
}
