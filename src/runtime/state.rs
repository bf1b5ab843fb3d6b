//! A task's state word and every transition of it, kept apart from the task
//! cell so a loom model (`tests/loom_task.rs`) checks this very code. The
//! word also holds the task's reference count, and [`JoinWaker`] (the
//! `JoinHandle`'s waker slot, guarded by two bits of the word) lives here too.
//!
//! # Bits
//! - `SCHEDULED`: the task sits in exactly one run queue (or is being handed
//!   to one). Whoever sets it from idle must queue one reference.
//! - `RUNNING`: one thread polls it; only that thread touches the future.
//! - `NOTIFIED`: woken while running; the runner queues it again afterwards.
//! - `COMPLETE`: the output (or the reason there is none) is stored; final.
//! - `CANCELLED`: `abort` was called; the next run drops the future instead.
//! - `JOIN_INTEREST`: the `JoinHandle` still exists.
//! - `JOIN_WAKER`: the join waker slot holds a waker the runner may read.
//! - `OUTPUT_TAKEN`: the `JoinHandle` moved the output out (set once, only
//!   after `COMPLETE`). With `COMPLETE` it tells which part of the task's
//!   untagged stage is live: neither flag, the future; `COMPLETE` alone, the
//!   output; both, nothing (see [`Live`]).
//! - The bits from `REF_ONE` up count the references to the task (run queue
//!   entries, wakers, the registry, the `JoinHandle`); whoever takes the count
//!   to zero frees the task.
//!
//! # Invariants
//! - `SCHEDULED` and `RUNNING` are never both set: a task is queued at most
//!   once and polled by at most one thread.
//! - A wake is never lost: it either queues an idle task, or finds it running
//!   and leaves `NOTIFIED`, which the runner turns into a requeue.
//! - Nothing but `abort`'s `CANCELLED` flag, the two join bits,
//!   `OUTPUT_TAKEN` and the count change after `COMPLETE`.
//! - `OUTPUT_TAKEN` is set by the `JoinHandle` alone, while it holds its
//!   reference, so it is in the word before the count can reach zero: the
//!   freeing thread reads [`Live`] from the word without racing anyone.
//! - The count reaches zero exactly once, and every use of the task by the
//!   other holders happens before that (`AcqRel`), so the freeing thread has
//!   it to itself.
//!
//! # Join waker
//! The slot is written by the `JoinHandle` and read by the runner that
//! completes the task, without a lock (tokio's protocol):
//! 1. `JOIN_WAKER` unset and `COMPLETE` unset: the handle owns the slot.
//! 2. `JOIN_WAKER` set: the handle may only read it; to replace the waker it
//!    first unsets `JOIN_WAKER` (rule 1 again), which fails once `COMPLETE`
//!    is set.
//! 3. The handle sets `JOIN_WAKER` only while `COMPLETE` is unset; the runner
//!    unsets it only after setting `COMPLETE`.
//! 4. `COMPLETE` and `JOIN_WAKER` both set: the runner reads the slot (wakes
//!    it), then unsets `JOIN_WAKER`, giving the slot back to the handle, or,
//!    if `JOIN_INTEREST` is gone by then, drops the waker itself.
//! 5. `COMPLETE` set and `JOIN_WAKER` unset: the handle owns the slot again
//!    (the runner will not touch it).
//!
//! Only the handle sets `JOIN_WAKER`, so a dropped handle that finds it unset
//! owns the slot for good: it empties it, then clears `JOIN_INTEREST` and
//! gives back its reference in one step. Whatever is left in the slot is
//! dropped with the task.

use std::task::Waker;

use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::loom::cell::UnsafeCell;

const SCHEDULED: usize = 1;
const RUNNING: usize = 2;
const NOTIFIED: usize = 4;
const COMPLETE: usize = 8;
const CANCELLED: usize = 16;
const JOIN_INTEREST: usize = 32;
const JOIN_WAKER: usize = 64;
const OUTPUT_TAKEN: usize = 128;
const REF_ONE: usize = 256;
const REF_MASK: usize = !(REF_ONE - 1);

/// What `start_run` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Poll the future.
    Poll,
    /// `abort` was called: drop the future instead.
    Cancel,
}

/// What [`State::take_output`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeOutput {
    /// Not complete yet: there is no output.
    Pending,
    /// Complete: `OUTPUT_TAKEN` is now set and the caller must move the
    /// output out (and is the only one who ever may).
    Take,
    /// The output was taken before.
    AlreadyTaken,
}

/// Which part of a task's stage is live, as the state word tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// Not complete: the future (possibly never polled).
    Future,
    /// Complete and not taken: the output (or the `JoinError`).
    Output,
    /// Complete and taken by the `JoinHandle`.
    Nothing,
}

/// What a `Waker::wake` (by value) must do with the reference it consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeByVal {
    /// The task was idle: queue it with the waker's reference.
    Schedule,
    /// The reference was given back and others remain.
    Done,
    /// The reference was the last one: free the task.
    Free,
}

/// The state word of one task.
#[derive(Debug)]
pub struct State(AtomicUsize);

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// Aborts on a count that would overflow into the sign bit, as `Arc` does (a
/// leaked waker clone in a loop must not wrap the count).
#[inline]
fn check_overflow(prev: usize) {
    if prev > isize::MAX as usize {
        std::process::abort();
    }
}

impl State {
    /// A new task: scheduled, since its spawner queues it, with two
    /// references (the queued one and the `JoinHandle`'s).
    pub fn new() -> State {
        State(AtomicUsize::new(SCHEDULED | JOIN_INTEREST | (2 * REF_ONE)))
    }

    fn update(&self, f: impl FnMut(usize) -> Option<usize>) -> Result<usize, usize> {
        self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, f)
    }

    /// Takes one more reference; the caller already holds one.
    #[inline]
    pub fn ref_inc(&self) {
        // Relaxed, as Arc::clone: the caller's own reference keeps the task
        // alive, and freeing is ordered by the decrements.
        check_overflow(self.0.fetch_add(REF_ONE, Ordering::Relaxed));
    }

    /// Gives back one reference: true if it was the last and the caller must
    /// now free the task.
    #[inline]
    pub fn ref_dec(&self) -> bool {
        let prev = self.0.fetch_sub(REF_ONE, Ordering::AcqRel);
        debug_assert!(prev & REF_MASK != 0, "task reference count underflow");
        prev & REF_MASK == REF_ONE
    }

    /// `Waker::wake_by_ref`: true if the task was idle; it is then marked
    /// `SCHEDULED` and a reference for its queue was taken in the same step.
    ///
    /// A wake that finds the task already queued (or already notified) still
    /// writes the word back: that Release store is what the next `start_run`
    /// (or `after_pending`) acquires, so the poll it leads to sees everything
    /// the waker did before waking. A wake that only read the word would give
    /// no such edge (the loom model `tests/loom_task.rs` found exactly that).
    pub fn wake_by_ref(&self) -> bool {
        let woke = self
            .update(|s| match s {
                _ if s & COMPLETE != 0 => None,
                _ if s & SCHEDULED != 0 => Some(s),
                _ if s & RUNNING != 0 => Some(s | NOTIFIED),
                _ => Some((s | SCHEDULED) + REF_ONE),
            })
            .ok()
            .filter(|prev| prev & (RUNNING | SCHEDULED) == 0);
        woke.inspect(|&prev| check_overflow(prev)).is_some()
    }

    /// `Waker::wake`: consumes the waker's reference, which either goes to
    /// the run queue or is given back in the same step. The word is written
    /// back in every case, as in [`wake_by_ref`](State::wake_by_ref).
    pub fn wake_by_val(&self) -> WakeByVal {
        let prev = self
            .update(|s| {
                Some(match s {
                    _ if s & COMPLETE != 0 => s - REF_ONE,
                    _ if s & SCHEDULED != 0 => s - REF_ONE,
                    _ if s & RUNNING != 0 => (s | NOTIFIED) - REF_ONE,
                    _ => s | SCHEDULED,
                })
            })
            .expect("the closure always returns Some");
        debug_assert!(prev & REF_MASK != 0, "task reference count underflow");
        if prev & (COMPLETE | RUNNING | SCHEDULED) == 0 {
            WakeByVal::Schedule
        } else if prev & REF_MASK == REF_ONE {
            WakeByVal::Free
        } else {
            WakeByVal::Done
        }
    }

    /// A runner took the task off a queue: SCHEDULED → RUNNING.
    pub fn start_run(&self) -> Start {
        let prev = self.0.fetch_xor(SCHEDULED | RUNNING, Ordering::AcqRel);
        debug_assert_eq!(prev & (SCHEDULED | RUNNING), SCHEDULED);
        // Checked in release builds too: the runner then reads the stage as
        // the future, which after COMPLETE it no longer is (an invariant of
        // the transitions above, never expected to fail).
        assert!(
            prev & COMPLETE == 0,
            "gort: a task was run after it finished"
        );
        if prev & CANCELLED != 0 {
            Start::Cancel
        } else {
            Start::Poll
        }
    }

    /// The poll returned `Pending`: leave RUNNING. True if the task was woken
    /// (or aborted) meanwhile and the runner must queue it again.
    pub fn after_pending(&self) -> bool {
        let prev = self
            .update(|s| {
                debug_assert!(s & RUNNING != 0);
                Some(if s & NOTIFIED != 0 {
                    (s & !(RUNNING | NOTIFIED)) | SCHEDULED
                } else {
                    s & !RUNNING
                })
            })
            .expect("the closure always returns Some");
        prev & NOTIFIED != 0
    }

    /// The runner stored the output: RUNNING → COMPLETE (Release: the output
    /// is visible to whoever sees COMPLETE with Acquire). Pass the result to
    /// [`JoinWaker::wake_after_complete`].
    #[must_use = "the join waker must be woken"]
    pub fn complete(&self) -> Completed {
        Completed(self.0.fetch_xor(RUNNING | COMPLETE, Ordering::AcqRel))
    }

    /// `abort`: true if the task was idle and the caller must queue it so its
    /// runner drops the future. The caller then takes a reference for the
    /// queue itself.
    pub fn abort(&self) -> bool {
        self.update(|s| match s {
            _ if s & COMPLETE != 0 => None,
            _ if s & RUNNING != 0 => Some(s | CANCELLED | NOTIFIED),
            _ => Some(s | CANCELLED | SCHEDULED),
        })
        .is_ok_and(|prev| prev & (RUNNING | SCHEDULED) == 0)
    }

    /// Shutdown claims a task nobody runs, to drop its future: true if the
    /// caller now holds RUNNING.
    pub fn claim_to_cancel(&self) -> bool {
        self.update(|s| {
            (s & (RUNNING | COMPLETE) == 0).then_some((s & !SCHEDULED) | RUNNING | CANCELLED)
        })
        .is_ok()
    }

    /// `JoinHandle` side: claims the output if the task is complete
    /// (Acquire: the runner's write of the output, made before its Release
    /// `complete`, is visible to the caller). Sets `OUTPUT_TAKEN` in the same
    /// step, before the output is moved out; the handle does both while it
    /// holds its reference, so whoever frees the task sees the flag.
    pub fn take_output(&self) -> TakeOutput {
        match self
            .update(|s| (s & (COMPLETE | OUTPUT_TAKEN) == COMPLETE).then_some(s | OUTPUT_TAKEN))
        {
            Ok(_) => TakeOutput::Take,
            Err(s) if s & COMPLETE == 0 => TakeOutput::Pending,
            Err(_) => TakeOutput::AlreadyTaken,
        }
    }

    /// Which part of the stage is live. Only meaningful to a thread that
    /// owns the stage: the freeing thread (the count reached zero, so no
    /// one can change `COMPLETE` or `OUTPUT_TAKEN` any more, and the final
    /// `AcqRel` decrement ordered every write of the stage before this).
    pub fn live_at_free(&self) -> Live {
        let s = self.0.load(Ordering::Acquire);
        debug_assert!(s & REF_MASK == 0, "live_at_free with references left");
        match (s & COMPLETE != 0, s & OUTPUT_TAKEN != 0) {
            (false, _) => Live::Future,
            (true, false) => Live::Output,
            (true, true) => Live::Nothing,
        }
    }

    /// True once the output is stored (Acquire).
    pub fn is_complete(&self) -> bool {
        self.0.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// For dumps: (running, scheduled, complete).
    pub fn snapshot(&self) -> (bool, bool, bool) {
        let s = self.0.load(Ordering::Acquire);
        (s & RUNNING != 0, s & SCHEDULED != 0, s & COMPLETE != 0)
    }
}

/// The word as `State::complete` left it, for the join waker hand-off.
#[derive(Debug, Clone, Copy)]
#[must_use = "the join waker must be woken"]
pub struct Completed(usize);

/// The `JoinHandle`'s waker slot; see the module docs for who may touch it
/// when. Its methods take the same task's [`State`].
#[derive(Debug)]
pub struct JoinWaker(UnsafeCell<Option<Waker>>);

impl Default for JoinWaker {
    fn default() -> Self {
        Self::new()
    }
}

impl JoinWaker {
    /// An empty slot.
    pub fn new() -> JoinWaker {
        JoinWaker(UnsafeCell::new(None))
    }

    /// `JoinHandle` side: true if the task is complete (read the output);
    /// false if `waker` is stored and will be woken when it completes.
    ///
    /// # Safety
    /// Only the task's one `JoinHandle` calls this and
    /// [`handle_dropped`](JoinWaker::handle_dropped), with the task's `state`,
    /// never concurrently with itself.
    pub unsafe fn register(&self, state: &State, waker: &Waker) -> bool {
        let s = state.0.load(Ordering::Acquire);
        debug_assert!(s & JOIN_INTEREST != 0);
        if s & COMPLETE != 0 {
            return true;
        }
        if s & JOIN_WAKER != 0 {
            // SAFETY: JOIN_WAKER is set: the handle may read the slot (rule
            // 2); the runner only ever reads it too.
            let same = self
                .0
                .with(|slot| unsafe { (*slot).as_ref().is_some_and(|w| w.will_wake(waker)) });
            if same {
                return false;
            }
            // Take the slot back before replacing the waker (rule 2).
            if state
                .update(|s| (s & COMPLETE == 0).then_some(s & !JOIN_WAKER))
                .is_err()
            {
                return true;
            }
        }
        // SAFETY: JOIN_WAKER and COMPLETE were unset: the slot is ours alone
        // (rule 1), and the runner will not read it before we set JOIN_WAKER.
        let old = self
            .0
            .with_mut(|slot| unsafe { (*slot).replace(waker.clone()) });
        drop(old);
        if state
            .update(|s| (s & COMPLETE == 0).then_some(s | JOIN_WAKER))
            .is_err()
        {
            // Completed meanwhile with JOIN_WAKER unset: the runner will not
            // read the slot, it is still ours (rule 5).
            // SAFETY: as just said.
            let ours = self.0.with_mut(|slot| unsafe { (*slot).take() });
            drop(ours);
            return true;
        }
        false
    }

    /// Runner side, right after `state.complete()` returned `completed`:
    /// wakes the stored waker, if any, and hands the slot back.
    ///
    /// # Safety
    /// Called once per task, by the thread that set COMPLETE, with that
    /// call's result and the task's `state`.
    pub unsafe fn wake_after_complete(&self, state: &State, completed: Completed) {
        if completed.0 & JOIN_WAKER == 0 {
            return;
        }
        self.0.with(|slot| {
            // SAFETY: COMPLETE and JOIN_WAKER are both set: we may read the
            // slot (rule 4), and the handle may only read it too.
            if let Some(waker) = unsafe { &*slot } {
                waker.wake_by_ref();
            }
        });
        let prev = state.0.fetch_and(!JOIN_WAKER, Ordering::AcqRel);
        if prev & JOIN_INTEREST == 0 {
            // SAFETY: the handle is gone and, seeing JOIN_WAKER set when it
            // left, left the slot to us (rule 4); nobody else touches it.
            let waker = self.0.with_mut(|slot| unsafe { (*slot).take() });
            drop(waker);
        }
    }

    /// `JoinHandle` side, when the handle is dropped: gives up interest,
    /// drops the stored waker if the runner will not, and gives back the
    /// handle's reference. True if that was the last reference and the
    /// caller must free the task.
    ///
    /// # Safety
    /// As for [`register`](JoinWaker::register); called once, last, by a
    /// handle that owns one reference.
    pub unsafe fn drop_handle(&self, state: &State) -> bool {
        if state.0.load(Ordering::Acquire) & JOIN_WAKER == 0 {
            // Only the handle sets JOIN_WAKER, so it stays unset: the slot is
            // the handle's (rules 1 and 5) and the runner will not read it.
            // Empty it, then give up interest and the reference in one step
            // (JOIN_INTEREST is set, so subtracting it clears it).
            // SAFETY: as just said.
            let waker = self.0.with_mut(|slot| unsafe { (*slot).take() });
            drop(waker);
            let prev = state.0.fetch_sub(JOIN_INTEREST + REF_ONE, Ordering::AcqRel);
            debug_assert!(prev & JOIN_INTEREST != 0 && prev & REF_MASK != 0);
            return prev & REF_MASK == REF_ONE;
        }
        let prev = state
            .update(|s| {
                debug_assert!(s & JOIN_INTEREST != 0);
                Some(if s & COMPLETE == 0 {
                    s & !(JOIN_INTEREST | JOIN_WAKER)
                } else {
                    s & !JOIN_INTEREST
                })
            })
            .expect("the closure always returns Some");
        if prev & COMPLETE == 0 || prev & JOIN_WAKER == 0 {
            // SAFETY: JOIN_WAKER is now unset: if the task is not complete,
            // the runner will find it unset and not read the slot (rules 1,
            // 3, 4); if it is, the runner is done with it (rule 5).
            let waker = self.0.with_mut(|slot| unsafe { (*slot).take() });
            drop(waker);
        }
        // Otherwise the runner is reading the slot; it drops the waker (rule
        // 4).
        state.ref_dec()
    }
}
