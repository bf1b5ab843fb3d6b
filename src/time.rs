//! Time: [`sleep`], [`sleep_until`], [`timeout`], and the timer channels
//! [`after`], [`tick`], [`Timer`] and [`Ticker`].
//!
//! Every future here is driven by the process-wide timer thread
//! (`runtime::timer`), so it works the same inside a gort task, inside another
//! executor and on a plain thread.
//!
//! # Timer channels
//! A timer channel is a `bounded(1)` channel of `Instant`s that, like Go's, is
//! never closed. The timer thread delivers with `try_send`: when the buffer
//! already holds a value (a slow reader) the new tick is dropped, so a reader
//! never sees a backlog (Go's `time.Tick` behaviour). Each pending delivery is
//! one entry of the timer map, holding the channel's sender; [`Timer::stop`]
//! and [`Ticker::stop`] remove it. A generation number, checked under the
//! timer's lock by the delivery callback, makes `stop`/`reset` final: after
//! they return no stale value arrives (Go 1.23 semantics), and the value
//! buffered before is discarded; as in Go 1.23, a timer whose value was not
//! received still counts as active, so `stop`/`reset` return `true` for it.
//!
//! ```
//! use std::time::Duration;
//! gort::run(async {
//!     gort::time::sleep(Duration::from_millis(1)).await;
//!     let r = gort::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
//!     assert!(r.is_err());
//! });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::chan::{self, Receiver, Sender, TrySendError};
use crate::runtime::timer::{self, TimerKey};
use crate::runtime::wait::{WaitReason, parked_on};

/// Waits until `d` has passed. Go's `time.Sleep`.
pub fn sleep(d: Duration) -> Sleep {
    sleep_until(Instant::now().checked_add(d).unwrap_or_else(far_future))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        armed: None,
    }
}

/// An instant about thirty years away: what "never" means for a deadline.
pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

/// The future returned by [`sleep`] and [`sleep_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The timer that wakes the waker we were last polled with.
    armed: Option<(TimerKey, Waker)>,
}

impl Sleep {
    /// The instant this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    fn disarm(&mut self) {
        if let Some((key, _)) = self.armed.take() {
            key.cancel();
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            this.disarm();
            return Poll::Ready(());
        }
        let rearm = match &this.armed {
            Some((_, waker)) => !waker.will_wake(cx.waker()),
            None => true,
        };
        if rearm {
            this.disarm();
            let waker = cx.waker().clone();
            let fire = waker.clone();
            let key = timer::call_at(this.deadline, move || fire.wake());
            this.armed = Some((key, waker));
        }
        parked_on(WaitReason::Sleep);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// The error of [`timeout`]: the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline has elapsed")]
pub struct Elapsed(());

/// Runs `fut` for at most `d`; `Err(Elapsed)` if it did not finish in time
/// (the future is then dropped).
pub async fn timeout<F: Future>(d: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = sleep(d);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        Pin::new(&mut sleep).poll(cx).map(|()| Err(Elapsed(())))
    })
    .await
}

/// A channel that receives the current time once, after `d`. Go's `time.After`.
///
/// As in Go 1.23, dropping every receiver before `d` passes cancels the timer,
/// so a `select!` loop whose `recv(after(d))` arm keeps losing leaves no
/// pending timers behind.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let fired = gort::time::after(Duration::from_millis(5)).recv_blocking().unwrap();
/// assert!(fired >= start + Duration::from_millis(5));
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = chan::unclosable(1);
    let deadline = Instant::now().checked_add(d).unwrap_or_else(far_future);
    // The callback owns the sender. Dropping the last receiver cancels the
    // timer (Go 1.23), so `select!` loops with `recv(after(d))` arms leave
    // nothing pending behind; if the timer fires first, the value goes to
    // the buffer, or is dropped with the failed send.
    let timer = timer::call_at(deadline, move || {
        let _ = tx.try_send(Instant::now());
    });
    rx.cancel_timer_when_dropped(timer);
    rx
}

/// A channel that receives the time every `d`, dropping ticks a slow reader
/// has not taken. Go's `time.Tick`: it runs until every receiver is gone; a
/// zero `d` gives a channel that never ticks (Go returns nil).
pub fn tick(d: Duration) -> Receiver<Instant> {
    if d.is_zero() {
        return chan::never();
    }
    let (schedule, rx) = Schedule::start(d, Some(d));
    drop(schedule); // runs on until its receivers are gone
    rx
}

/// The shared state of a [`Timer`] or [`Ticker`]: what is armed, and for which generation.
struct Schedule {
    tx: Sender<Instant>,
    armed: Mutex<Armed>,
}

struct Armed {
    /// The pending delivery, if any.
    key: Option<TimerKey>,
    /// Bumped by every stop/reset: an older delivery callback does nothing.
    generation: u64,
    /// When the next delivery is due.
    next: Instant,
    /// `Some`: a ticker's period.
    period: Option<Duration>,
}

/// How soon a ticker whose last tick is still unread looks again (see
/// `Schedule::deliver`). A reader that then takes the stale tick gets the
/// next one at most this much later than its period would say.
const UNREAD_RECHECK: Duration = Duration::from_millis(1);

impl Schedule {
    fn start(first: Duration, period: Option<Duration>) -> (Arc<Schedule>, Receiver<Instant>) {
        let (tx, rx) = chan::unclosable(1);
        let schedule = Arc::new(Schedule {
            tx,
            armed: Mutex::new(Armed {
                key: None,
                generation: 0,
                next: Instant::now().checked_add(first).unwrap_or_else(far_future),
                period,
            }),
        });
        schedule.arm(&mut schedule.armed.lock());
        (schedule, rx)
    }

    fn arm(self: &Arc<Self>, armed: &mut Armed) {
        let generation = armed.generation;
        let schedule = Arc::clone(self);
        armed.key = Some(timer::call_at(armed.next, move || {
            schedule.deliver(generation)
        }));
    }

    /// Runs on the timer thread.
    fn deliver(self: &Arc<Self>, generation: u64) {
        let mut armed = self.armed.lock();
        if armed.generation != generation {
            return; // stopped or reset since this delivery was armed
        }
        armed.key = None;
        let now = Instant::now();
        let unread = match self.tx.try_send(now) {
            Ok(()) => false,
            Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Closed(_)) => return, // every receiver is gone: stop ticking
        };
        if let Some(period) = armed.period {
            // Ticks missed while the timer thread was late are skipped.
            armed.next += period;
            if armed.next <= now {
                armed.next = now + period;
            }
            if unread {
                // Nobody took the last tick, so the next cannot be delivered
                // either: look again no sooner than `UNREAD_RECHECK`, or a
                // fast ticker nobody reads keeps the timer thread busy.
                armed.next = armed.next.max(now + UNREAD_RECHECK);
            }
            self.arm(&mut armed);
        }
    }

    /// Disarms; `true` if a delivery was pending or its value was not yet
    /// received (Go 1.23: a timer channel is synchronous, so a value nobody
    /// received was never delivered; stop drains it and counts it).
    fn stop(&self, rx: &Receiver<Instant>) -> bool {
        let mut armed = self.armed.lock();
        armed.generation += 1;
        let pending = armed.key.take().map(TimerKey::cancel).is_some();
        let unreceived = rx.try_recv().is_ok(); // no stale value after stop
        pending || unreceived
    }

    fn reset(
        self: &Arc<Self>,
        rx: &Receiver<Instant>,
        d: Duration,
        period: Option<Duration>,
    ) -> bool {
        let mut armed = self.armed.lock();
        armed.generation += 1;
        let pending = armed.key.take().map(TimerKey::cancel).is_some();
        let unreceived = rx.try_recv().is_ok();
        armed.next = Instant::now().checked_add(d).unwrap_or_else(far_future);
        armed.period = period;
        self.arm(&mut armed);
        pending || unreceived
    }
}

/// A single event in the future: Go's `time.Timer`. The time is sent on
/// [`c`](Timer::c) when it fires. Dropping the timer stops it.
///
/// ```
/// use std::time::Duration;
/// use gort::time::Timer;
/// let t = Timer::new(Duration::from_secs(3600));
/// assert!(t.stop(), "it had not fired");
/// assert!(!t.reset(Duration::from_millis(1)), "it was stopped");
/// assert!(t.c().recv_blocking().is_some());
/// ```
pub struct Timer {
    schedule: Arc<Schedule>,
    rx: Receiver<Instant>,
}

impl Timer {
    /// A timer that fires once, after `d`.
    pub fn new(d: Duration) -> Timer {
        let (schedule, rx) = Schedule::start(d, None);
        Timer { schedule, rx }
    }

    /// The channel the time is sent on: use it in `select!` or receive from it.
    pub fn c(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Stops the timer; `true` if it was active: it had not fired, or its
    /// value was not received yet (Go 1.23's synchronous timer channels; the
    /// value is discarded). Afterwards nothing is received from
    /// [`c`](Timer::c) until a [`reset`](Timer::reset).
    pub fn stop(&self) -> bool {
        self.schedule.stop(&self.rx)
    }

    /// Makes the timer fire after `d` from now; `true` if it had been active
    /// (as for [`stop`](Timer::stop)). A value not yet received from the
    /// previous firing is discarded.
    pub fn reset(&self, d: Duration) -> bool {
        self.schedule.reset(&self.rx, d, None)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.schedule.stop(&self.rx);
    }
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer").finish_non_exhaustive()
    }
}

/// Ticks at a fixed period: Go's `time.Ticker`. A slow reader misses ticks
/// rather than receiving a backlog. Dropping the ticker stops it.
///
/// ```
/// use std::time::Duration;
/// let ticker = gort::time::Ticker::new(Duration::from_millis(1));
/// for _ in 0..3 {
///     ticker.c().recv_blocking().unwrap();
/// }
/// ticker.stop();
/// ```
pub struct Ticker {
    schedule: Arc<Schedule>,
    rx: Receiver<Instant>,
}

impl Ticker {
    /// A ticker with period `d`.
    ///
    /// # Panics
    /// If `d` is zero (Go: "non-positive interval for NewTicker").
    pub fn new(d: Duration) -> Ticker {
        assert!(!d.is_zero(), "non-positive interval for NewTicker");
        let (schedule, rx) = Schedule::start(d, Some(d));
        Ticker { schedule, rx }
    }

    /// The channel the ticks are sent on.
    pub fn c(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Stops the ticker: no tick is received afterwards (until a reset).
    pub fn stop(&self) {
        self.schedule.stop(&self.rx);
    }

    /// Stops the ticker and restarts it with period `d`.
    ///
    /// # Panics
    /// If `d` is zero (Go: "non-positive interval for Ticker.Reset").
    pub fn reset(&self, d: Duration) {
        assert!(!d.is_zero(), "non-positive interval for Ticker.Reset");
        self.schedule.reset(&self.rx, d, Some(d));
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.schedule.stop(&self.rx);
    }
}

impl std::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticker").finish_non_exhaustive()
    }
}
