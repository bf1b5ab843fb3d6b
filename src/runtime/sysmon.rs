//! sysmon: the monitor thread that keeps a blocked M from starving its P's
//! tasks (Go's `sysmon` and `retake`).
//!
//! # What it guarantees
//! - A task inside [`gort::blocking`](crate::blocking) for longer than one
//!   sysmon period (20 µs while busy, backing off to 10 ms when nothing
//!   happens) while work waits loses its P: sysmon retires the P and starts a
//!   spare P on another M, so the neighbours keep running on `procs` threads.
//! - A poll that runs 10 ms without returning (a `std::fs` call, a
//!   `thread::sleep`, a std `Mutex`, a CPU loop nobody wrapped) is handled the
//!   same way, and its task's spawn location is reported once on stderr
//!   (`Builder::report_blocking(false)` turns that off).
//!
//! # Protocol
//! sysmon reads each P's `tick` (bumped by every schedule). A P whose tick has
//! not moved since the last look, whose status is still `P_SYSCALL` (one
//! period) or `P_RUNNING` (10 ms), and that has work waiting (its own queue or
//! the global queue) is *retaken*: a CAS of its status to `P_RETIRED`, then a
//! spare slot becomes a running P on another M. The CAS races only with the
//! blocked M's own `blocking` exit (CAS `P_SYSCALL` → `P_RUNNING`), so exactly
//! one of them wins.
//!
//! The blocked M keeps owning the retired P's ring (nobody else pushes to it
//! as owner; thieves still steal from it) until its poll returns; it then
//! moves what is left to the global queue, returns the slot to the spares and
//! looks for an idle P or parks. Ownership of a ring therefore never changes
//! hands while its owner might still push to it. A `blocking` call that lost
//! its P also exhausts the task's cooperative budget, so the task yields at
//! its next gort operation instead of running on without a P.
//!
//! # What async-std's 2019 adaptive runtime ran into, and the answers here
//! - *Threads multiply under CPU-bound load*: only `max_blocked` spare Ps
//!   exist (default 64), so at most that many Ms run beyond `procs`; idle
//!   surplus Ms exit after 10 s. A CPU loop that never yields is retaken once,
//!   then its P is a spare until it yields, not a new thread per period.
//! - *Stutter under bursts*: a P is retaken only when work waits behind it and
//!   its tick did not move for a whole threshold; short polls are never
//!   touched, and a burst of ready tasks is first spread by stealing.
//! - *Thresholds*: 20 µs for declared blocking (Go's syscall threshold) and
//!   10 ms for undeclared blocking (Go's preemption slice); sysmon's period
//!   starts at 20 µs and doubles after 50 quiet rounds up to 10 ms, so an idle
//!   or healthy runtime pays about 100 wakeups a second.

use std::collections::HashSet;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::deadlock::GortThread;
use super::scheduler::{P_RUNNING, P_SYSCALL, Shared};

const MIN_PERIOD: Duration = Duration::from_micros(20);
const MAX_PERIOD: Duration = Duration::from_millis(10);
/// A poll running this long without returning, while work waits, is blocking.
const STUCK_POLL: Duration = Duration::from_millis(10);
/// Quiet rounds before the period starts doubling.
const QUIET_ROUNDS: u32 = 50;

/// What sysmon last saw of one P.
#[derive(Clone, Copy)]
struct Seen {
    tick: u32,
    since: Instant,
}

/// Starts the monitor thread of a runtime.
pub(crate) fn start(shared: &Arc<Shared>) -> std::thread::JoinHandle<()> {
    let shared = shared.clone();
    std::thread::Builder::new()
        .name(format!("{}-sysmon", shared.config.thread_name))
        .spawn(move || {
            let _counted = GortThread::enter();
            Sysmon::new().run(&shared)
        })
        .expect("gort: failed to start sysmon")
}

struct Sysmon {
    seen: Vec<Seen>,
    reported: HashSet<&'static Location<'static>>,
    period: Duration,
    quiet: u32,
}

impl Sysmon {
    fn new() -> Sysmon {
        Sysmon {
            seen: Vec::new(),
            reported: HashSet::new(),
            period: MIN_PERIOD,
            quiet: 0,
        }
    }

    fn run(mut self, shared: &Arc<Shared>) {
        let mut last_trace = Instant::now();
        while shared.sysmon_sleep(self.period) {
            shared.tick_coarse_clock();
            if self.retake_blocked(shared) {
                self.period = MIN_PERIOD;
                self.quiet = 0;
            } else if self.quiet < QUIET_ROUNDS {
                self.quiet += 1;
            } else {
                self.period = (self.period * 2).min(MAX_PERIOD);
            }
            if let Some(every) = shared.config.schedtrace
                && last_trace.elapsed() >= every
            {
                last_trace = Instant::now();
                eprintln!("{}", shared.schedtrace_line());
            }
        }
    }

    /// One round over the Ps; true if any was retaken.
    fn retake_blocked(&mut self, shared: &Arc<Shared>) -> bool {
        let now = Instant::now();
        let slots = shared.slots();
        if self.seen.len() < slots.len() {
            self.seen.resize(
                slots.len(),
                Seen {
                    tick: 0,
                    since: now,
                },
            );
        }
        let mut retook = false;
        for (p, pp) in slots.iter().enumerate() {
            let tick = pp.tick.load(Ordering::Relaxed);
            let seen = &mut self.seen[p];
            if seen.tick != tick {
                *seen = Seen { tick, since: now };
                continue;
            }
            let status = pp.status.load(Ordering::Acquire);
            let held = now - seen.since;
            // A P whose M is between polls (stealing, waiting for a lock of
            // the scheduler's own) is not blocked by a task.
            let in_poll = !pp.running_at.load(Ordering::Relaxed).is_null();
            let blocked = match status {
                P_SYSCALL => true,
                P_RUNNING => in_poll && held >= STUCK_POLL,
                _ => false,
            };
            if !blocked || !(pp.has_work() || shared.has_global_work()) {
                continue;
            }
            if shared.retake(p, status) {
                retook = true;
                if status == P_RUNNING {
                    self.report(shared, pp.running_at.load(Ordering::Relaxed), held);
                }
            }
        }
        retook
    }

    /// Reports, once per spawn location, a task that blocked without saying so.
    fn report(&mut self, shared: &Shared, at: *mut Location<'static>, held: Duration) {
        if !shared.config.report_blocking {
            return;
        }
        // SAFETY: running_at holds null or a `&'static Location` stored by the M.
        let Some(at) = (unsafe { at.as_ref() }) else {
            return;
        };
        if self.reported.insert(at) {
            eprintln!(
                "gort: a task spawned at {at} blocked its thread for {} ms without yielding; \
                 sysmon handed its P to another thread. Wrap blocking calls in \
                 gort::blocking or gort::spawn_blocking.",
                held.as_millis()
            );
        }
    }
}
