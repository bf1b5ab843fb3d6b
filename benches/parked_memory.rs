//! DESIGN §9 `parked_memory`: bytes of RSS per task parked on a receive from
//! one shared channel that never gets a value. Each row runs in a fresh child
//! process (a heap that has already grown would hide the cost) and reports
//! the `/proc/self/statm` RSS delta divided by the task count, as Go's anchor
//! does. Run: `cargo bench --bench parked_memory`.
//!
//! Rows: gort (unbuffered channel, 1M tasks), tokio + kanal (unbuffered, 1M),
//! tokio + async-channel (capacity 1, its smallest; 1M), and std threads
//! parked on a crossbeam-channel receive (10k threads; per thread).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const TASKS: usize = 1_000_000;
const THREADS: usize = 10_000;
const CHILD: &str = "GORT_PARKED_MEMORY_ROW";

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("needs /proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Waits until `parked` reaches `n`, then a little longer for the last polls
/// to register their waiters.
fn settle(parked: &AtomicUsize, n: usize) {
    while parked.load(Ordering::SeqCst) < n {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
}

fn gort_row() -> f64 {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let (tx, rx) = gort::chan::unbuffered::<u64>();
    let parked = Arc::new(AtomicUsize::new(0));
    let before = rss_bytes();
    for _ in 0..TASKS {
        let (rx, parked) = (rx.clone(), parked.clone());
        drop(rt.go(async move {
            parked.fetch_add(1, Ordering::SeqCst);
            rx.recv().await
        }));
    }
    settle(&parked, TASKS);
    let per_task = (rss_bytes() - before) as f64 / TASKS as f64;
    assert_eq!(
        rt.num_goroutines(),
        TASKS,
        "every task must still be parked"
    );
    drop(tx);
    per_task
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn tokio_kanal_row() -> f64 {
    let rt = tokio_rt();
    let (tx, rx) = kanal::bounded_async::<u64>(0);
    let parked = Arc::new(AtomicUsize::new(0));
    let before = rss_bytes();
    for _ in 0..TASKS {
        let (rx, parked) = (rx.clone(), parked.clone());
        rt.spawn(async move {
            parked.fetch_add(1, Ordering::SeqCst);
            rx.recv().await.ok()
        });
    }
    settle(&parked, TASKS);
    let per_task = (rss_bytes() - before) as f64 / TASKS as f64;
    drop(tx);
    per_task
}

fn tokio_async_channel_row() -> f64 {
    let rt = tokio_rt();
    let (tx, rx) = async_channel::bounded::<u64>(1);
    let parked = Arc::new(AtomicUsize::new(0));
    let before = rss_bytes();
    for _ in 0..TASKS {
        let (rx, parked) = (rx.clone(), parked.clone());
        rt.spawn(async move {
            parked.fetch_add(1, Ordering::SeqCst);
            rx.recv().await.ok()
        });
    }
    settle(&parked, TASKS);
    let per_task = (rss_bytes() - before) as f64 / TASKS as f64;
    drop(tx);
    per_task
}

fn threads_row() -> f64 {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(0);
    let parked = Arc::new(AtomicUsize::new(0));
    let before = rss_bytes();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (rx, parked) = (rx.clone(), parked.clone());
            std::thread::spawn(move || {
                parked.fetch_add(1, Ordering::SeqCst);
                rx.recv().ok()
            })
        })
        .collect();
    settle(&parked, THREADS);
    let per_thread = (rss_bytes() - before) as f64 / THREADS as f64;
    drop(tx);
    for t in threads {
        t.join().unwrap();
    }
    per_thread
}

/// A row's name and the function that measures it in a child process.
type Row = (&'static str, fn() -> f64);

fn main() {
    let rows: [Row; 4] = [
        ("gort", gort_row),
        ("tokio_kanal", tokio_kanal_row),
        ("tokio_async_channel", tokio_async_channel_row),
        ("std_threads", threads_row),
    ];
    if let Ok(row) = std::env::var(CHILD) {
        let (_, f) = rows.iter().find(|(name, _)| *name == row).unwrap();
        println!("{:.0}", f());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for (name, _) in rows {
        let out = Command::new(&exe).env(CHILD, name).output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = String::from_utf8_lossy(&out.stdout).trim().to_string();
        println!("parked_memory/{name}: {bytes} bytes of RSS per parked task");
    }
}
