//! Fairness under saturation, where Go itself fails: while 500 ping-pong pairs
//! keep every P busy, a task woken by a timer or by a plain thread must still
//! run promptly (p99 under 10 ms). The measured percentiles are printed
//! (`cargo test --release --test fairness -- --nocapture`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gort::chan;

const PAIRS: usize = 500;
const SAMPLES: usize = 200;

fn p99(mut lat: Vec<Duration>) -> (Duration, Duration) {
    lat.sort();
    (lat[lat.len() / 2], lat[lat.len() * 99 / 100])
}

/// Starts 500 ping-pong pairs on unbuffered channels; they run until `stop`.
fn saturate(
    rt: &gort::Runtime,
    stop: &Arc<AtomicBool>,
    trips: &Arc<AtomicU64>,
) -> Vec<gort::JoinHandle<()>> {
    let mut handles = Vec::new();
    for _ in 0..PAIRS {
        let (ping_tx, ping_rx) = chan::unbuffered::<u64>();
        let (pong_tx, pong_rx) = chan::unbuffered::<u64>();
        handles.push(rt.go(async move {
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v).await.is_err() {
                    break;
                }
            }
        }));
        let (stop, trips) = (stop.clone(), trips.clone());
        handles.push(rt.go(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                ping_tx.send(n).await.unwrap();
                n = pong_rx.recv().await.unwrap() + 1;
                trips.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    handles
}

#[test]
fn timer_and_thread_wakeups_run_promptly_under_a_ping_pong_storm() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let trips = Arc::new(AtomicU64::new(0));
    let pairs = saturate(&rt, &stop, &trips);
    std::thread::sleep(Duration::from_millis(50)); // let the storm build up
    let started = (Instant::now(), trips.load(Ordering::Relaxed));

    // Woken by the timer thread.
    let timer_lat = rt
        .block_on(rt.go(async {
            let mut lat = Vec::with_capacity(SAMPLES);
            for _ in 0..SAMPLES {
                let due = Instant::now() + Duration::from_millis(1);
                gort::time::sleep_until(due).await;
                lat.push(due.elapsed());
            }
            lat
        }))
        .unwrap();

    // Woken by a plain thread sending on a channel.
    let (tx, rx) = chan::bounded::<Instant>(1);
    let receiver = rt.go(async move {
        let mut lat = Vec::with_capacity(SAMPLES);
        while let Some(sent) = rx.recv().await {
            lat.push(sent.elapsed());
        }
        lat
    });
    for _ in 0..SAMPLES {
        std::thread::sleep(Duration::from_micros(500));
        tx.send_blocking(Instant::now()).unwrap();
    }
    drop(tx);
    let thread_lat = receiver.join().unwrap();

    let storm = trips.load(Ordering::Relaxed) - started.1;
    let storm_secs = started.0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    drop(rt); // ends the echo tasks parked on their channels
    drop(pairs);

    let (t50, t99) = p99(timer_lat);
    let (w50, w99) = p99(thread_lat);
    println!(
        "storm: {:.0} round trips/s while measuring",
        storm as f64 / storm_secs
    );
    assert!(
        storm > 0,
        "the ping-pong pairs must be running while we measure"
    );
    println!("timer wake latency under {PAIRS} ping-pong pairs: p50 {t50:?}, p99 {t99:?}");
    println!("thread wake latency under {PAIRS} ping-pong pairs: p50 {w50:?}, p99 {w99:?}");
    assert!(
        t99 < Duration::from_millis(10),
        "timer-woken task p99 {t99:?}"
    );
    assert!(
        w99 < Duration::from_millis(10),
        "thread-woken task p99 {w99:?}"
    );
}
