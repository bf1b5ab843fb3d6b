//! The process-wide timer: one ordered map of deadlines, served by one thread.
//!
//! # What it guarantees
//! - [`call_at`] runs a callback on the timer thread at or soon after its
//!   deadline (the OS's sleep granularity, tens of microseconds). Callbacks must
//!   be short: they wake a task, send on a channel, cancel a context.
//! - [`TimerKey::cancel`] removes a pending callback in O(log n) and reports
//!   whether it was still pending; after `true` the callback never runs and has
//!   been dropped, after `false` it has run or is running.
//! - Timers work the same from gort tasks, from other executors and from plain
//!   threads: nothing here knows about Ps or Ms, so a timer never needs a worker
//!   to be awake to fire.
//!
//! # Protocol
//! `TIMERS` is a mutex over a `BTreeMap<(deadline, seq), callback>`; `seq` is a
//! process-wide counter that makes keys unique and keeps equal deadlines FIFO.
//! The thread sleeps on a condvar until the first deadline. An insert that
//! becomes the new first deadline notifies the condvar; any other insert does
//! not, so a million pending sleeps cost one map entry each and no wakeups.
//! The thread removes every expired entry under the lock and runs them after
//! releasing it, so a callback may itself call `call_at` or `cancel`.
//!
//! # Rejected
//! Go keeps a heap of timers per P and has the scheduler run them. That needs a
//! worker awake to fire a timer, and timers made on plain threads need a P to
//! live on. One thread and one ordered map are simpler, and cancelling is an
//! O(log n) removal rather than a tombstone left in a heap (Go's `timer.stop`
//! leaves deleted timers behind until they are cleaned). The cost is one
//! thread hop per expiry, which is invisible beside a sleep's own length.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

type Callback = Box<dyn FnOnce() + Send>;

struct Driver {
    timers: Mutex<BTreeMap<(Instant, u64), Callback>>,
    /// Notified when an insert becomes the earliest deadline.
    rearm: Condvar,
    seq: AtomicU64,
}

/// A pending callback, for cancelling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    deadline: Instant,
    seq: u64,
}

fn driver() -> &'static Driver {
    static DRIVER: OnceLock<&'static Driver> = OnceLock::new();
    DRIVER.get_or_init(|| {
        let driver: &'static Driver = Box::leak(Box::new(Driver {
            timers: Mutex::new(BTreeMap::new()),
            rearm: Condvar::new(),
            seq: AtomicU64::new(0),
        }));
        std::thread::Builder::new()
            .name("gort-timer".into())
            .spawn(move || {
                super::deadlock::GortThread::started();
                driver.serve()
            })
            .expect("gort: failed to start the timer thread");
        driver
    })
}

/// Runs `f` on the timer thread once `deadline` has passed.
pub(crate) fn call_at(deadline: Instant, f: impl FnOnce() + Send + 'static) -> TimerKey {
    let driver = driver();
    let key = TimerKey {
        deadline,
        seq: driver.seq.fetch_add(1, Ordering::Relaxed),
    };
    let mut timers = driver.timers.lock();
    let first = timers
        .first_key_value()
        .is_none_or(|(&(first, _), _)| deadline < first);
    timers.insert((key.deadline, key.seq), Box::new(f));
    drop(timers);
    if first {
        driver.rearm.notify_one();
    }
    key
}

/// Number of callbacks still pending, for tests that check nothing leaks.
#[doc(hidden)]
pub fn pending_timers() -> usize {
    driver().timers.lock().len()
}

impl TimerKey {
    /// Removes the callback if it has not started; `true` if it was removed.
    pub(crate) fn cancel(self) -> bool {
        let removed = driver().timers.lock().remove(&(self.deadline, self.seq));
        // Dropped outside the lock: a callback's captures may run arbitrary Drop code.
        removed.is_some()
    }
}

impl Driver {
    fn serve(&self) -> ! {
        let mut expired: Vec<Callback> = Vec::new();
        loop {
            {
                let mut timers = self.timers.lock();
                loop {
                    let now = Instant::now();
                    while let Some(entry) = timers.first_entry() {
                        if entry.key().0 > now {
                            break;
                        }
                        expired.push(entry.remove());
                    }
                    if !expired.is_empty() {
                        break;
                    }
                    match timers.first_key_value() {
                        Some((&(first, _), _)) => {
                            self.rearm.wait_until(&mut timers, first);
                        }
                        None => self.rearm.wait(&mut timers),
                    }
                }
            }
            for callback in expired.drain(..) {
                // A panicking callback must not kill the thread every timer relies on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(callback));
            }
        }
    }
}
