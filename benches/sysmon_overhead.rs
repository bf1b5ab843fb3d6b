//! What sysmon costs: `spawn_join`, `ping_pong` and `chan_mpmc` (DESIGN §9
//! sizes) on gort with sysmon running and without it, side by side in one
//! run. The bar: no more than 3% lost.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gort::chan;

fn runtime(sysmon: bool) -> gort::Runtime {
    let b = gort::Runtime::builder().procs(2);
    if sysmon { b } else { b.without_sysmon() }.build().unwrap()
}

async fn spawn_join() {
    let handles: Vec<_> = (0..100_000u64)
        .map(|i| gort::go(async move { i }))
        .collect();
    let mut sum = 0;
    for h in handles {
        sum += h.await.unwrap();
    }
    assert_eq!(sum, 100_000 * 99_999 / 2);
}

async fn ping_pong() {
    let (ping_tx, ping_rx) = chan::unbuffered::<u32>();
    let (pong_tx, pong_rx) = chan::unbuffered::<u32>();
    let echo = gort::go(async move {
        while let Some(v) = ping_rx.recv().await {
            pong_tx.send(v).await.unwrap();
        }
    });
    for i in 0..100_000 {
        ping_tx.send(i).await.unwrap();
        assert_eq!(pong_rx.recv().await, Some(i));
    }
    drop(ping_tx);
    echo.await.unwrap();
}

async fn chan_mpmc() {
    let (tx, rx) = chan::bounded::<u64>(128);
    let senders: Vec<_> = (0..4u64)
        .map(|s| {
            let tx = tx.clone();
            gort::go(async move {
                let mut i = s;
                while i < 1_000_000 {
                    tx.send(i).await.unwrap();
                    i += 4;
                }
            })
        })
        .collect();
    drop(tx);
    let receivers: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            gort::go(async move {
                let mut sum = 0u64;
                while let Some(v) = rx.recv().await {
                    sum += v;
                }
                sum
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    let mut sum = 0;
    for r in receivers {
        sum += r.await.unwrap();
    }
    assert_eq!(sum, 1_000_000 * 999_999 / 2);
}

fn sysmon_overhead(c: &mut Criterion) {
    let on = runtime(true);
    let off = runtime(false);
    for (name, n) in [
        ("spawn_join", 100_000),
        ("ping_pong", 100_000),
        ("chan_mpmc", 1_000_000),
    ] {
        let mut g = c.benchmark_group(format!("sysmon_overhead/{name}"));
        g.sample_size(20);
        g.throughput(Throughput::Elements(n));
        for (label, rt) in [("with_sysmon", &on), ("without_sysmon", &off)] {
            g.bench_function(label, |b| {
                b.iter(|| {
                    rt.block_on(rt.go(async move {
                        match name {
                            "spawn_join" => spawn_join().await,
                            "ping_pong" => ping_pong().await,
                            _ => chan_mpmc().await,
                        }
                    }))
                    .unwrap()
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, sysmon_overhead);
criterion_main!(benches);
