//! DESIGN §9 workloads for the context tree, errgroup and WaitGroup, gort side
//! by side with its peers in one run.
//!
//! - `ctx_cancel_tree`: a root and fan-out 10 to depth 4 (10k leaves), one task
//!   parked on each leaf's cancellation; timed from `cancel(root)` until every
//!   leaf task has returned. Peer: tokio-util's `CancellationToken` child
//!   tokens on tokio's multi-thread runtime.
//! - `errgroup_fanout`: 10k tasks in a group with a limit of 64, each returning
//!   `Ok` or the context's error. Peer: tokio `JoinSet` + `Semaphore`.
//! - `waitgroup_fanout`: 16 threads each call `done`, the caller waits. Peer:
//!   crossbeam-utils' `WaitGroup` (done = drop a clone).
//!
//! gort and tokio both run with 2 worker threads, the workload inside a task.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gort::context::Context;
use gort::errgroup::Group;
use gort::sync::WaitGroup;

const FAN_OUT: usize = 10;
const DEPTH: usize = 4;
const TASKS: usize = 10_000;
const LIMIT: usize = 64;

fn gort_runtime() -> gort::Runtime {
    gort::Runtime::builder().procs(2).build().unwrap()
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Waits until `count` reaches `n`, yielding to the scheduler meanwhile.
async fn gort_until(count: &AtomicUsize, n: usize) {
    while count.load(Ordering::Acquire) < n {
        gort::yield_now().await;
    }
}

async fn tokio_until(count: &AtomicUsize, n: usize) {
    while count.load(Ordering::Acquire) < n {
        tokio::task::yield_now().await;
    }
}

fn ctx_cancel_tree(c: &mut Criterion) {
    let mut group = c.benchmark_group("ctx_cancel_tree");
    group.sample_size(20);

    let rt = gort_runtime();
    group.bench_function("gort", |b| {
        b.iter_custom(|iters| {
            rt.block_on(rt.go(async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (root, cancel) = Context::background().with_cancel();
                    let mut level = vec![root];
                    let mut cancels = Vec::new();
                    for _ in 0..DEPTH {
                        let mut next = Vec::with_capacity(level.len() * FAN_OUT);
                        for parent in &level {
                            for _ in 0..FAN_OUT {
                                let (ctx, cancel) = parent.with_cancel();
                                cancels.push(cancel);
                                next.push(ctx);
                            }
                        }
                        level = next;
                    }
                    let parked = Arc::new(AtomicUsize::new(0));
                    let wg = WaitGroup::new();
                    for leaf in level {
                        let parked = parked.clone();
                        wg.go(async move {
                            let done = leaf.done();
                            parked.fetch_add(1, Ordering::Release);
                            done.recv().await;
                        });
                    }
                    gort_until(&parked, TASKS).await;
                    gort::time::sleep(Duration::from_millis(1)).await;
                    let start = Instant::now();
                    cancel.cancel();
                    wg.wait().await;
                    total += start.elapsed();
                }
                total
            }))
            .unwrap()
        })
    });

    let trt = tokio_runtime();
    group.bench_function("tokio-util", |b| {
        b.iter_custom(|iters| {
            trt.block_on(async {
                tokio::spawn(async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let root = tokio_util::sync::CancellationToken::new();
                        let mut level = vec![root.clone()];
                        for _ in 0..DEPTH {
                            level = level
                                .iter()
                                .flat_map(|p| (0..FAN_OUT).map(|_| p.child_token()))
                                .collect();
                        }
                        let parked = Arc::new(AtomicUsize::new(0));
                        let mut set = tokio::task::JoinSet::new();
                        for leaf in level {
                            let parked = parked.clone();
                            set.spawn(async move {
                                let cancelled = leaf.cancelled_owned();
                                parked.fetch_add(1, Ordering::Release);
                                cancelled.await;
                            });
                        }
                        tokio_until(&parked, TASKS).await;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        let start = Instant::now();
                        root.cancel();
                        while set.join_next().await.is_some() {}
                        total += start.elapsed();
                    }
                    total
                })
                .await
                .unwrap()
            })
        })
    });
    group.finish();
}

fn errgroup_fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("errgroup_fanout");
    group.sample_size(20);
    group.throughput(criterion::Throughput::Elements(TASKS as u64));

    let rt = gort_runtime();
    group.bench_function("gort", |b| {
        b.iter(|| {
            rt.block_on(rt.go(async {
                let (g, ctx) = Group::with_context(&Context::background());
                g.set_limit(Some(LIMIT));
                for _ in 0..TASKS {
                    let ctx = ctx.clone();
                    g.go(async move { ctx.err().map_or(Ok(()), Err) }).await;
                }
                g.wait().await
            }))
            .unwrap()
            .unwrap()
        })
    });

    let trt = tokio_runtime();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            trt.block_on(async {
                tokio::spawn(async {
                    let token = tokio_util::sync::CancellationToken::new();
                    let slots = Arc::new(tokio::sync::Semaphore::new(LIMIT));
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..TASKS {
                        let permit = slots.clone().acquire_owned().await.unwrap();
                        let token = token.clone();
                        set.spawn(async move {
                            let _permit = permit;
                            if token.is_cancelled() {
                                Err("cancelled")
                            } else {
                                Ok(())
                            }
                        });
                    }
                    let mut first = Ok(());
                    while let Some(res) = set.join_next().await {
                        if let Err(e) = res.unwrap()
                            && first.is_ok()
                        {
                            first = Err(e);
                            token.cancel();
                        }
                    }
                    first
                })
                .await
                .unwrap()
                .unwrap()
            })
        })
    });
    group.finish();
}

fn waitgroup_fanout(c: &mut Criterion) {
    const THREADS: usize = 16;
    let mut group = c.benchmark_group("waitgroup_fanout");

    group.bench_function("gort", |b| {
        b.iter(|| {
            let wg = WaitGroup::new();
            wg.add(THREADS as isize);
            for _ in 0..THREADS {
                let wg = wg.clone();
                std::thread::spawn(move || wg.done());
            }
            wg.wait_blocking();
        })
    });

    group.bench_function("crossbeam", |b| {
        b.iter(|| {
            let wg = crossbeam_utils::sync::WaitGroup::new();
            for _ in 0..THREADS {
                let wg = wg.clone();
                std::thread::spawn(move || drop(wg));
            }
            wg.wait();
        })
    });

    let rt = gort_runtime();
    group.bench_function("gort_tasks_10k", |b| {
        b.iter(|| {
            rt.block_on(rt.go(async {
                let wg = WaitGroup::new();
                for _ in 0..TASKS {
                    wg.go(async {});
                }
                wg.wait().await;
            }))
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, ctx_cancel_tree, errgroup_fanout, waitgroup_fanout);
criterion_main!(benches);
