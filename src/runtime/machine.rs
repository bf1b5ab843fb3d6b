//! The M: an OS thread that runs tasks while it holds a P, and parks on the
//! idle list when it has none (Go's `mstart`, `startm`, `stopm`).
//!
//! An M learns which P to run only through its [`Machine`] hand-off slot:
//! whoever starts it (`wakep`, later sysmon's hand-off) puts the P there under
//! the slot's lock and signals the condvar, so a P is never held by two Ms.
//! Parking is a condvar wait; no spinning happens here (spinning is
//! `find_runnable`'s bounded stealing).

use std::cell::Cell;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::{Condvar, Mutex};

use super::coop;
use super::deadlock::GortThread;
use super::scheduler::{P_RUNNING, P_SYSCALL, Shared};
use super::task::{RunOutcome, TaskRef};

/// What a parked M is handed.
#[derive(Default)]
struct Handoff {
    nextp: Option<usize>,
    spinning: bool,
    exit: bool,
}

/// The parking place of one M.
#[derive(Default)]
pub(crate) struct Machine {
    handoff: Mutex<Handoff>,
    wakeup: Condvar,
}

/// The thread-local state of the M running on this thread.
pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    machine: Arc<Machine>,
    p: Cell<Option<usize>>,
    pub(crate) spinning: Cell<bool>,
    /// Schedules done while holding a P (mirrored into the P's tick).
    pub(crate) tick: Cell<u32>,
    /// Tasks taken from runnext in a row.
    pub(crate) runnext_streak: Cell<u32>,
    rng: Cell<u32>,
}

thread_local! {
    static CURRENT: Cell<*const Worker> = const { Cell::new(ptr::null()) };
}

impl Machine {
    /// Go's `startm`: runs P `p` on an idle M, or on a new thread if none is idle.
    pub(crate) fn start(shared: &Arc<Shared>, p: usize, spinning: bool) {
        let idle_m = shared.idle.lock().ms.pop();
        if let Some(m) = idle_m {
            let mut h = m.handoff.lock();
            h.nextp = Some(p);
            h.spinning = spinning;
            drop(h);
            m.wakeup.notify_one();
            return;
        }
        if shared.shutdown.load(Ordering::Acquire) {
            // The runtime is being dropped, and its drop cancels what is
            // queued: a new thread would only exit again.
            return;
        }
        let worker_shared = shared.clone();
        let mut builder = std::thread::Builder::new().name(shared.config.thread_name.clone());
        if let Some(size) = shared.config.stack_size {
            builder = builder.stack_size(size);
        }
        let thread = builder
            .spawn(move || mstart(worker_shared, p, spinning))
            .expect("gort: failed to spawn a worker thread");
        let mut idle = shared.idle.lock();
        if shared.shutdown.load(Ordering::Acquire) {
            // The drop may have collected the threads it joins before this
            // one was listed (a foreign thread's wake raced it): join it
            // here instead. It sees the flag and exits at once.
            drop(idle);
            let _ = thread.join();
            return;
        }
        idle.threads.push(thread);
        // Ms that retired have ended: join them now, or the list (and each
        // thread's stack, which only a join frees) would grow with every
        // hand-off for as long as the runtime lives; the default one never
        // drops.
        let retired: Vec<_> = idle.threads.extract_if(.., |t| t.is_finished()).collect();
        drop(idle);
        for thread in retired {
            let _ = thread.join();
        }
    }

    /// Go's `stopm`: parks this M on the idle list until it is handed a P.
    /// Returns `None` when the runtime shuts down or this surplus M retires.
    pub(crate) fn stop(shared: &Shared, w: &Worker) -> Option<()> {
        {
            let mut idle = shared.idle.lock();
            if shared.shutdown.load(Ordering::Acquire) {
                return None;
            }
            idle.ms.push(w.machine.clone());
        }
        shared.metrics.parks.fetch_add(1, Ordering::Relaxed);
        let mut h = w.machine.handoff.lock();
        loop {
            if let Some(p) = h.nextp.take() {
                w.set_p(Some(p));
                w.spinning.set(h.spinning);
                return Some(());
            }
            if h.exit {
                return None;
            }
            let timed_out = w
                .machine
                .wakeup
                .wait_for(&mut h, shared.config.retire_after)
                .timed_out();
            if timed_out && h.nextp.is_none() {
                // Never hold the hand-off lock while taking the idle lock:
                // shutdown takes them the other way round.
                drop(h);
                if Self::retire(shared, &w.machine) {
                    return None;
                }
                h = w.machine.handoff.lock();
            }
        }
    }

    /// Takes a long-idle M off the idle list if there are more idle Ms than
    /// Ps could use (they were started for sysmon's hand-offs).
    fn retire(shared: &Shared, me: &Arc<Machine>) -> bool {
        let mut idle = shared.idle.lock();
        if idle.ms.len() <= shared.procs() {
            return false;
        }
        match idle.ms.iter().position(|m| Arc::ptr_eq(m, me)) {
            Some(i) => {
                idle.ms.swap_remove(i);
                true
            }
            // Someone popped us to hand us a P: wait for it.
            None => false,
        }
    }

    /// Tells a parked M to exit (shutdown).
    pub(crate) fn exit(&self) {
        self.handoff.lock().exit = true;
        self.wakeup.notify_one();
    }
}

/// The body of every M thread.
fn mstart(shared: Arc<Shared>, p: usize, spinning: bool) {
    let _counted = GortThread::enter();
    let w = Worker {
        shared: shared.clone(),
        machine: Arc::new(Machine::default()),
        p: Cell::new(Some(p)),
        spinning: Cell::new(spinning),
        tick: Cell::new(0),
        runnext_streak: Cell::new(0),
        rng: Cell::new((p as u32).wrapping_mul(0x9E37_79B9) | 1),
    };
    CURRENT.set(&w);
    while let Some(task) = shared.find_runnable(&w) {
        shared.reset_spinning(&w);
        let p = w.p().expect("find_runnable returns with a P");
        let pp = &shared.ps[p];
        pp.running_at.store(
            ptr::from_ref(task.header().spawned_at).cast_mut(),
            Ordering::Relaxed,
        );
        let outcome = task.run();
        pp.running_at.store(ptr::null_mut(), Ordering::Relaxed);
        if pp.is_retired() {
            // sysmon gave our P's place away while we were blocked.
            shared.release_retired(&w, p);
        }
        if let RunOutcome::Yielded(task) = outcome {
            match w.p() {
                Some(p) => shared.push_yielded(p, task),
                None => shared.schedule_remote(task),
            }
        }
    }
    CURRENT.set(ptr::null());
}

/// Go's `entersyscall`/`exitsyscall` around one `gort::blocking` call.
pub(crate) struct Syscall {
    p: usize,
}

impl Syscall {
    /// Marks this M's P as in a blocking call, so sysmon may hand it off.
    /// `None` when not on an M holding a P (or already inside `blocking`).
    pub(crate) fn enter() -> Option<Syscall> {
        Worker::with_current(|w| {
            let p = w?.p()?;
            w?.shared.ps[p]
                .status
                .compare_exchange(P_RUNNING, P_SYSCALL, Ordering::AcqRel, Ordering::Relaxed)
                .ok()
                .map(|_| Syscall { p })
        })
    }
}

impl Drop for Syscall {
    fn drop(&mut self) {
        let kept = Worker::with_current(|w| {
            w.is_some_and(|w| {
                w.shared.ps[self.p]
                    .status
                    .compare_exchange(P_SYSCALL, P_RUNNING, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            })
        });
        if !kept {
            // sysmon gave our P's place away: yield at the next gort operation,
            // after which this M gives the P back and parks.
            coop::exhaust();
        }
    }
}

impl Worker {
    /// The P this M holds, if any.
    pub(crate) fn p(&self) -> Option<usize> {
        self.p.get()
    }

    pub(crate) fn set_p(&self, p: Option<usize>) {
        self.p.set(p);
    }

    /// xorshift32: victim order for stealing.
    pub(crate) fn next_random(&self) -> u32 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }

    /// Runs `f` with the worker of this thread, if it is an M of some runtime.
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
        let w = CURRENT.get();
        // SAFETY: CURRENT points to the Worker on mstart's stack frame, set
        // for exactly as long as that frame runs tasks on this thread.
        f(unsafe { w.as_ref() })
    }

    /// Puts `task` in this P's runnext if this thread is an M of the task's
    /// runtime holding a P; otherwise gives the task back.
    pub(crate) fn try_schedule_local(task: TaskRef) -> Option<TaskRef> {
        Worker::with_current(|w| match w {
            Some(w) if ptr::eq(&*w.shared, &*task.header().shared) => match w.p() {
                Some(p) => {
                    w.shared.push_runnext(p, task);
                    None
                }
                None => Some(task),
            },
            _ => Some(task),
        })
    }
}
