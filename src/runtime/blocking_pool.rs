//! The thread pool behind `spawn_blocking`: threads are started on demand,
//! never more than needed at once, and retire after 10 s idle.
//!
//! A submitter that finds an idle thread *claims* it (moves one unit from
//! `idle` to `notified`) before signalling, so two submissions never both wake
//! the same thread while a second blocking call waits behind the first.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::deadlock::GortThread;
use super::scheduler::Shared;
use super::task::TaskRef;

const KEEP_ALIVE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct PoolState {
    queue: VecDeque<TaskRef>,
    /// Tasks taken off the queue and not yet finished.
    running: usize,
    idle: usize,
    notified: usize,
    shutdown: bool,
}

#[derive(Default)]
pub(crate) struct BlockingPool {
    state: Mutex<PoolState>,
    wakeup: Condvar,
}

impl BlockingPool {
    pub(crate) fn new() -> BlockingPool {
        BlockingPool::default()
    }

    /// Runs `task` (a closure wrapped as a one-poll future) on a pool thread.
    pub(crate) fn submit(&self, shared: &Arc<Shared>, task: TaskRef) {
        let mut st = self.state.lock();
        if st.shutdown {
            drop(st);
            task.cancel_now();
            return;
        }
        st.queue.push_back(task);
        if st.idle > 0 {
            st.idle -= 1;
            st.notified += 1;
            drop(st);
            self.wakeup.notify_one();
            return;
        }
        drop(st);
        let shared = shared.clone();
        std::thread::Builder::new()
            .name(format!("{}-blocking", shared.config.thread_name))
            .spawn(move || shared.blocking.serve(&shared))
            .expect("gort: failed to spawn a blocking-pool thread");
    }

    fn serve(&self, shared: &Arc<Shared>) {
        let _counted = GortThread::enter();
        super::enter(shared.clone(), || {
            let mut st = self.state.lock();
            loop {
                if let Some(task) = st.queue.pop_front() {
                    st.running += 1;
                    drop(st);
                    // A one-poll task never yields; its outcome needs no bookkeeping.
                    let _ = task.run();
                    st = self.state.lock();
                    st.running -= 1;
                    continue;
                }
                if st.shutdown {
                    return;
                }
                st.idle += 1;
                let timed_out = self.wakeup.wait_for(&mut st, KEEP_ALIVE).timed_out();
                if st.notified > 0 {
                    st.notified -= 1;
                } else {
                    st.idle -= 1;
                    if timed_out && st.queue.is_empty() {
                        return;
                    }
                }
            }
        })
    }

    /// No blocking work queued or running.
    pub(crate) fn is_idle(&self) -> bool {
        let st = self.state.lock();
        st.queue.is_empty() && st.running == 0
    }

    /// Stops accepting work, wakes idle threads so they exit, and returns the
    /// tasks that never started (to be cancelled).
    pub(crate) fn shutdown(&self) -> Vec<TaskRef> {
        let mut st = self.state.lock();
        st.shutdown = true;
        let queued = st.queue.drain(..).collect();
        drop(st);
        self.wakeup.notify_all();
        queued
    }
}
