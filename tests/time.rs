//! sleep, sleep_until and timeout: inside tasks, on plain threads, by the
//! hundred thousand.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gort::Runtime;
use gort::time::{sleep, sleep_until, timeout};

#[test]
fn sleep_waits_at_least_its_duration() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let start = Instant::now();
    rt.block_on(async { gort::go(sleep(Duration::from_millis(20))).await.unwrap() });
    assert!(start.elapsed() >= Duration::from_millis(20));
    let deadline = Instant::now() + Duration::from_millis(5);
    rt.block_on(sleep_until(deadline));
    assert!(Instant::now() >= deadline);
}

/// A minimal executor: polls on this thread, parks between polls. No gort runtime.
fn block_on_thread<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn sleep_works_on_plain_threads() {
    let start = Instant::now();
    block_on_thread(sleep(Duration::from_millis(10)));
    assert!(start.elapsed() >= Duration::from_millis(10));
}

#[test]
fn timeout_fires_or_passes_through() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(async {
        let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(60))).await;
        assert!(slow.is_err());
        assert_eq!(slow.unwrap_err().to_string(), "deadline has elapsed");
        let fast = timeout(Duration::from_secs(60), async { 3 }).await;
        assert_eq!(fast, Ok(3));
    });
}

/// Held by the tests that arm or count many timers, so counts don't mix.
static MANY_TIMERS: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

#[test]
fn dropped_sleeps_leave_no_timers_behind() {
    let _serial = MANY_TIMERS.lock();
    let rt = Runtime::builder().procs(2).build().unwrap();
    let before = gort::__internal::pending_timers();
    rt.block_on(async {
        for _ in 0..10_000 {
            let r = timeout(Duration::from_micros(1), sleep(Duration::from_secs(3600))).await;
            assert!(r.is_err());
        }
    });
    // Other tests arm a few timers of their own; ours must all be gone.
    assert!(gort::__internal::pending_timers() < before + 100);
}

#[test]
fn a_hundred_thousand_pending_sleeps_all_wake() {
    let _serial = MANY_TIMERS.lock();
    let rt = Runtime::builder().procs(2).build().unwrap();
    let woke = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..100_000u64)
        .map(|i| {
            let woke = woke.clone();
            rt.go(async move {
                sleep(Duration::from_millis(50 + i % 50)).await;
                woke.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    // While they are pending, ordinary work still runs.
    let sum: u64 = rt.block_on(async {
        let hs: Vec<_> = (0..1000u64).map(|i| gort::go(async move { i })).collect();
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    assert_eq!(sum, 499_500);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(woke.load(Ordering::Relaxed), 100_000);
}
