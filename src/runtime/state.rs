//! A task's state word and every transition of it, kept apart from the task
//! cell so a loom model (`tests/loom_task.rs`) checks this very code. The
//! word also holds the task's reference count.
//!
//! # Bits
//! - `SCHEDULED`: the task sits in exactly one run queue (or is being handed
//!   to one). Whoever sets it from idle must queue one reference.
//! - `RUNNING`: one thread polls it; only that thread touches the future.
//! - `NOTIFIED`: woken while running; the runner queues it again afterwards.
//! - `COMPLETE`: the output (or the reason there is none) is stored; final.
//! - `CANCELLED`: `abort` was called; the next run drops the future instead.
//! - The bits from `REF_ONE` up count the references to the task (run queue
//!   entries, wakers, the registry, the `JoinHandle`); whoever takes the count
//!   to zero frees the task.
//!
//! # Invariants
//! - `SCHEDULED` and `RUNNING` are never both set: a task is queued at most
//!   once and polled by at most one thread.
//! - A wake is never lost: it either queues an idle task, or finds it running
//!   and leaves `NOTIFIED`, which the runner turns into a requeue.
//! - Nothing but `abort`'s `CANCELLED` flag and the count change after
//!   `COMPLETE`.
//! - The count reaches zero exactly once, and every use of the task by the
//!   other holders happens before that (`AcqRel`), so the freeing thread has
//!   it to itself.

use crate::loom::atomic::{AtomicUsize, Ordering};

const SCHEDULED: usize = 1;
const RUNNING: usize = 2;
const NOTIFIED: usize = 4;
const COMPLETE: usize = 8;
const CANCELLED: usize = 16;
const REF_ONE: usize = 32;
const REF_MASK: usize = !(REF_ONE - 1);

/// What `start_run` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Poll the future.
    Poll,
    /// `abort` was called: drop the future instead.
    Cancel,
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
        State(AtomicUsize::new(SCHEDULED | (2 * REF_ONE)))
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
        debug_assert_eq!(prev & (SCHEDULED | RUNNING | COMPLETE), SCHEDULED);
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
    /// is visible to whoever sees COMPLETE with Acquire).
    pub fn complete(&self) {
        self.0.fetch_xor(RUNNING | COMPLETE, Ordering::AcqRel);
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
