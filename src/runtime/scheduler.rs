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
//! A task that yields (or runs out of its coop budget) goes to the back of
//! its P's queue and wakes another M only if it is not alone there
//! ([`Shared::push_yielded`]): alone, it would only be stolen away from the
//! `runnext` task it just woke.
//!
//! # Fairness
//! Every 61st schedule of a P takes from the global queue first, and at most
//! [`MAX_RUNNEXT_STREAK`] tasks in a row come from `runnext` before the local
//! queue gets a turn: two tasks waking each other through `runnext` cannot
//! starve the rest of their P (Go lets them inherit the time slice and relies
//! on preemption after 10 ms, which is why a timer-woken goroutine can wait
//! seconds under a ping-pong storm).

use std::collections::VecDeque;
use std::panic::Location;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::idle::Idle as IdleCounts;
use super::machine::{Machine, Worker};
use super::queue::{CAP, LocalQueue, QueueItem};
use super::registry::Registry;
use super::task::TaskRef;
use super::{Config, blocking_pool::BlockingPool};

/// How many tasks in a row a P takes from `runnext` before its queue's head.
const MAX_RUNNEXT_STREAK: u32 = 3;
/// Every this many schedules, a P takes one task from the global queue
/// before its own (Go's 61).
const GLOBAL_CHECK_INTERVAL: u32 = 61;
/// Stealing passes over all Ps before an M gives up (Go's 4).
const STEAL_PASSES: usize = 4;

/// P status: on the idle list.
pub(crate) const P_IDLE: u8 = 0;
/// P status: held by an M that runs tasks or looks for work.
pub(crate) const P_RUNNING: u8 = 1;
/// P status: its M is inside `gort::blocking` (Go's `_Psyscall`).
pub(crate) const P_SYSCALL: u8 = 2;
/// P status: sysmon gave this P's place to a spare; its blocked M still owns
/// the ring and hands it back (to the spare pool) when its poll returns.
pub(crate) const P_RETIRED: u8 = 3;
/// P status: a spare slot, not in use.
pub(crate) const P_SPARE: u8 = 4;

/// A P: a local run queue, a `runnext` slot, and what sysmon watches.
pub(crate) struct Processor {
    pub(crate) runq: LocalQueue<TaskRef>,
    /// The task to run next; owned (one count) while non-null.
    runnext: CachePadded<AtomicPtr<()>>,
    /// Schedules done by this P; read by thieves and sysmon to see whether it
    /// is stuck in one poll.
    pub(crate) tick: CachePadded<AtomicU32>,
    /// `P_*`. The M holding the P moves it RUNNING <-> SYSCALL by CAS; sysmon
    /// moves RUNNING or SYSCALL -> RETIRED by CAS; the rest happens under the
    /// idle lock.
    pub(crate) status: AtomicU8,
    /// Spawn location of the task being polled, null between polls: sysmon
    /// blames only a P stuck inside a poll, and names its task.
    pub(crate) running_at: AtomicPtr<Location<'static>>,
}

impl Processor {
    fn new(status: u8) -> Processor {
        Processor {
            runq: LocalQueue::new(),
            runnext: CachePadded::new(AtomicPtr::new(ptr::null_mut())),
            tick: CachePadded::new(AtomicU32::new(0)),
            status: AtomicU8::new(status),
            running_at: AtomicPtr::new(ptr::null_mut()),
        }
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.status.load(Ordering::Acquire) == P_RETIRED
    }

    /// Empties `runnext` (called by the P's own M, or on drop).
    fn take_runnext(&self) -> Option<TaskRef> {
        // Only the P's own M fills runnext, so for that M an empty slot stays
        // empty: a load spares the locked swap on every schedule that finds
        // nothing there (every `yield_now`, every task from the queue).
        if self.runnext.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let p = self.runnext.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: non-null runnext pointers come from `TaskRef::into_raw`, and
        // the swap handed that ownership to us alone.
        (!p.is_null()).then(|| unsafe { TaskRef::from_raw(p) })
    }

    fn has_runnext(&self) -> bool {
        !self.runnext.load(Ordering::Relaxed).is_null()
    }

    pub(crate) fn has_work(&self) -> bool {
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

    fn push_batch(&self, batch: impl IntoIterator<Item = TaskRef>) {
        let mut q = self.queue.lock();
        q.extend(batch);
        self.len.store(q.len(), Ordering::SeqCst);
    }

    fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    /// Takes up to `max` tasks from the front: returns the first and moves the
    /// rest into `runq`, which must have room for them.
    fn take_into(&self, max: usize, runq: &LocalQueue<TaskRef>) -> Option<TaskRef> {
        let mut q = self.queue.lock();
        let first = q.pop_front()?;
        let n = (max - 1).min(q.len());
        for task in q.drain(..n) {
            runq.push_back(task, |_| {
                unreachable!("gort: room in the local queue was reserved")
            });
        }
        self.len.store(q.len(), Ordering::SeqCst);
        Some(first)
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
    /// Spare P slots for sysmon's hand-offs, lowest index last (taken first).
    spare: Vec<usize>,
    pub(crate) ms: Vec<Arc<Machine>>,
    /// Ms started so far (threads alive or exited).
    pub(crate) threads: Vec<std::thread::JoinHandle<()>>,
}

/// Event counters behind `Runtime::metrics` (relaxed: statistics only).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) spawned: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) global_pushes: AtomicU64,
    pub(crate) handoffs: AtomicU64,
}

/// State shared by every M, P and task of one runtime.
pub(crate) struct Shared {
    /// `procs` active Ps, then spare slots that sysmon swaps in for Ps whose M
    /// is blocked.
    pub(crate) ps: Box<[Processor]>,
    /// Slots ever used: the active Ps plus spares taken so far. Stealing and
    /// sysmon look only at these.
    in_use: AtomicUsize,
    global: GlobalQueue,
    pub(crate) idle: Mutex<Idle>,
    /// Idle-P and spinning-M counts: the spinning protocol.
    counts: IdleCounts,
    pub(crate) shutdown: AtomicBool,
    /// Spawned tasks that have not finished.
    live: CachePadded<AtomicUsize>,
    pub(crate) metrics: Counters,
    /// Tasks that returned `Pending` at least once and have not finished.
    pub(crate) registry: Registry,
    pub(crate) blocking: BlockingPool,
    pub(crate) config: Config,
    /// Wakes sysmon early at shutdown.
    sysmon_wake: (Mutex<()>, Condvar),
    pub(crate) started: Instant,
    /// µs since `started`, refreshed by sysmon every round: a clock for
    /// stamping parked tasks that costs a load, not a `clock_gettime`.
    coarse_now: AtomicU64,
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
        let slots = procs + config.max_blocked;
        Arc::new(Shared {
            ps: (0..slots)
                .map(|i| Processor::new(if i < procs { P_IDLE } else { P_SPARE }))
                .collect(),
            in_use: AtomicUsize::new(procs),
            global: GlobalQueue {
                queue: Mutex::new(VecDeque::new()),
                len: AtomicUsize::new(0),
            },
            idle: Mutex::new(Idle {
                ps: (0..procs).rev().collect(),
                spare: (procs..slots).rev().collect(),
                ms: Vec::new(),
                threads: Vec::new(),
            }),
            counts: IdleCounts::new(procs),
            shutdown: AtomicBool::new(false),
            live: CachePadded::new(AtomicUsize::new(0)),
            metrics: Counters::default(),
            registry: Registry::new(),
            blocking: BlockingPool::new(),
            config,
            sysmon_wake: (Mutex::new(()), Condvar::new()),
            started: Instant::now(),
            coarse_now: AtomicU64::new(0),
        })
    }

    pub(crate) fn procs(&self) -> usize {
        self.config.procs
    }

    /// The P slots in use (active and retired).
    pub(crate) fn slots(&self) -> &[Processor] {
        &self.ps[..self.in_use.load(Ordering::Acquire)]
    }

    pub(crate) fn live_tasks(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Counts a new task; returns its id (Go's goroutine id, from 1).
    pub(crate) fn task_spawned(&self) -> u32 {
        self.live.fetch_add(1, Ordering::Relaxed);
        self.metrics.spawned.fetch_add(1, Ordering::Relaxed) as u32 + 1
    }

    pub(crate) fn task_finished(&self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    /// Queues a task woken outside this runtime's workers; during shutdown,
    /// cancels it instead.
    pub(crate) fn schedule_remote(self: &Arc<Self>, task: TaskRef) {
        self.global.push(task);
        self.metrics.global_pushes.fetch_add(1, Ordering::Relaxed);
        // Checked after the push, not before: shutdown may drain the queues
        // between a check and the push, and nobody would ever find the task
        // (TSan's debug run of `dropping_a_runtime_while_foreign_threads_
        // wake_its_tasks` caught one left queued after `Runtime::drop`). The
        // queue's lock orders the two: either shutdown's drain took the
        // task, or this load sees the flag and cancels what is queued.
        if self.shutdown.load(Ordering::Acquire) {
            for task in self.global.drain() {
                task.cancel_now();
            }
            return;
        }
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

    /// Queues a task that must run again (it yielded, ran out of its coop
    /// budget, or was woken while it ran) at the back of P `p`'s queue.
    /// Another M is woken only if other tasks wait in that queue. A lone
    /// yielder competes only with `runnext`, usually the task it just woke,
    /// which this P runs next anyway; a thief would take the yielder away from
    /// that partner and leave the two working their channel from two cores.
    /// chan_spsc: the producer's budget yield, with the consumer in `runnext`,
    /// woke the other P, which stole the producer on every 128th message
    /// (criterion on 2 procs: 19.3–24.7 against 29.7–33.9 ms). The price is
    /// parallelism a lone yielder would have found on an idle P: select_two,
    /// whose consumer's yields used to send it to the second P, went from
    /// 45–56 to 64–77 ms. Two yielders in a row still wake one.
    ///
    /// The yielder waits behind `runnext` like any queued task. If the
    /// `runnext` task then blocks its thread (a long poll, a std lock), the
    /// yielder waits for sysmon's hand-off (10 ms, or its `blocking` period)
    /// where before the wake let an idle M steal it at once; with sysmon off
    /// it waits for the block to end, as a task in `runnext` already did.
    pub(crate) fn push_yielded(self: &Arc<Self>, p: usize, task: TaskRef) {
        let runq = &self.ps[p].runq;
        let alone = runq.is_empty();
        runq.push_back(task, |batch| self.global.push_batch(batch));
        if !alone {
            self.wakep();
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
        self.ps[p].status.store(P_RUNNING, Ordering::Release);
        Some(p)
    }

    fn pidleput(&self, p: usize) {
        let mut idle = self.idle.lock();
        self.ps[p].status.store(P_IDLE, Ordering::Release);
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

    /// runnext, the local queue, and the global queue (one task first every
    /// 61st tick; a batch when the local queue is empty).
    fn local_or_global(&self, w: &Worker, p: usize) -> Option<TaskRef> {
        let pp = &self.ps[p];
        let tick = w.tick.get().wrapping_add(1);
        w.tick.set(tick);
        pp.tick.store(tick, Ordering::Relaxed);
        // One task, as Go's `globrunqget(pp, 1)`: this check is for fairness
        // only. A batch here would refill a full local queue, whose next push
        // then overflows half of it back: with more runnable tasks than the
        // local queues hold (yield_many's 1,000), every task went through the
        // global queue about once per yield.
        if tick.is_multiple_of(GLOBAL_CHECK_INTERVAL)
            && !self.global.is_empty()
            && let Some(task) = self.global.take_into(1, &pp.runq)
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
        // Only thieves touch our queue meanwhile, and they only shrink it.
        let room = (CAP - self.ps[p].runq.len()) as usize;
        self.global.take_into(max.min(room + 1), &self.ps[p].runq)
    }

    /// Go's `stealWork`: random victims, four passes, runnext on the last one.
    fn steal_work(&self, w: &Worker, p: usize) -> Option<TaskRef> {
        let n = self.slots().len();
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
                let stolen = vp
                    .runq
                    .steal_half_into(&self.ps[p].runq)
                    .or_else(|| last_pass.then(|| self.steal_stuck_runnext(vp)).flatten());
                if stolen.is_some() {
                    self.metrics.steals.fetch_add(1, Ordering::Relaxed);
                    return stolen;
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

    /// sysmon's hand-off: if P `p` is still in `status` (its M blocked in one
    /// poll or in `blocking`), retires it and starts a spare P in its place on
    /// another M. Returns false if no spare is left or the M moved on.
    pub(crate) fn retake(self: &Arc<Self>, p: usize, status: u8) -> bool {
        let spare = {
            let mut idle = self.idle.lock();
            let Some(spare) = idle.spare.pop() else {
                return false;
            };
            if self.ps[p]
                .status
                .compare_exchange(status, P_RETIRED, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                idle.spare.push(spare);
                return false;
            }
            self.ps[spare].status.store(P_RUNNING, Ordering::Release);
            self.in_use.fetch_max(spare + 1, Ordering::AcqRel);
            spare
        };
        self.metrics.handoffs.fetch_add(1, Ordering::Relaxed);
        self.counts.start_spinning();
        Machine::start(self, spare, true);
        true
    }

    /// Called by the M of a retired P once its poll returned: moves what the
    /// P still holds to the global queue and puts the slot back among the
    /// spares. The M is left without a P.
    pub(crate) fn release_retired(self: &Arc<Self>, w: &Worker, p: usize) {
        w.set_p(None);
        w.runnext_streak.set(0);
        let pp = &self.ps[p];
        let mut left: Vec<TaskRef> = pp.take_runnext().into_iter().collect();
        while let Some(task) = pp.runq.pop() {
            left.push(task);
        }
        let mut idle = self.idle.lock();
        pp.status.store(P_SPARE, Ordering::Release);
        idle.spare.push(p);
        idle.spare.sort_unstable_by(|a, b| b.cmp(a));
        drop(idle);
        if !left.is_empty() {
            self.global.push_batch(left);
            self.wakep();
        }
        // Go's exitsyscall: carry on with any idle P rather than park.
        if let Some(p) = self.pidleget() {
            w.set_p(Some(p));
        }
    }

    /// No P runs or holds work, none is in `blocking` or retired, and the
    /// blocking pool is idle.
    pub(crate) fn is_quiescent(&self) -> bool {
        self.counts.idle_ps() == self.procs()
            && self
                .slots()
                .iter()
                .all(|pp| matches!(pp.status.load(Ordering::SeqCst), P_IDLE | P_SPARE))
            && !self.has_queued_work()
            && self.blocking.is_idle()
    }

    /// Sum of every P's schedule tick: moves whenever anything runs.
    pub(crate) fn total_ticks(&self) -> u64 {
        self.slots()
            .iter()
            .map(|pp| u64::from(pp.tick.load(Ordering::SeqCst)))
            .sum()
    }

    pub(crate) fn coarse_now_us(&self) -> u64 {
        self.coarse_now.load(Ordering::Relaxed)
    }

    /// Refreshes the coarse clock (sysmon, every round).
    pub(crate) fn tick_coarse_clock(&self) {
        let us = self.started.elapsed().as_micros() as u64;
        self.coarse_now.store(us, Ordering::Relaxed);
    }

    pub(crate) fn has_global_work(&self) -> bool {
        !self.global.is_empty()
    }

    /// sysmon's sleep between rounds; false once the runtime shuts down.
    pub(crate) fn sysmon_sleep(&self, period: Duration) -> bool {
        let mut guard = self.sysmon_wake.0.lock();
        if !self.shutdown.load(Ordering::Acquire) {
            self.sysmon_wake.1.wait_for(&mut guard, period);
        }
        !self.shutdown.load(Ordering::Acquire)
    }

    /// Wakes sysmon so it sees the shutdown flag.
    pub(crate) fn stop_sysmon(&self) {
        let _guard = self.sysmon_wake.0.lock();
        self.sysmon_wake.1.notify_all();
    }

    /// One line in the shape of Go's `GODEBUG=schedtrace`.
    pub(crate) fn schedtrace_line(&self) -> String {
        let (threads, idle_threads) = {
            let idle = self.idle.lock();
            (idle.threads.len(), idle.ms.len())
        };
        let local: Vec<String> = self.ps[..self.procs()]
            .iter()
            .map(|pp| (pp.runq.len() + u32::from(pp.has_runnext())).to_string())
            .collect();
        format!(
            "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} \
             idlethreads={} runqueue={} handoffs={} [{}]",
            self.started.elapsed().as_millis(),
            self.procs(),
            self.counts.idle_ps(),
            threads,
            self.counts.spinning_ms(),
            idle_threads,
            self.global.len.load(Ordering::Relaxed),
            self.metrics.handoffs.load(Ordering::Relaxed),
            local.join(" ")
        )
    }

    /// Whether any P or the global queue holds work (for tests and shutdown).
    pub(crate) fn has_queued_work(&self) -> bool {
        !self.global.is_empty() || self.slots().iter().any(Processor::has_work)
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
