//! A task's state word and every transition of it, kept apart from the task
//! cell so a loom model (`tests/loom_task.rs`) checks this very code.
//!
//! # Bits
//! - `SCHEDULED`: the task sits in exactly one run queue (or is being handed
//!   to one). Whoever sets it from idle must queue one reference.
//! - `RUNNING`: one thread polls it; only that thread touches the future.
//! - `NOTIFIED`: woken while running; the runner queues it again afterwards.
//! - `COMPLETE`: the output (or the reason there is none) is stored; final.
//! - `CANCELLED`: `abort` was called; the next run drops the future instead.
//!
//! # Invariants
//! - `SCHEDULED` and `RUNNING` are never both set: a task is queued at most
//!   once and polled by at most one thread.
//! - A wake is never lost: it either queues an idle task, or finds it running
//!   and leaves `NOTIFIED`, which the runner turns into a requeue.
//! - Nothing but `abort`'s `CANCELLED` flag changes after `COMPLETE`.

use crate::loom::atomic::{AtomicUsize, Ordering};

const SCHEDULED: usize = 1;
const RUNNING: usize = 2;
const NOTIFIED: usize = 4;
const COMPLETE: usize = 8;
const CANCELLED: usize = 16;

/// What `start_run` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Poll the future.
    Poll,
    /// `abort` was called: drop the future instead.
    Cancel,
}

/// The state word of one task.
#[derive(Debug)]
pub struct State(AtomicUsize);

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// A new task: scheduled, since its spawner queues it.
    pub fn new() -> State {
        State(AtomicUsize::new(SCHEDULED))
    }

    fn update(&self, f: impl FnMut(usize) -> Option<usize>) -> Result<usize, usize> {
        self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, f)
    }

    /// A wake: true if the task was idle and the caller must now queue it.
    ///
    /// A wake that finds the task already queued (or already notified) still
    /// writes the word back: that Release store is what the next `start_run`
    /// (or `after_pending`) acquires, so the poll it leads to sees everything
    /// the waker did before waking. A wake that only read the word would give
    /// no such edge (the loom model `tests/loom_task.rs` found exactly that).
    pub fn wake(&self) -> bool {
        self.update(|s| match s {
            _ if s & COMPLETE != 0 => None,
            _ if s & SCHEDULED != 0 => Some(s),
            _ if s & RUNNING != 0 => Some(s | NOTIFIED),
            _ => Some(s | SCHEDULED),
        })
        .is_ok_and(|prev| prev & (RUNNING | SCHEDULED) == 0)
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
    /// runner drops the future.
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
