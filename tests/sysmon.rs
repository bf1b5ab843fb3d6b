//! sysmon: a task blocked in `gort::blocking` or in a poll that never yields
//! delays only itself; its P is handed to another thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use gort::{Runtime, chan};

/// On one P: a blocker starts first, then a neighbour is spawned. The
/// neighbour must finish while the blocker is still blocked.
fn neighbour_runs_while_blocked(block: fn(Duration)) -> gort::Metrics {
    let rt = Runtime::builder()
        .procs(1)
        .report_blocking(false)
        .build()
        .unwrap();
    let blocked_done = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = chan::bounded::<()>(1);
    let done = blocked_done.clone();
    let blocker = rt.go(async move {
        started_tx.send(()).await.unwrap();
        block(Duration::from_millis(500));
        done.store(true, Ordering::SeqCst);
    });
    started_rx.recv_blocking().unwrap();
    let done = blocked_done.clone();
    let neighbour = rt.go(async move { done.load(Ordering::SeqCst) });
    let blocker_had_finished = neighbour.join().unwrap();
    assert!(
        !blocker_had_finished,
        "the neighbour waited for the blocked task to finish"
    );
    blocker.join().unwrap();
    rt.metrics()
}

#[test]
fn a_declared_blocking_call_hands_its_p_off() {
    let m = neighbour_runs_while_blocked(|d| gort::blocking(|| std::thread::sleep(d)));
    assert!(m.sysmon_handoffs >= 1, "{m:?}");
}

#[test]
fn an_undeclared_blocking_poll_hands_its_p_off() {
    let m = neighbour_runs_while_blocked(std::thread::sleep);
    assert!(m.sysmon_handoffs >= 1, "{m:?}");
}

#[test]
fn a_cpu_loop_that_never_yields_hands_its_p_off() {
    neighbour_runs_while_blocked(|d| {
        let end = std::time::Instant::now() + d;
        while std::time::Instant::now() < end {
            std::hint::spin_loop();
        }
    });
}

#[test]
fn blocking_is_a_plain_call_outside_tasks_and_nests() {
    assert_eq!(gort::blocking(|| gort::blocking(|| 3)), 3);
    let rt = Runtime::builder().procs(2).build().unwrap();
    let v = rt.block_on(rt.go(async { gort::blocking(|| gort::blocking(|| 4)) }));
    assert_eq!(v.unwrap(), 4);
}

#[test]
fn a_thousand_ping_pong_tasks_keep_going_beside_a_blocker() {
    let rt = Runtime::builder()
        .procs(2)
        .report_blocking(false)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let trips = Arc::new(AtomicU64::new(0));
    let mut pairs = Vec::new();
    for _ in 0..500 {
        let (ping_tx, ping_rx) = chan::unbuffered::<u32>();
        let (pong_tx, pong_rx) = chan::unbuffered::<u32>();
        pairs.push(rt.go(async move {
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v).await.is_err() {
                    break;
                }
            }
        }));
        let (stop, trips) = (stop.clone(), trips.clone());
        pairs.push(rt.go(async move {
            while !stop.load(Ordering::Relaxed) {
                ping_tx.send(1).await.unwrap();
                pong_rx.recv().await.unwrap();
                trips.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for declared in [false, true] {
        let t = trips.clone();
        let during = rt
            .block_on(rt.go(async move {
                let before = t.load(Ordering::Relaxed);
                let sleep = || std::thread::sleep(Duration::from_millis(100));
                if declared {
                    gort::blocking(sleep);
                } else {
                    sleep();
                }
                t.load(Ordering::Relaxed) - before
            }))
            .unwrap();
        assert!(
            during > 1000,
            "declared={declared}: only {during} round trips while one task blocked"
        );
    }
    stop.store(true, Ordering::Relaxed);
    drop(rt);
}
