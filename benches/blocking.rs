//! DESIGN §9 `blocking_neighbour`: 500 ping-pong pairs (1k tasks) run while
//! one more task blocks its thread for 100 ms. Each pinger reads the clock
//! after every round trip and counts the trip if it ended inside the blocking
//! window, as Go's anchor does; one op is one round trip of any pair
//! (100 ms / trips in the window), so a lower time is more throughput.
//!
//! Rows (one run, side by side):
//! - `gort_control` / `tokio_control`: the blocker parks (`time::sleep`).
//! - `gort_plain` / `tokio_plain`: `std::thread::sleep(100 ms)` in the task.
//! - `gort_blocking`: `gort::blocking(|| thread::sleep(..))`;
//!   `tokio_block_in_place`: `tokio::task::block_in_place(|| thread::sleep(..))`.
//!
//! The ratio a neighbour keeps is control time / row time. gort's pairs use
//! unbuffered channels; tokio's use `mpsc::channel(1)`, its closest shape.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

const PAIRS: usize = 500;
const WINDOW: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, PartialEq)]
enum Block {
    Park,
    Plain,
    Declared,
}

/// The window [start, start + 100 ms) on `base`'s clock, and the trips in it.
struct Window {
    base: Instant,
    start_ns: AtomicU64,
    trips: AtomicU64,
    stop: AtomicBool,
}

impl Window {
    fn new() -> Arc<Window> {
        Arc::new(Window {
            base: Instant::now(),
            start_ns: AtomicU64::new(u64::MAX),
            trips: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        })
    }

    /// Called by a pinger after each round trip.
    fn count(&self) {
        let now = self.base.elapsed().as_nanos() as u64;
        let start = self.start_ns.load(Ordering::Relaxed);
        if now >= start && now - start < WINDOW.as_nanos() as u64 {
            self.trips.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Opens a new window now; returns the trips counted in the last one.
    fn open(&self) -> u64 {
        let trips = self.trips.swap(0, Ordering::Relaxed);
        self.start_ns
            .store(self.base.elapsed().as_nanos() as u64, Ordering::Relaxed);
        trips
    }

    fn per_trip(trips: u64) -> Duration {
        assert!(trips > 0, "no round trip ended inside the blocking window");
        WINDOW / trips as u32
    }
}

fn gort_rows(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let rt = gort::Runtime::builder()
        .procs(2)
        .report_blocking(false)
        .build()
        .unwrap();
    let window = Window::new();
    for _ in 0..PAIRS {
        let (ping_tx, ping_rx) = gort::chan::unbuffered::<u32>();
        let (pong_tx, pong_rx) = gort::chan::unbuffered::<u32>();
        drop(rt.go(async move {
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v).await.is_err() {
                    break;
                }
            }
        }));
        let w = window.clone();
        drop(rt.go(async move {
            while !w.stop.load(Ordering::Relaxed) {
                ping_tx.send(1).await.unwrap();
                pong_rx.recv().await.unwrap();
                w.count();
            }
        }));
    }
    for (name, how) in [
        ("gort_control", Block::Park),
        ("gort_plain", Block::Plain),
        ("gort_blocking", Block::Declared),
    ] {
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let w = window.clone();
                    let trips = rt
                        .block_on(rt.go(async move {
                            w.open();
                            match how {
                                Block::Park => gort::time::sleep(WINDOW).await,
                                Block::Plain => std::thread::sleep(WINDOW),
                                Block::Declared => gort::blocking(|| std::thread::sleep(WINDOW)),
                            }
                            // Let the last trips of the window be counted.
                            gort::time::sleep(Duration::from_millis(1)).await;
                            w.open()
                        }))
                        .unwrap();
                    total += Window::per_trip(trips);
                }
                total
            })
        });
    }
    window.stop.store(true, Ordering::Relaxed);
}

fn tokio_rows(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let window = Window::new();
    for _ in 0..PAIRS {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u32>(1);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u32>(1);
        rt.spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v).await.is_err() {
                    break;
                }
            }
        });
        let w = window.clone();
        rt.spawn(async move {
            while !w.stop.load(Ordering::Relaxed) {
                ping_tx.send(1).await.unwrap();
                pong_rx.recv().await.unwrap();
                w.count();
            }
        });
    }
    for (name, how) in [
        ("tokio_control", Block::Park),
        ("tokio_plain", Block::Plain),
        ("tokio_block_in_place", Block::Declared),
    ] {
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let w = window.clone();
                    let trips = rt
                        .block_on(rt.spawn(async move {
                            w.open();
                            match how {
                                Block::Park => tokio::time::sleep(WINDOW).await,
                                Block::Plain => std::thread::sleep(WINDOW),
                                Block::Declared => {
                                    tokio::task::block_in_place(|| std::thread::sleep(WINDOW))
                                }
                            }
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            w.open()
                        }))
                        .unwrap();
                    total += Window::per_trip(trips);
                }
                total
            })
        });
    }
    window.stop.store(true, Ordering::Relaxed);
}

fn blocking_neighbour(c: &mut Criterion) {
    let mut g = c.benchmark_group("blocking_neighbour");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    gort_rows(&mut g);
    tokio_rows(&mut g);
    g.finish();
}

criterion_group!(benches, blocking_neighbour);
criterion_main!(benches);
