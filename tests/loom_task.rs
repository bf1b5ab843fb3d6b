//! loom models of a task's state machine (`runtime/state.rs`): a wake racing
//! a poll is never lost and never queues the task twice; an abort racing a
//! poll and a wake drops the future on the next run; the reference count
//! reaches zero exactly once, after every other use; the join waker slot is
//! never touched by two threads at once, a registered waker is woken, and
//! every waker put in it is dropped exactly once; the output is either taken
//! by the handle or dropped by whoever frees the task, exactly once.
#![cfg(gort_loom)]

use std::task::{RawWaker, RawWakerVTable, Waker};

use gort::__loom::{JoinWaker, Live, Start, State, TakeOutput, WakeByVal};
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
    join_waker: JoinWaker,
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
        let completed = self.state.complete();
        // SAFETY: once, by the thread that set COMPLETE.
        unsafe { self.join_waker.wake_after_complete(&self.state, completed) };
        self.release();
    }
}

#[test]
fn the_last_reference_frees_the_task_exactly_once() {
    loom::model(|| {
        let task = Arc::new(Counted {
            state: State::new(), // the queued reference and the handle's
            join_waker: JoinWaker::new(),
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
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        // The JoinHandle waits, aborts, then is dropped.
        let handle = thread::spawn(move || {
            let waker = c.waker();
            // SAFETY: the one handle, never concurrently with itself.
            let _ = unsafe { t.join_waker.register(&t.state, &waker) };
            drop(waker);
            if t.state.abort() {
                t.state.ref_inc();
                let t2 = t.clone();
                // The abort's queue entry runs elsewhere.
                thread::spawn(move || t2.run_and_release()).join().unwrap();
            }
            t.touch();
            // SAFETY: the one handle, once, last, with its reference.
            if unsafe { t.join_waker.drop_handle(&t.state) } {
                t.free();
            }
        });
        // The first runner drops its reference after the poll.
        task.release();
        waker.join().unwrap();
        handle.join().unwrap();
        assert_eq!(task.frees.load(Ordering::Relaxed), 1, "freed 0 or 2 times");
        assert!(counts.balanced(), "the join waker outlived the handle");
    });
}

/// A waker that counts its clones, drops and wakes.
#[derive(Default)]
struct Counts {
    clones: AtomicUsize,
    drops: AtomicUsize,
    wakes: AtomicUsize,
}

static COUNTS_VTABLE: RawWakerVTable = RawWakerVTable::new(
    |p| {
        // SAFETY: the data pointer is a `Counts` the model keeps alive.
        unsafe { &*p.cast::<Counts>() }
            .clones
            .fetch_add(1, Ordering::Relaxed);
        RawWaker::new(p, &COUNTS_VTABLE)
    },
    |p| {
        // SAFETY: as above.
        let c = unsafe { &*p.cast::<Counts>() };
        c.wakes.fetch_add(1, Ordering::Relaxed);
        c.drops.fetch_add(1, Ordering::Relaxed);
    },
    |p| {
        // SAFETY: as above.
        unsafe { &*p.cast::<Counts>() }
            .wakes
            .fetch_add(1, Ordering::Relaxed);
    },
    |p| {
        // SAFETY: as above.
        unsafe { &*p.cast::<Counts>() }
            .drops
            .fetch_add(1, Ordering::Relaxed);
    },
);

impl Counts {
    /// A waker on `self`, counted as a clone (the caller drops it).
    fn waker(&self) -> Waker {
        self.clones.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the vtable keeps RawWaker's contract; `self` outlives the
        // waker (every model joins its threads and drops the slot first).
        unsafe {
            Waker::from_raw(RawWaker::new(
                (self as *const Counts).cast(),
                &COUNTS_VTABLE,
            ))
        }
    }

    fn balanced(&self) -> bool {
        self.clones.load(Ordering::Relaxed) == self.drops.load(Ordering::Relaxed)
    }
}

/// A task as far as joining it goes.
struct Joined {
    state: State,
    join_waker: JoinWaker,
    output: UnsafeCell<Option<u32>>,
}

impl Joined {
    fn new() -> Arc<Joined> {
        Arc::new(Joined {
            state: State::new(),
            join_waker: JoinWaker::new(),
            output: UnsafeCell::new(None),
        })
    }

    /// The runner's `finish`: output, COMPLETE, wake the joiner.
    fn finish(&self) {
        assert_eq!(self.state.start_run(), Start::Poll);
        // SAFETY: we hold RUNNING; the handle reads only after COMPLETE.
        self.output.with_mut(|o| unsafe { *o = Some(42) });
        let completed = self.state.complete();
        // SAFETY: once, by the thread that set COMPLETE.
        unsafe { self.join_waker.wake_after_complete(&self.state, completed) };
    }

    /// The handle's poll: Some(output) if complete, None if it registered.
    fn poll(&self, waker: &Waker) -> Option<u32> {
        // SAFETY: only the one modelled handle calls it, never concurrently.
        if unsafe { self.join_waker.register(&self.state, waker) } {
            // SAFETY: COMPLETE seen with Acquire: the runner is done with it.
            Some(
                self.output
                    .with(|o| unsafe { *o })
                    .expect("output published"),
            )
        } else {
            None
        }
    }

    /// The handle's drop; the runner's reference is never given back here,
    /// so the handle's is never the last.
    fn drop_handle(&self) {
        // SAFETY: the one handle, once, last, with its reference.
        assert!(!unsafe { self.join_waker.drop_handle(&self.state) });
    }
}

#[test]
fn a_join_waker_registered_before_completion_is_woken() {
    loom::model(|| {
        let task = Joined::new();
        let counts = Arc::new(Counts::default());
        let t = task.clone();
        let runner = thread::spawn(move || t.finish());
        let waker = counts.waker();
        let first = task.poll(&waker);
        runner.join().unwrap();
        if first.is_none() {
            assert_eq!(
                counts.wakes.load(Ordering::Relaxed),
                1,
                "the join wake was lost"
            );
        }
        assert_eq!(task.poll(&waker), Some(42));
        task.drop_handle();
        drop(waker);
        assert!(counts.balanced(), "the handle left its waker in the slot");
    });
}

#[test]
fn replacing_the_join_waker_races_completion() {
    loom::model(|| {
        let task = Joined::new();
        let (a, b) = (Arc::new(Counts::default()), Arc::new(Counts::default()));
        let wa = a.waker();
        assert_eq!(task.poll(&wa), None);
        drop(wa);
        let t = task.clone();
        let runner = thread::spawn(move || t.finish());
        // The handle moved to another task: a new waker.
        let wb = b.waker();
        let second = task.poll(&wb);
        drop(wb);
        runner.join().unwrap();
        if second.is_none() {
            assert_eq!(
                b.wakes.load(Ordering::Relaxed),
                1,
                "the new waker was not woken"
            );
        }
        task.drop_handle();
        assert!(
            a.balanced() && b.balanced(),
            "a waker was leaked or dropped twice"
        );
    });
}

#[test]
fn dropping_the_handle_races_completion() {
    loom::model(|| {
        let task = Joined::new();
        let counts = Arc::new(Counts::default());
        let waker = counts.waker();
        assert_eq!(task.poll(&waker), None);
        drop(waker);
        let t = task.clone();
        let runner = thread::spawn(move || t.finish());
        task.drop_handle();
        runner.join().unwrap();
        // Whoever had the slot last dropped the waker: nothing is left for
        // the task's own drop.
        assert!(
            counts.balanced(),
            "the waker outlived the handle and the runner"
        );
        assert!(counts.wakes.load(Ordering::Relaxed) <= 1);
    });
}

/// A task as far as its untagged stage goes: the output cell, who took it
/// (the handle) and who dropped it (the freeing thread).
struct Staged {
    state: State,
    join_waker: JoinWaker,
    output: UnsafeCell<Option<u32>>,
    taken: AtomicUsize,
    dropped: AtomicUsize,
    frees: AtomicUsize,
}

impl Staged {
    /// `dealloc`: drops whatever the state word says is live.
    fn free(&self) {
        self.frees.fetch_add(1, Ordering::Relaxed);
        match self.state.live_at_free() {
            Live::Future => panic!("freed before the runner completed"),
            Live::Output => {
                // SAFETY: the count is zero; loom checks the runner's write
                // and any handle's read happen before.
                let out = self.output.with_mut(|o| unsafe { (*o).take() });
                assert_eq!(out, Some(42), "no live output to drop");
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Live::Nothing => {
                // SAFETY: as above.
                let out = self.output.with(|o| unsafe { *o });
                assert_eq!(out, None, "an output left behind");
            }
        }
    }

    /// `JoinHandle::try_take`.
    fn try_take(&self) -> Option<u32> {
        match self.state.take_output() {
            TakeOutput::Pending => None,
            TakeOutput::AlreadyTaken => panic!("taken twice"),
            TakeOutput::Take => {
                // SAFETY: COMPLETE seen with Acquire and OUTPUT_TAKEN ours.
                let out = self.output.with_mut(|o| unsafe { (*o).take() });
                assert_eq!(out, Some(42), "the output was not published");
                self.taken.fetch_add(1, Ordering::Relaxed);
                assert_eq!(self.state.take_output(), TakeOutput::AlreadyTaken);
                out
            }
        }
    }
}

#[test]
fn the_output_is_taken_or_dropped_at_free_exactly_once() {
    loom::model(|| {
        let task = Arc::new(Staged {
            state: State::new(), // the queued reference and the handle's
            join_waker: JoinWaker::new(),
            output: UnsafeCell::new(None),
            taken: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            frees: AtomicUsize::new(0),
        });
        let counts = Arc::new(Counts::default());
        let (t, c) = (task.clone(), counts.clone());
        // The handle: one `JoinHandle::poll`, then dropped.
        let handle = thread::spawn(move || {
            if t.try_take().is_none() {
                let waker = c.waker();
                // SAFETY: the one handle, never concurrently with itself.
                if unsafe { t.join_waker.register(&t.state, &waker) } {
                    assert!(t.try_take().is_some(), "register saw COMPLETE");
                }
                drop(waker);
            }
            // SAFETY: the one handle, once, last, with its reference.
            if unsafe { t.join_waker.drop_handle(&t.state) } {
                t.free();
            }
        });
        // The runner: writes the output, completes, gives back its reference.
        assert_eq!(task.state.start_run(), Start::Poll);
        // SAFETY: we hold RUNNING; nobody reads before COMPLETE.
        task.output.with_mut(|o| unsafe { *o = Some(42) });
        let completed = task.state.complete();
        // SAFETY: once, by the thread that set COMPLETE.
        unsafe { task.join_waker.wake_after_complete(&task.state, completed) };
        if task.state.ref_dec() {
            task.free();
        }
        handle.join().unwrap();
        assert_eq!(task.frees.load(Ordering::Relaxed), 1, "freed 0 or 2 times");
        let (taken, dropped) = (
            task.taken.load(Ordering::Relaxed),
            task.dropped.load(Ordering::Relaxed),
        );
        assert_eq!(taken + dropped, 1, "taken {taken}, dropped {dropped}");
        assert!(counts.balanced(), "the join waker outlived the handle");
    });
}
