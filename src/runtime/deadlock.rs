//! Deadlock detection: Go's "fatal error: all goroutines are asleep -
//! deadlock!" for `block_on` / `run`.
//!
//! # When it fires
//! While `block_on` waits, it looks every [`CHECK_EVERY`]. It panics with Go's
//! message and a goroutine dump only when two looks in a row find all of:
//! - the main future waits on a gort primitive (not a sleep);
//! - every live task of this runtime has been polled, is parked (not
//!   runnable, not running) and waits on a gort primitive other than a sleep;
//! - no P is running or holds queued work, the global queue is empty, no
//!   `spawn_blocking` work is queued or running, no P is inside `blocking`;
//! - no timer is pending anywhere in the process (a timer may send on a
//!   channel or cancel a context);
//! - no other gort runtime has a live task (it might hold a handle);
//! - the process has no thread other than gort's own and this one (read from
//!   `/proc/self/task`): a plain thread might hold a `Sender` and send later;
//! - and nothing moved between the two looks (spawn count and schedule ticks).
//!
//! # What it cannot see, and so never claims
//! A handle held by a plain thread, by another runtime's task, by a foreign
//! executor or behind an OS callback counts as a possible waker: any such
//! thread, task or pending timer turns detection off. On systems without
//! `/proc/self/task` it never fires. A miss is the price of never raising a
//! false alarm; tests run by libtest (which keeps its own threads) see it off.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::scheduler::Shared;
use super::task::TaskState;
use super::timer;
use super::wait::WaitReason;

/// How often a waiting `block_on` looks for a deadlock.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Threads gort started and that are still running (Ms, sysmon, timer, pool).
static GORT_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Every runtime of the process, to see whether another one has tasks.
static RUNTIMES: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Counts the current thread as one of gort's while the guard lives.
pub(crate) struct GortThread(());

impl GortThread {
    pub(crate) fn enter() -> GortThread {
        GortThread::started();
        GortThread(())
    }

    /// For threads that never exit (the timer thread).
    pub(crate) fn started() {
        GORT_THREADS.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for GortThread {
    fn drop(&mut self) {
        GORT_THREADS.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) fn register_runtime(shared: &Arc<Shared>) {
    let mut all = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(shared));
}

/// The state a look found, to compare with the next look.
#[derive(PartialEq, Eq, Clone, Copy)]
pub(crate) struct Fingerprint {
    spawned: u64,
    ticks: u64,
}

/// One look: `Some(fingerprint)` if everything above holds right now.
pub(crate) fn looks_deadlocked(shared: &Arc<Shared>, main: WaitReason) -> Option<Fingerprint> {
    if main == WaitReason::Unknown || main.is_timed() {
        return None;
    }
    if timer::pending_timers() != 0 || !shared.is_quiescent() || !others_idle(shared) {
        return None;
    }
    let mut parked = 0usize;
    let mut all_on_primitives = true;
    shared.registry.for_each(|task| {
        let info = task.header().info();
        match info.state {
            TaskState::Finished => {}
            TaskState::Waiting if info.reason != WaitReason::Unknown && !info.reason.is_timed() => {
                parked += 1
            }
            _ => all_on_primitives = false,
        }
    });
    if !all_on_primitives || parked != shared.live_tasks() || !only_gort_threads() {
        return None;
    }
    Some(Fingerprint {
        spawned: shared.metrics.spawned.load(Ordering::SeqCst),
        ticks: shared.total_ticks(),
    })
}

fn others_idle(me: &Arc<Shared>) -> bool {
    let all = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
    all.iter()
        .filter_map(Weak::upgrade)
        .filter(|rt| !Arc::ptr_eq(rt, me))
        .all(|rt| rt.live_tasks() == 0)
}

/// True if every thread of the process but this one is gort's.
fn only_gort_threads() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return false;
    };
    let total = dir.count();
    total == GORT_THREADS.load(Ordering::SeqCst) + 1
}

/// Go's message, with the dump.
pub(crate) fn report(shared: &Shared) -> ! {
    panic!(
        "fatal error: all goroutines are asleep - deadlock!\n\n{}",
        super::dump::render(shared)
    )
}
