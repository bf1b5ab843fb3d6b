//! The scheduler: Go's G, M, P, in Rust.
//!
//! # The model
//! - **G** (`runtime/task.rs`): a spawned future in one allocation with a small header
//!   (state word, vtable, runtime pointer, join waker). A parked G costs its
//!   future plus that header; there is no stack to grow.
//! - **P** (`scheduler::Processor`): `procs` of them, Go's `GOMAXPROCS`. Each
//!   owns a bounded local run queue (`runtime/queue.rs`) and a `runnext` slot.
//! - **M** (`runtime/machine.rs`): an OS thread. It runs tasks only while it holds a P,
//!   spins (bounded) looking for work, then parks on the idle list. Ms are
//!   started on demand by `wakep`, so an idle runtime holds no running thread.
//! - **Global queue**: overflow from full local queues and tasks woken from
//!   outside the runtime; every P looks at it first on every 61st schedule.
//!
//! `find_runnable` looks at runnext, the local queue, the global queue, then
//! steals half of a random victim's queue (four passes, runnext last), then
//! gives the P back and parks the M. The protocol that keeps a wakeup from
//! being lost between a submitter and a parking M is spelled out in
//! `runtime/scheduler.rs`.
//!
//! # Rejected
//! - One global queue with many threads (the std-threads pool shape): every
//!   spawn and wake contends on one lock.
//! - tokio's unstealable LIFO slot: a task woken into it starves when its P is
//!   stuck in a long poll. Here runnext is stealable from a stuck P.
//! - Go's unconditional `wakep` on every `runnext` push: in a ping-pong it wakes
//!   a thief per message that can only fail.
//!
//! Timers live in their own thread (`runtime/timer.rs`), so they fire even when every M
//! is parked and work identically from plain threads.

mod blocking_pool;
pub(crate) mod coop;
pub(crate) mod deadlock;
mod dump;
pub(crate) mod idle;
mod machine;
pub(crate) mod park;
pub(crate) mod queue;
mod registry;
pub(crate) mod scheduler;
pub(crate) mod state;
mod sysmon;
pub(crate) mod task;
pub(crate) mod timer;
pub(crate) mod wait;

use std::cell::RefCell;
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

pub use task::{JoinError, JoinHandle};

use machine::Worker;
use scheduler::Shared;

/// Settings fixed when a runtime is built.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) procs: usize,
    pub(crate) thread_name: String,
    pub(crate) stack_size: Option<usize>,
    /// Spare Ps sysmon may swap in for blocked ones: the cap on extra Ms.
    pub(crate) max_blocked: usize,
    /// Report undeclared blocking polls on stderr.
    pub(crate) report_blocking: bool,
    /// `GORT_SCHEDTRACE`: print a scheduler trace line this often.
    pub(crate) schedtrace: Option<Duration>,
    /// An M idle this long exits if more Ms are idle than Ps could use.
    pub(crate) retire_after: Duration,
}

thread_local! {
    /// The runtime `go` spawns on from this thread when it is not an M: set by
    /// `block_on` and by blocking-pool threads.
    static ENTERED: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// Runs `f` with `shared` as this thread's runtime for `go`.
pub(crate) fn enter<R>(shared: Arc<Shared>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<Shared>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            ENTERED.with(|e| *e.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(ENTERED.with(|e| e.borrow_mut().replace(shared)));
    f()
}

/// The runtime this thread belongs to: its M's, the one it entered, or none.
fn current_shared() -> Option<Arc<Shared>> {
    Worker::with_current(|w| w.map(|w| w.shared.clone()))
        .or_else(|| ENTERED.with(|e| e.borrow().clone()))
}

/// True when called from inside a gort task (on one of its Ms).
pub(crate) fn in_task() -> bool {
    Worker::with_current(|w| w.is_some())
}

/// The runtime `go` uses on this thread: the current one, else the default.
fn shared_for_spawn() -> Arc<Shared> {
    current_shared().unwrap_or_else(|| default_runtime().shared.clone())
}

/// The process-wide runtime, created on first use like Go's.
fn default_runtime() -> &'static Runtime {
    static DEFAULT: OnceLock<Runtime> = OnceLock::new();
    DEFAULT.get_or_init(|| Runtime::new().expect("gort: failed to start the default runtime"))
}

/// An explicit scheduler instance: `procs` Ps, their Ms, a blocking pool.
///
/// Dropping it stops its threads and drops every task that has not finished
/// (their handles yield [`JoinError::Aborted`]).
///
/// ```
/// let rt = gort::Runtime::builder().procs(2).build().unwrap();
/// let answer = rt.block_on(async { gort::go(async { 6 * 7 }).await.unwrap() });
/// assert_eq!(answer, 42);
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    sysmon: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("procs", &self.procs())
            .field("num_goroutines", &self.num_goroutines())
            .finish()
    }
}

/// Configures a [`Runtime`].
#[derive(Debug, Clone)]
pub struct Builder {
    procs: Option<usize>,
    thread_name: String,
    stack_size: Option<usize>,
    max_blocked: usize,
    report_blocking: bool,
    sysmon: bool,
    retire_after: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            procs: None,
            thread_name: "gort-worker".into(),
            stack_size: None,
            max_blocked: 64,
            report_blocking: true,
            sysmon: true,
            retire_after: Duration::from_secs(10),
        }
    }
}

impl Builder {
    /// Number of Ps (Go's `GOMAXPROCS`): tasks running at once. Default: the
    /// `GORT_MAXPROCS` environment variable, else the number of CPUs.
    /// [`build`](Builder::build) refuses more than 65,536.
    pub fn procs(mut self, n: usize) -> Builder {
        assert!(n > 0, "gort: procs must be at least 1");
        self.procs = Some(n);
        self
    }

    /// Name of the worker threads.
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// Stack size of the worker threads, in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// How many Ps sysmon may hand off at once, i.e. how many threads may be
    /// blocked (in `blocking` or in a poll that does not yield) beyond
    /// `procs` while their neighbours keep running. Default 64; 0 turns the
    /// hand-off off.
    pub fn max_blocked(mut self, n: usize) -> Builder {
        self.max_blocked = n;
        self
    }

    /// Whether sysmon reports, once per spawn location, a task whose poll
    /// blocked its thread for 10 ms without `gort::blocking`. Default on.
    pub fn report_blocking(mut self, on: bool) -> Builder {
        self.report_blocking = on;
        self
    }

    /// Runs without the sysmon thread (no blocking hand-off, no schedtrace):
    /// only for measuring what sysmon costs.
    #[doc(hidden)]
    pub fn without_sysmon(mut self) -> Builder {
        self.sysmon = false;
        self
    }

    /// How long a surplus idle M waits before it exits (tests shorten it).
    #[cfg(test)]
    fn retire_after(mut self, d: Duration) -> Builder {
        self.retire_after = d;
        self
    }

    /// Creates the runtime and its sysmon thread. Worker threads start on
    /// demand, when work arrives.
    pub fn build(self) -> std::io::Result<Runtime> {
        let procs = match self.procs {
            Some(n) => n,
            None => default_procs()?,
        };
        for (what, n) in [("procs", procs), ("max_blocked", self.max_blocked)] {
            if n > MAX_PROCS {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("gort: {what}={n} is more than {MAX_PROCS}, the most a runtime takes"),
                ));
            }
        }
        let shared = Shared::new(Config {
            procs,
            thread_name: self.thread_name,
            stack_size: self.stack_size,
            max_blocked: self.max_blocked,
            report_blocking: self.report_blocking,
            schedtrace: schedtrace_from_env()?,
            retire_after: self.retire_after,
        });
        deadlock::register_runtime(&shared);
        let sysmon = self.sysmon.then(|| sysmon::start(&shared));
        Ok(Runtime { shared, sysmon })
    }
}

/// The most Ps a runtime takes, and the most spare ones (`max_blocked`):
/// each costs memory up front, so a mistyped count fails in `build` with an
/// error rather than aborting the process in the allocator.
const MAX_PROCS: usize = 1 << 16;

/// `GORT_SCHEDTRACE=<ms>`: a trace line to stderr every that many ms.
fn schedtrace_from_env() -> std::io::Result<Option<Duration>> {
    match std::env::var("GORT_SCHEDTRACE") {
        Err(_) => Ok(None),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(ms) => Ok(Some(Duration::from_millis(ms))),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("gort: GORT_SCHEDTRACE={v:?} is not a number of milliseconds"),
            )),
        },
    }
}

fn default_procs() -> std::io::Result<usize> {
    match std::env::var("GORT_MAXPROCS") {
        Ok(v) => parse_maxprocs(&v),
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// `GORT_MAXPROCS`'s value: a positive number, else a clear error.
fn parse_maxprocs(v: &str) -> std::io::Result<usize> {
    match v.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("gort: GORT_MAXPROCS={v:?} is not a positive number"),
        )),
    }
}

impl Runtime {
    /// A runtime with default settings (see [`Builder::procs`]).
    pub fn new() -> std::io::Result<Runtime> {
        Builder::default().build()
    }

    /// Starts configuring a runtime.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Blocks this thread until `f` completes; tasks spawned with [`go`]
    /// inside `f` run on this runtime.
    ///
    /// # Panics
    /// When called from inside a gort task: that would block a worker thread.
    ///
    /// If `f` and every task of the runtime end up waiting on gort primitives
    /// with nothing left that could wake them, this panics with Go's "fatal
    /// error: all goroutines are asleep - deadlock!" and a goroutine dump
    /// instead of hanging (see `runtime/deadlock.rs` for what it can see).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        enter(self.shared.clone(), || block_on_here(f, Some(&self.shared)))
    }

    /// Go's goroutine dump of this runtime: every live task with its id,
    /// spawn location, state, and what it waits on and for how long.
    pub fn dump(&self) -> String {
        dump::render(&self.shared)
    }

    /// Spawns a task on this runtime (see [`go`]).
    #[track_caller]
    pub fn go<F>(&self, f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_on(&self.shared, f, Location::caller())
    }

    /// Number of Ps (Go's `GOMAXPROCS`).
    pub fn procs(&self) -> usize {
        self.shared.procs()
    }

    /// Tasks spawned on this runtime that have not finished.
    pub fn num_goroutines(&self) -> usize {
        self.shared.live_tasks()
    }

    /// Scheduler event counters since the runtime was built.
    pub fn metrics(&self) -> Metrics {
        let m = &self.shared.metrics;
        let spawned = m.spawned.load(Ordering::Relaxed);
        let live = self.shared.live_tasks() as u64;
        Metrics {
            spawned,
            completed: spawned.saturating_sub(live),
            steals: m.steals.load(Ordering::Relaxed),
            parks: m.parks.load(Ordering::Relaxed),
            global_queue_pushes: m.global_pushes.load(Ordering::Relaxed),
            sysmon_handoffs: m.handoffs.load(Ordering::Relaxed),
        }
    }
}

/// Counters of scheduler events, from [`Runtime::metrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Tasks spawned (including `spawn_blocking`).
    pub spawned: u64,
    /// Tasks finished (returned, panicked or aborted).
    pub completed: u64,
    /// Successful steals from another P's queue.
    pub steals: u64,
    /// Times an M parked for lack of work.
    pub parks: u64,
    /// Tasks pushed to the global queue from outside the workers.
    pub global_queue_pushes: u64,
    /// Ps that sysmon handed to another M because their M was blocked.
    pub sysmon_handoffs: u64,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.shutdown.store(true, Ordering::SeqCst);
        shared.stop_sysmon();
        if let Some(sysmon) = self.sysmon.take() {
            let _ = sysmon.join();
        }
        let threads = {
            let mut idle = shared.idle.lock();
            for m in idle.ms.drain(..) {
                m.exit();
            }
            std::mem::take(&mut idle.threads)
        };
        let me = std::thread::current().id();
        for thread in threads {
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
        let mut leftovers = shared.blocking.shutdown();
        loop {
            leftovers.extend(shared.registry.drain());
            leftovers.extend(shared.drain_queues());
            if leftovers.is_empty() {
                break;
            }
            // Dropping futures may wake or spawn more tasks: go round again.
            for task in leftovers.drain(..) {
                task.cancel_now();
            }
        }
        // A foreign thread's wake may still queue a task now: it sees the
        // flag after its push and cancels what it finds (`schedule_remote`).
    }
}

fn spawn_on<F>(shared: &Arc<Shared>, f: F, at: &'static Location<'static>) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let id = shared.task_spawned();
    let (task, handle) = task::new_task(f, shared.clone(), at, id);
    if let Some(task) = Worker::try_schedule_local(task) {
        shared.schedule_remote(task);
    }
    handle
}

/// Go's `go` statement: runs `f` as a new task. Inside a runtime it spawns
/// there; anywhere else on the process-wide default runtime.
///
/// ```
/// let h = gort::go(async { 1 + 1 });
/// assert_eq!(h.join().unwrap(), 2);
/// ```
#[track_caller]
pub fn go<F>(f: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_on(&shared_for_spawn(), f, Location::caller())
}

/// Go's `main`: blocks this thread on `main` with the default runtime as the
/// place where [`go`] spawns. May be called from several threads at once.
///
/// ```
/// let sum = gort::run(async {
///     let hs: Vec<_> = (0..10).map(|i| gort::go(async move { i })).collect();
///     let mut sum = 0;
///     for h in hs { sum += h.await.unwrap(); }
///     sum
/// });
/// assert_eq!(sum, 45);
/// ```
pub fn run<F: Future>(main: F) -> F::Output {
    default_runtime().block_on(main)
}

/// Go's `runtime.Gosched`: lets the other runnable tasks of this P run first.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// Go's `runtime.NumGoroutine`: tasks spawned and not finished, on the current
/// runtime (the default one outside any runtime).
pub fn num_goroutines() -> usize {
    shared_for_spawn().live_tasks()
}

/// Runs blocking code on the runtime's blocking thread pool; await the handle
/// for its result. Threads are started as needed and retire when idle.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let shared = shared_for_spawn();
    let mut f = Some(f);
    let once = std::future::poll_fn(move |_| {
        let f = f.take().expect("gort: a blocking task was polled twice");
        Poll::Ready(f())
    });
    let id = shared.task_spawned();
    let (task, handle) = task::new_task(once, shared.clone(), Location::caller(), id);
    shared.blocking.submit(&shared, task);
    handle
}

/// Go's `entersyscall`/`exitsyscall` around `f`: runs `f` on this thread,
/// with no thread hop. If `f` takes longer than sysmon's period while other
/// tasks wait, sysmon hands this thread's P to another thread, so blocking
/// delays only this task; the task then yields at its next gort operation and
/// this thread goes idle. The fast path is two compare-and-swaps.
///
/// Outside a gort task it is a plain call of `f`.
///
/// ```
/// let n = gort::run(async {
///     gort::go(async { gort::blocking(|| std::fs::read_dir(".").map(|d| d.count())) })
///         .await
///         .unwrap()
/// });
/// assert!(n.unwrap() > 0);
/// ```
pub fn blocking<F: FnOnce() -> R, R>(f: F) -> R {
    let _syscall = machine::Syscall::enter();
    f()
}

/// Go's goroutine dump of the current runtime (the default one outside any):
/// every live task with its id, spawn location, state, and what it waits on.
///
/// ```
/// use std::time::Duration;
/// let wg = gort::sync::WaitGroup::new();
/// wg.add(1);
/// let w = wg.clone();
/// let h = gort::go(async move { w.wait().await });
/// std::thread::sleep(Duration::from_millis(50));
/// assert!(gort::runtime::dump().contains("[WaitGroup wait"));
/// wg.done();
/// h.join().unwrap();
/// ```
pub fn dump() -> String {
    dump::render(&shared_for_spawn())
}

/// Polls `f` on this thread, parking between polls. With `detect`, looks for
/// a deadlock of that runtime while waiting.
pub(crate) fn block_on_here<F: Future>(f: F, detect: Option<&Arc<Shared>>) -> F::Output {
    if in_task() {
        panic!(
            "gort: cannot block a worker thread inside a gort task \
             (block_on / run / JoinHandle::join); use .await instead"
        );
    }
    park::with_thread_waker(|waker| {
        let mut cx = Context::from_waker(waker);
        let mut f = pin!(f);
        let mut last_look = None;
        loop {
            let (polled, reason) = wait::recording(|| f.as_mut().poll(&mut cx));
            if let Poll::Ready(out) = polled {
                return out;
            }
            let Some(shared) = detect else {
                std::thread::park();
                continue;
            };
            // Woken or timed out, the future is polled again; a look counts
            // only if the next one finds the same state with nothing moved.
            std::thread::park_timeout(deadlock::CHECK_EVERY);
            let look = deadlock::looks_deadlocked(shared, reason);
            if look.is_some() && look == last_look {
                deadlock::report(shared);
            }
            last_look = look;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{Runtime, parse_maxprocs};
    use std::time::Duration;

    /// Each round blocks the one P's thread, so sysmon hands the P to
    /// another M, then waits for the surplus M to retire. The runtime must
    /// join retired Ms as it goes rather than keep every one until it drops.
    #[test]
    fn retired_ms_are_joined_while_the_runtime_lives() {
        let rt = Runtime::builder()
            .procs(1)
            .report_blocking(false)
            .retire_after(Duration::from_millis(20))
            .build()
            .unwrap();
        let mut most = 0;
        for _ in 0..12 {
            rt.block_on(async {
                let blocker = crate::go(async { std::thread::sleep(Duration::from_millis(40)) });
                // Queued work behind the blocked P is what makes sysmon hand it off.
                crate::go(async {}).await.unwrap();
                blocker.await.unwrap();
            });
            std::thread::sleep(Duration::from_millis(80));
            most = most.max(rt.shared.idle.lock().threads.len());
        }
        let started = rt.metrics().sysmon_handoffs;
        assert!(started >= 6, "too few hand-offs to tell: {started}");
        assert!(
            most <= 4,
            "{most} M threads listed after {started} hand-offs"
        );
    }

    #[test]
    fn gort_maxprocs_takes_a_positive_number_only() {
        assert_eq!(parse_maxprocs("4").unwrap(), 4);
        assert_eq!(parse_maxprocs(" 16\n").unwrap(), 16);
        for bad in ["0", "-1", "many", ""] {
            let err = parse_maxprocs(bad).unwrap_err();
            assert!(err.to_string().contains("GORT_MAXPROCS"), "{err}");
        }
    }
}
