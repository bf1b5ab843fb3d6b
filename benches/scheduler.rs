//! DESIGN §9 scheduler workloads, gort side by side with tokio's multi-thread
//! runtime and std threads in one run:
//!
//! - `spawn_join`: spawn 100k tasks that return at once, await them all
//!   (threads: 1k threads spawned and joined; compare per element).
//! - `yield_many`: each of 1k tasks yields 1k times.
//! - `chained_spawn`: a task spawns the next, 10k deep; the last one signals
//!   (threads: 1k deep).
//!
//! gort and tokio run with `BENCH_PROCS` worker threads (default 2), the
//! workload inside a task on those workers. Throughput is in elements (tasks,
//! yields, links) so rows of different sizes compare per element.

use std::sync::mpsc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SPAWN_TASKS: u64 = 100_000;
const SPAWN_THREADS: u64 = 1_000;
const YIELD_TASKS: u64 = 1_000;
const YIELDS: u64 = 1_000;
const CHAIN: u64 = 10_000;
const CHAIN_THREADS: u64 = 1_000;

fn procs() -> usize {
    std::env::var("BENCH_PROCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn gort_rt() -> gort::Runtime {
    gort::Runtime::builder().procs(procs()).build().unwrap()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(procs())
        .build()
        .unwrap()
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    g.sample_size(20);
    g.throughput(Throughput::Elements(SPAWN_TASKS));
    let rt = gort_rt();
    g.bench_function("gort", |b| {
        b.iter(|| {
            let sum = rt.block_on(rt.go(async {
                let handles: Vec<_> = (0..SPAWN_TASKS)
                    .map(|i| gort::go(async move { i }))
                    .collect();
                let mut sum = 0;
                for h in handles {
                    sum += h.await.unwrap();
                }
                sum
            }));
            assert_eq!(sum.unwrap(), SPAWN_TASKS * (SPAWN_TASKS - 1) / 2);
        })
    });
    let trt = tokio_rt();
    g.bench_function("tokio", |b| {
        b.iter(|| {
            let sum = trt.block_on(trt.spawn(async {
                let handles: Vec<_> = (0..SPAWN_TASKS)
                    .map(|i| tokio::spawn(async move { i }))
                    .collect();
                let mut sum = 0;
                for h in handles {
                    sum += h.await.unwrap();
                }
                sum
            }));
            assert_eq!(sum.unwrap(), SPAWN_TASKS * (SPAWN_TASKS - 1) / 2);
        })
    });
    g.throughput(Throughput::Elements(SPAWN_THREADS));
    g.bench_function("std_threads", |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..SPAWN_THREADS)
                .map(|i| std::thread::spawn(move || i))
                .collect();
            let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(sum, SPAWN_THREADS * (SPAWN_THREADS - 1) / 2);
        })
    });
    g.finish();
}

fn yield_many(c: &mut Criterion) {
    let mut g = c.benchmark_group("yield_many");
    g.sample_size(10);
    g.throughput(Throughput::Elements(YIELD_TASKS * YIELDS));
    let rt = gort_rt();
    g.bench_function("gort", |b| {
        b.iter(|| {
            rt.block_on(rt.go(async {
                let handles: Vec<_> = (0..YIELD_TASKS)
                    .map(|_| {
                        gort::go(async {
                            for _ in 0..YIELDS {
                                gort::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
            }))
            .unwrap()
        })
    });
    let trt = tokio_rt();
    g.bench_function("tokio", |b| {
        b.iter(|| {
            trt.block_on(trt.spawn(async {
                let handles: Vec<_> = (0..YIELD_TASKS)
                    .map(|_| {
                        tokio::spawn(async {
                            for _ in 0..YIELDS {
                                tokio::task::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
            }))
            .unwrap()
        })
    });
    g.finish();
}

fn gort_link(n: u64, done: mpsc::SyncSender<u64>) {
    if n == 0 {
        done.send(CHAIN).unwrap();
    } else {
        drop(gort::go(async move { gort_link(n - 1, done) }));
    }
}

fn tokio_link(n: u64, done: mpsc::SyncSender<u64>) {
    if n == 0 {
        done.send(CHAIN).unwrap();
    } else {
        drop(tokio::spawn(async move { tokio_link(n - 1, done) }));
    }
}

fn thread_link(n: u64, done: mpsc::SyncSender<u64>) {
    if n == 0 {
        done.send(CHAIN_THREADS).unwrap();
    } else {
        drop(std::thread::spawn(move || thread_link(n - 1, done)));
    }
}

fn chained_spawn(c: &mut Criterion) {
    let mut g = c.benchmark_group("chained_spawn");
    g.sample_size(20);
    g.throughput(Throughput::Elements(CHAIN));
    let rt = gort_rt();
    g.bench_function("gort", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::sync_channel(1);
            drop(rt.go(async move { gort_link(CHAIN, tx) }));
            assert_eq!(rx.recv().unwrap(), CHAIN);
        })
    });
    let trt = tokio_rt();
    g.bench_function("tokio", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::sync_channel(1);
            drop(trt.spawn(async move { tokio_link(CHAIN, tx) }));
            assert_eq!(rx.recv().unwrap(), CHAIN);
        })
    });
    g.throughput(Throughput::Elements(CHAIN_THREADS));
    g.sample_size(10);
    g.bench_function("std_threads", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::sync_channel(1);
            thread_link(CHAIN_THREADS, tx);
            assert_eq!(rx.recv().unwrap(), CHAIN_THREADS);
        })
    });
    g.finish();
}

criterion_group!(benches, spawn_join, yield_many, chained_spawn);
criterion_main!(benches);
