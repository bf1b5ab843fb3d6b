//! The scheduler's shared state (Go's `schedt` plus `allp`) and the work-finding
//! protocol: `schedule`, `find_runnable`, `wakep`, stealing.
//!
//! # The spinning protocol (Go's, see the top of `runtime/proc.go`)
//! An M that finds no work in its P's queues becomes *spinning* and steals
//! from other Ps. At most half the busy Ps' worth of Ms spin. A submitter
//! that makes work stealable calls [`Shared::wakep`], which starts an idle M
//! with an idle P only if no M is spinning. No wakeup is lost because both
//! sides use `SeqCst`:
//! - submitter: publish the task, then read `nmspinning` and `npidle`;
//! - spinning M giving up: put its P on the idle list, decrement `nmspinning`,
//!   then look at every queue again; if work appeared, take a P back and spin.
//!
//! Either the submitter sees the spinner (which then sees the task), or the
//! spinner is gone and the submitter wakes a new one. An M that stops spinning
//! because it found work wakes a replacement if it was the last spinner, so
//! further work is picked up too.
//!
//! # runnext
//! A task woken (or spawned) by a running task goes into its P's `runnext`
//! slot and runs next, right where its data is hot (ping-pong locality). Unlike
//! Go, filling an empty `runnext` does not wake another M: the current M will
//! run it soon, and waking a thief that can only fail costs a futex call per
//! message in a ping-pong. Displacing a task from `runnext` into the queue does
//! wake one, because that task is now stealable. Thieves take `runnext` only on
//! their last pass, and only if the victim P's schedule tick did not move during
//! a short back-off: the victim is stuck in one poll, so its `runnext` would
//! otherwise starve (the bug tokio's unstealable LIFO slot has).
//!
//! # Fairness
//! Every 61st schedule of a P takes from the global queue first, and at most
//! [`MAX_RUNNEXT_STREAK`] tasks in a row come from `runnext` before the local
//! queue gets a turn: two tasks waking each other through `runnext` cannot
//! starve the rest of their P (Go lets them inherit the time slice and relies
//! on preemption after 10 ms, which is why a timer-woken goroutine can wait
//! seconds under a ping-pong storm).

use std::collections::VecDeque;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::idle::Idle as IdleCounts;
use super::machine::{Machine, Worker};
use super::queue::{CAP, LocalQueue, QueueItem};
use super::registry::Registry;
use super::task::TaskRef;
use super::{Config, blocking_pool::BlockingPool};

/// How many tasks in a row a P takes from `runnext` before its queue's head.
const MAX_RUNNEXT_STREAK: u32 = 3;
/// Every this many schedules, a P looks at the global queue first (Go's 61).
const GLOBAL_CHECK_INTERVAL: u32 = 61;
/// Stealing passes over all Ps before an M gives up (Go's 4).
const STEAL_PASSES: usize = 4;

/// A P: a local run queue, a `runnext` slot, and a tick for thieves and sysmon.
pub(crate) struct Processor {
    pub(crate) runq: LocalQueue<TaskRef>,
    /// The task to run next; owned (one count) while non-null.
    runnext: CachePadded<AtomicPtr<()>>,
    /// Schedules done by this P; read by thieves to see whether it is stuck.
    tick: CachePadded<AtomicU32>,
}

impl Processor {
    fn new() -> Processor {
        Processor {
            runq: LocalQueue::new(),
            runnext: CachePadded::new(AtomicPtr::new(ptr::null_mut())),
            tick: CachePadded::new(AtomicU32::new(0)),
        }
    }

    fn take_runnext(&self) -> Option<TaskRef> {
        let p = self.runnext.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: non-null runnext pointers come from `TaskRef::into_raw`, and
        // the swap handed that ownership to us alone.
        (!p.is_null()).then(|| unsafe { TaskRef::from_raw(p) })
    }

    fn has_work(&self) -> bool {
        !self.runq.is_empty() || !self.runnext.load(Ordering::Acquire).is_null()
    }
}

impl Drop for Processor {
    fn drop(&mut self) {
        drop(self.take_runnext());
    }
}

/// Go's `sched.runq`: overflow from local queues and tasks woken from outside.
struct GlobalQueue {
    queue: Mutex<VecDeque<TaskRef>>,
    /// Mirror of `queue.len()` so empty checks take no lock.
    len: AtomicUsize,
}

impl GlobalQueue {
    fn push(&self, task: TaskRef) {
        let mut q = self.queue.lock();
        q.push_back(task);
        self.len.store(q.len(), Ordering::SeqCst);
    }

    fn push_batch(&self, batch: Vec<TaskRef>) {
        let mut q = self.queue.lock();
        q.extend(batch);
        self.len.store(q.len(), Ordering::SeqCst);
    }

    fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    /// Takes up to `max` tasks from the front.
    fn take_batch(&self, max: usize) -> Vec<TaskRef> {
        let mut q = self.queue.lock();
        let n = max.min(q.len());
        let batch = q.drain(..n).collect();
        self.len.store(q.len(), Ordering::SeqCst);
        batch
    }

    fn drain(&self) -> Vec<TaskRef> {
        let mut q = self.queue.lock();
        self.len.store(0, Ordering::SeqCst);
        q.drain(..).collect()
    }
}

/// Idle Ps and idle Ms, under one lock (Go's `sched.lock` over pidle/midle).
pub(crate) struct Idle {
    pub(crate) ps: Vec<usize>,
    pub(crate) ms: Vec<Arc<Machine>>,
    /// Ms started so far (threads alive or exited).
    pub(crate) threads: Vec<std::thread::JoinHandle<()>>,
}

/// State shared by every M, P and task of one runtime.
pub(crate) struct Shared {
    pub(crate) ps: Box<[Processor]>,
    global: GlobalQueue,
    pub(crate) idle: Mutex<Idle>,
    /// Idle-P and spinning-M counts: the spinning protocol.
    counts: IdleCounts,
    pub(crate) shutdown: AtomicBool,
    /// Spawned tasks that have not finished.
    live: CachePadded<AtomicUsize>,
    /// Tasks that returned `Pending` at least once and have not finished.
    pub(crate) registry: Registry,
    pub(crate) blocking: BlockingPool,
    pub(crate) config: Config,
}

/// Queues a task whose state was just set to `SCHEDULED`: into the current P's
/// `runnext` when called from a worker of the task's runtime, else into the
/// global queue.
pub(crate) fn schedule(task: TaskRef) {
    if let Some(task) = Worker::try_schedule_local(task) {
        let shared = task.header().shared.clone();
        shared.schedule_remote(task);
    }
}

impl Shared {
    pub(crate) fn new(config: Config) -> Arc<Shared> {
        let procs = config.procs;
        Arc::new(Shared {
            ps: (0..procs).map(|_| Processor::new()).collect(),
            global: GlobalQueue {
                queue: Mutex::new(VecDeque::new()),
                len: AtomicUsize::new(0),
            },
            idle: Mutex::new(Idle {
                ps: (0..procs).rev().collect(),
                ms: Vec::new(),
                threads: Vec::new(),
            }),
            counts: IdleCounts::new(procs),
            shutdown: AtomicBool::new(false),
            live: CachePadded::new(AtomicUsize::new(0)),
            registry: Registry::new(),
            blocking: BlockingPool::new(),
            config,
        })
    }

    pub(crate) fn procs(&self) -> usize {
        self.ps.len()
    }

    pub(crate) fn live_tasks(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    pub(crate) fn task_spawned(&self) {
        self.live.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn task_finished(&self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    /// Queues a task woken outside this runtime's workers.
    pub(crate) fn schedule_remote(self: &Arc<Self>, task: TaskRef) {
        if self.shutdown.load(Ordering::Acquire) {
            task.cancel_now();
            return;
        }
        self.global.push(task);
        self.wakep();
    }

    /// Puts `task` in P `p`'s runnext; a displaced task goes to the local queue
    /// and makes work stealable, so an idle M is woken.
    pub(crate) fn push_runnext(self: &Arc<Self>, p: usize, task: TaskRef) {
        let old = self.ps[p].runnext.swap(task.into_raw(), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: a non-null runnext pointer is an owned TaskRef; the swap
            // gave it to us.
            let old = unsafe { TaskRef::from_raw(old) };
            self.push_local(p, old);
        }
    }

    /// Appends to P `p`'s local queue (overflow to global) and wakes an M.
    pub(crate) fn push_local(self: &Arc<Self>, p: usize, task: TaskRef) {
        self.ps[p]
            .runq
            .push_back(task, |batch| self.global.push_batch(batch));
        self.wakep();
    }

    /// Go's `wakep`: start a spinning M on an idle P, unless one already spins.
    pub(crate) fn wakep(self: &Arc<Self>) {
        if !self.counts.claim_wakeup() {
            return;
        }
        match self.pidleget() {
            Some(p) => Machine::start(self, p, true),
            None => {
                self.counts.stop_spinning();
            }
        }
    }

    pub(crate) fn pidleget(&self) -> Option<usize> {
        let mut idle = self.idle.lock();
        let p = idle.ps.pop()?;
        self.counts.p_taken();
        Some(p)
    }

    fn pidleput(&self, p: usize) {
        let mut idle = self.idle.lock();
        idle.ps.push(p);
        self.counts.p_idled();
    }

    /// Go's `findRunnable`: the next task for worker `w`, parking the M when
    /// there is none. Returns `None` only at shutdown.
    pub(crate) fn find_runnable(self: &Arc<Self>, w: &Worker) -> Option<TaskRef> {
        loop {
            if self.shutdown.load(Ordering::Acquire) {
                return None;
            }
            let Some(p) = w.p() else {
                // Park until some M hands us a P.
                Machine::stop(self, w)?;
                continue;
            };
            if let Some(task) = self.local_or_global(w, p) {
                return Some(task);
            }
            if w.spinning.get() || self.counts.may_spin() {
                if !w.spinning.get() {
                    w.spinning.set(true);
                    self.counts.start_spinning();
                }
                if let Some(task) = self.steal_work(w, p) {
                    return Some(task);
                }
            }
            self.release_p(w, p);
        }
    }

    /// runnext, the local queue, and the global queue (first every 61st tick).
    fn local_or_global(&self, w: &Worker, p: usize) -> Option<TaskRef> {
        let pp = &self.ps[p];
        let tick = w.tick.get().wrapping_add(1);
        w.tick.set(tick);
        pp.tick.store(tick, Ordering::Relaxed);
        if tick.is_multiple_of(GLOBAL_CHECK_INTERVAL)
            && !self.global.is_empty()
            && let Some(task) = self.take_global(p)
        {
            return Some(task);
        }
        if w.runnext_streak.get() < MAX_RUNNEXT_STREAK {
            if let Some(task) = pp.take_runnext() {
                w.runnext_streak.set(w.runnext_streak.get() + 1);
                return Some(task);
            }
        } else if let Some(task) = pp.take_runnext() {
            // Enough runnext in a row: it waits its turn at the back.
            pp.runq
                .push_back(task, |batch| self.global.push_batch(batch));
        }
        w.runnext_streak.set(0);
        if let Some(task) = pp.runq.pop() {
            return Some(task);
        }
        if !self.global.is_empty() {
            return self.take_global(p);
        }
        None
    }

    /// Go's `globrunqget`: a fair share of the global queue, at most half a
    /// local queue.
    fn take_global(&self, p: usize) -> Option<TaskRef> {
        let len = self.global.len.load(Ordering::Relaxed);
        let max = (len / self.procs() + 1).min(CAP as usize / 2);
        let mut batch = self.global.take_batch(max).into_iter();
        let first = batch.next();
        for task in batch {
            self.ps[p]
                .runq
                .push_back(task, |overflow| self.global.push_batch(overflow));
        }
        first
    }

    /// Go's `stealWork`: random victims, four passes, runnext on the last one.
    fn steal_work(&self, w: &Worker, p: usize) -> Option<TaskRef> {
        let n = self.procs();
        for pass in 0..STEAL_PASSES {
            let last_pass = pass == STEAL_PASSES - 1;
            let start = w.next_random() as usize % n;
            for i in 0..n {
                if self.shutdown.load(Ordering::Relaxed) {
                    return None;
                }
                let victim = (start + i) % n;
                if victim == p {
                    continue;
                }
                let vp = &self.ps[victim];
                if let Some(task) = vp.runq.steal_half_into(&self.ps[p].runq) {
                    return Some(task);
                }
                if last_pass && let Some(task) = self.steal_stuck_runnext(vp) {
                    return Some(task);
                }
            }
            if !self.global.is_empty()
                && let Some(task) = self.take_global(p)
            {
                return Some(task);
            }
        }
        None
    }

    /// Takes a victim's runnext only if the victim did not schedule anything
    /// during a short back-off: it is stuck in one poll.
    fn steal_stuck_runnext(&self, victim: &Processor) -> Option<TaskRef> {
        let seen = victim.runnext.load(Ordering::Acquire);
        if seen.is_null() {
            return None;
        }
        let tick = victim.tick.load(Ordering::Relaxed);
        for _ in 0..64 {
            std::hint::spin_loop();
        }
        if victim.tick.load(Ordering::Relaxed) != tick {
            return None;
        }
        victim
            .runnext
            .compare_exchange(seen, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
            .ok()
            // SAFETY: the CAS took the owned pointer out of the slot.
            .map(|p| unsafe { TaskRef::from_raw(p) })
    }

    /// No work found: give P `p` back, stop spinning, and look once more at
    /// every queue before parking (the second half of the spinning protocol).
    fn release_p(self: &Arc<Self>, w: &Worker, p: usize) {
        w.set_p(None);
        self.pidleput(p);
        if w.spinning.replace(false) {
            self.counts.stop_spinning();
            let work_left = !self.global.is_empty() || self.ps.iter().any(|pp| !pp.runq.is_empty());
            if work_left && let Some(p) = self.pidleget() {
                w.set_p(Some(p));
                w.spinning.set(true);
                self.counts.start_spinning();
            }
        }
    }

    /// Called by an M that found work: it stops spinning, and wakes another
    /// spinner if it was the last (Go's `resetspinning`).
    pub(crate) fn reset_spinning(self: &Arc<Self>, w: &Worker) {
        if w.spinning.replace(false) && self.counts.stop_spinning() {
            self.wakep();
        }
    }

    /// Whether any P or the global queue holds work (for tests and shutdown).
    pub(crate) fn has_queued_work(&self) -> bool {
        !self.global.is_empty() || self.ps.iter().any(Processor::has_work)
    }

    /// Takes every queued task out of every queue.
    pub(crate) fn drain_queues(&self) -> Vec<TaskRef> {
        let mut tasks = self.global.drain();
        for pp in self.ps.iter() {
            tasks.extend(pp.take_runnext());
            while let Some(task) = pp.runq.pop() {
                tasks.push(task);
            }
        }
        tasks
    }
}
