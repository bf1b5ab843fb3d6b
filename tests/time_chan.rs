//! Timer channels: `after`, `tick`, `Timer`, `Ticker`, from threads, tasks and selects.

use std::time::{Duration, Instant};

use gort::chan::{RecvTimeoutError, TryRecvError};
use gort::time::{Ticker, Timer, after, tick};

#[cfg(target_os = "linux")]
mod design_support;

const MS: Duration = Duration::from_millis(1);

#[test]
fn after_fires_once_and_is_never_closed() {
    let start = Instant::now();
    let rx = after(10 * MS);
    let at = rx.recv_blocking().unwrap();
    assert!(at >= start + 10 * MS);
    assert_eq!(rx.recv_timeout(20 * MS), Err(RecvTimeoutError::Timeout));
    assert!(!rx.is_closed());
}

#[test]
fn after_as_a_select_timeout_in_a_task() {
    gort::run(async {
        let (_tx, rx) = gort::chan::bounded::<u8>(1);
        let start = Instant::now();
        let timed_out = gort::select! {
            recv(rx) -> _ => false,
            recv(after(20 * MS)) -> _ => true,
        };
        assert!(timed_out);
        assert!(start.elapsed() >= 20 * MS);
    });
}

#[test]
fn tick_drops_ticks_for_a_slow_reader() {
    let rx = tick(5 * MS);
    std::thread::sleep(60 * MS); // about 12 periods pass unread
    assert_eq!(rx.len(), 1, "at most one tick waits");
    rx.try_recv().unwrap();
    // Ticks are scheduled a period apart: five of them span at least three periods.
    let start = Instant::now();
    for _ in 0..5 {
        rx.recv_blocking().unwrap();
    }
    assert!(
        start.elapsed() >= 15 * MS,
        "five ticks in {:?}",
        start.elapsed()
    );
    assert_eq!(tick(Duration::ZERO).try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn timer_stop_and_reset() {
    let t = Timer::new(10 * MS);
    assert!(t.stop());
    assert!(!t.stop());
    assert_eq!(t.c().recv_timeout(30 * MS), Err(RecvTimeoutError::Timeout));
    assert!(!t.reset(5 * MS));
    assert!(t.c().recv_timeout(Duration::from_secs(5)).is_ok());
    assert!(!t.stop(), "it fired already");

    // A fired but unread value is discarded by reset: no stale value. As in
    // Go 1.23 (synchronous timer channels), the timer counts as active until
    // its value is received, so reset reports `true`.
    let t = Timer::new(MS);
    std::thread::sleep(10 * MS);
    let before_reset = Instant::now();
    assert!(t.reset(20 * MS), "its value was never received");
    let at = t.c().recv_blocking().unwrap();
    assert!(at >= before_reset + 20 * MS);
    assert!(!t.reset(Duration::from_secs(3600)), "received: not active");

    // Likewise stop: it drains the unread value and reports `true`.
    let t = Timer::new(MS);
    std::thread::sleep(10 * MS);
    assert!(t.stop(), "its value was never received");
    assert_eq!(t.c().try_recv(), Err(TryRecvError::Empty));
    assert!(!t.stop());
}

#[test]
fn ticker_stop_and_reset() {
    let ticker = Ticker::new(2 * MS);
    for _ in 0..3 {
        ticker.c().recv_timeout(Duration::from_secs(5)).unwrap();
    }
    ticker.stop();
    assert_eq!(
        ticker.c().recv_timeout(20 * MS),
        Err(RecvTimeoutError::Timeout)
    );
    ticker.reset(3 * MS);
    ticker.c().recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
#[should_panic(expected = "non-positive interval for NewTicker")]
fn ticker_rejects_zero() {
    let _ = Ticker::new(Duration::ZERO);
}

/// The tests that count pending timers hold this lock, so that their
/// thousands of timers never land in each other's counts; the few timers of
/// the other tests running meanwhile stay within [`SLACK`].
static COUNTING_TIMERS: std::sync::Mutex<()> = std::sync::Mutex::new(());
const SLACK: usize = 100;

/// Takes the counting lock; returns it with the number of timers pending now.
fn start_counting() -> (std::sync::MutexGuard<'static, ()>, usize) {
    let counting = COUNTING_TIMERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    (counting, gort::__internal::pending_timers())
}

#[test]
fn dropped_timers_leave_no_pending_entry() {
    let (_counting, before) = start_counting();
    let timers: Vec<_> = (0..1000)
        .map(|_| Timer::new(Duration::from_secs(3600)))
        .collect();
    assert!(gort::__internal::pending_timers() + SLACK >= before + 1000);
    drop(timers);
    assert!(gort::__internal::pending_timers() <= before + SLACK);
}

/// Go 1.23: an `after` channel nobody can receive from any more stops
/// costing a pending timer (before, each one stayed until its deadline).
#[test]
fn dropped_after_channels_leave_no_pending_timer() {
    let (_counting, before) = start_counting();
    let rxs: Vec<_> = (0..1000)
        .map(|_| gort::time::after(Duration::from_secs(3600)))
        .collect();
    let clones: Vec<_> = rxs.iter().map(Clone::clone).collect();
    assert!(gort::__internal::pending_timers() + SLACK >= before + 1000);
    drop(rxs);
    assert!(
        gort::__internal::pending_timers() + SLACK >= before + 1000,
        "a clone can still receive: the timers stay"
    );
    drop(clones);
    assert!(gort::__internal::pending_timers() <= before + SLACK);
}

/// The pattern the cancellation is for: a loop whose `recv(after(d))` arm
/// keeps losing to a ready channel.
#[test]
fn a_select_loop_with_a_losing_after_arm_leaves_no_timers() {
    let (_counting, before) = start_counting();
    let (tx, rx) = gort::chan::bounded(1);
    for i in 0..1000 {
        tx.try_send(i).unwrap();
        gort::select_blocking! {
            recv(rx) -> v => assert_eq!(v, Some(i)),
            recv(gort::time::after(Duration::from_secs(3600))) -> _ => panic!("an hour passed"),
        }
    }
    assert!(gort::__internal::pending_timers() <= before + SLACK);
}

/// A fast ticker nobody reads does not keep the timer thread busy: once its
/// tick sits unread, it looks again only every millisecond. Before, a 1 ns
/// ticker kept `gort-timer` on the CPU 49 of 50 clock ticks.
#[cfg(target_os = "linux")]
#[test]
fn an_unread_fast_ticker_leaves_the_timer_thread_idle() {
    after(Duration::ZERO).recv_blocking(); // the timer thread is running
    let before = design_support::thread_cpu_ticks("gort-timer").expect("the timer thread");
    let ticker = Ticker::new(Duration::from_nanos(1));
    std::thread::sleep(500 * MS);
    let busy = design_support::thread_cpu_ticks("gort-timer").expect("the timer thread") - before;
    assert!(busy <= 10, "gort-timer ran {busy} of 50 clock ticks");
    // It still ticks for a reader: a stale tick, then a fresh one.
    let stale = ticker.c().recv_blocking().unwrap();
    let fresh = ticker.c().recv_timeout(100 * MS).unwrap();
    assert!(fresh > stale);
}
