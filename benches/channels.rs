//! DESIGN §9 channel workloads, gort side by side with its peers in one run,
//! one criterion group per workload:
//!
//! - `ping_pong`: two tasks, two unbuffered channels, 100k round trips.
//! - `chan_spsc` / `chan_mpmc`: bounded(128), 1M messages, 1→1 and 4→4.
//! - `chan_unbuffered_mpmc`: unbuffered, 100k messages, 4→4.
//! - `select_two`: one task selects over two cap-128 channels fed by two
//!   producers, 500k values each.
//!
//! Rows: `gort` (gort's channels on a gort runtime, the workload inside a
//! task), `tokio+X` (channel X on tokio's multi-thread runtime: gort, kanal,
//! flume, async-channel, tokio's mpsc where it fits), `threads+X` (OS threads:
//! crossbeam-channel, std's mpsc, flume, gort's blocking API). Runtimes use
//! `BENCH_PROCS` workers (default 2). Throughput is in messages (round trips
//! for `ping_pong`), so time per element is ns/op. Unbuffered peers without a
//! rendezvous flavor (async-channel, tokio mpsc) use capacity 1. Every row
//! checks that every value arrived (the sum of the values).

use std::future::Future;
use std::pin::Pin;

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};

const ROUND_TRIPS: u64 = 100_000;
const MESSAGES: u64 = 1_000_000;
const UNBUFFERED_MESSAGES: u64 = 100_000;
const PER_SELECT_PRODUCER: u64 = 500_000;
const CAP: usize = 128;

fn procs() -> usize {
    std::env::var("BENCH_PROCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn sum_below(n: u64) -> u64 {
    n * (n - 1) / 2
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A runtime the async rows run on.
trait Exec {
    fn spawn<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static)
    -> BoxFuture<T>;
    fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> T;
}

struct Gort(gort::Runtime);
struct Tokio(tokio::runtime::Runtime);

impl Exec for Gort {
    fn spawn<T: Send + 'static>(
        &self,
        f: impl Future<Output = T> + Send + 'static,
    ) -> BoxFuture<T> {
        let h = self.0.go(f);
        Box::pin(async move { h.await.unwrap() })
    }
    fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> T {
        self.0.block_on(self.0.go(f)).unwrap()
    }
}

impl Exec for Tokio {
    fn spawn<T: Send + 'static>(
        &self,
        f: impl Future<Output = T> + Send + 'static,
    ) -> BoxFuture<T> {
        let h = self.0.spawn(f);
        Box::pin(async move { h.await.unwrap() })
    }
    fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> T {
        self.0.block_on(self.0.spawn(f)).unwrap()
    }
}

fn gort_rt() -> Gort {
    Gort(gort::Runtime::builder().procs(procs()).build().unwrap())
}

fn tokio_rt() -> Tokio {
    Tokio(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(procs())
            .build()
            .unwrap(),
    )
}

/// An async MPMC channel of `u64`.
trait AsyncChan: 'static {
    type Tx: Clone + Send + Sync + 'static;
    type Rx: Clone + Send + Sync + 'static;
    /// `cap == 0`: unbuffered (or the peer's smallest capacity).
    fn make(cap: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = ()> + Send;
    fn recv(rx: &Self::Rx) -> impl Future<Output = Option<u64>> + Send;
}

struct GortChan;
struct Kanal;
struct Flume;
struct AsyncChannel;

impl AsyncChan for GortChan {
    type Tx = gort::chan::Sender<u64>;
    type Rx = gort::chan::Receiver<u64>;
    fn make(cap: usize) -> (Self::Tx, Self::Rx) {
        gort::chan::bounded(cap)
    }
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.unwrap()
    }
    async fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().await
    }
}

impl AsyncChan for Kanal {
    type Tx = kanal::AsyncSender<u64>;
    type Rx = kanal::AsyncReceiver<u64>;
    fn make(cap: usize) -> (Self::Tx, Self::Rx) {
        kanal::bounded_async(cap)
    }
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.unwrap()
    }
    async fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

impl AsyncChan for Flume {
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn make(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send_async(v).await.unwrap()
    }
    async fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv_async().await.ok()
    }
}

impl AsyncChan for AsyncChannel {
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    fn make(cap: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(cap.max(1))
    }
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.unwrap()
    }
    async fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

/// `p` producers and `c` consumers move `0..n` through one channel of `cap`.
fn async_mpmc<C: AsyncChan, E: Exec>(exec: &E, cap: usize, n: u64, p: u64, c: u64) -> u64 {
    let (tx, rx) = C::make(cap);
    let producers: Vec<BoxFuture<u64>> = (0..p)
        .map(|i| {
            let tx = tx.clone();
            spawn_producer::<C, E>(exec, tx, i, n, p)
        })
        .collect();
    drop(tx);
    let consumers: Vec<BoxFuture<u64>> = (0..c)
        .map(|_| {
            let rx = rx.clone();
            exec.spawn(async move {
                let mut sum = 0;
                while let Some(v) = C::recv(&rx).await {
                    sum += v;
                }
                sum
            })
        })
        .collect();
    drop(rx);
    exec.run(async move {
        for p in producers {
            p.await;
        }
        let mut sum = 0;
        for c in consumers {
            sum += c.await;
        }
        sum
    })
}

fn spawn_producer<C: AsyncChan, E: Exec>(
    exec: &E,
    tx: C::Tx,
    i: u64,
    n: u64,
    p: u64,
) -> BoxFuture<u64> {
    exec.spawn(async move {
        let mut v = i;
        while v < n {
            C::send(&tx, v).await;
            v += p;
        }
        0
    })
}

/// Ping-pong over two channels of `cap`: `n` round trips.
fn async_ping_pong<C: AsyncChan, E: Exec>(exec: &E, cap: usize, n: u64) -> u64 {
    let (ping_tx, ping_rx) = C::make(cap);
    let (pong_tx, pong_rx) = C::make(cap);
    let echo = exec.spawn(async move {
        while let Some(v) = C::recv(&ping_rx).await {
            C::send(&pong_tx, v).await;
        }
        0
    });
    exec.run(async move {
        let mut sum = 0;
        for i in 0..n {
            C::send(&ping_tx, i).await;
            sum += C::recv(&pong_rx).await.unwrap();
        }
        drop(ping_tx);
        echo.await;
        sum
    })
}

fn bench<T: PartialEq + std::fmt::Debug>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    expect: T,
    mut f: impl FnMut() -> T,
) {
    g.bench_function(name, |b| b.iter(|| assert_eq!(f(), expect)));
}

fn group<'a>(c: &'a mut Criterion, name: &str, elements: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    g.throughput(Throughput::Elements(elements));
    g
}

fn ping_pong(c: &mut Criterion) {
    let (gort, tokio) = (gort_rt(), tokio_rt());
    let expect = sum_below(ROUND_TRIPS);
    let mut g = group(c, "ping_pong", ROUND_TRIPS);
    bench(&mut g, "gort", expect, || {
        async_ping_pong::<GortChan, _>(&gort, 0, ROUND_TRIPS)
    });
    bench(&mut g, "tokio+gort", expect, || {
        async_ping_pong::<GortChan, _>(&tokio, 0, ROUND_TRIPS)
    });
    bench(&mut g, "tokio+kanal", expect, || {
        async_ping_pong::<Kanal, _>(&tokio, 0, ROUND_TRIPS)
    });
    bench(&mut g, "tokio+flume", expect, || {
        async_ping_pong::<Flume, _>(&tokio, 0, ROUND_TRIPS)
    });
    bench(&mut g, "tokio+async-channel(1)", expect, || {
        async_ping_pong::<AsyncChannel, _>(&tokio, 0, ROUND_TRIPS)
    });
    bench(&mut g, "tokio+mpsc(1)", expect, || {
        tokio.run(async {
            let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
            let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
            let echo = tokio::spawn(async move {
                while let Some(v) = ping_rx.recv().await {
                    pong_tx.send(v).await.unwrap();
                }
            });
            let mut sum = 0;
            for i in 0..ROUND_TRIPS {
                ping_tx.send(i).await.unwrap();
                sum += pong_rx.recv().await.unwrap();
            }
            drop(ping_tx);
            echo.await.unwrap();
            sum
        })
    });
    bench(&mut g, "threads+gort", expect, || {
        thread_ping_pong(
            gort::chan::unbuffered,
            |tx, v| tx.send_blocking(v).unwrap(),
            |rx| rx.recv_blocking(),
        )
    });
    bench(&mut g, "threads+crossbeam", expect, || {
        thread_ping_pong(
            || crossbeam_channel::bounded(0),
            |tx, v| tx.send(v).unwrap(),
            |rx| rx.recv().ok(),
        )
    });
    bench(&mut g, "threads+std", expect, || {
        thread_ping_pong(
            || std::sync::mpsc::sync_channel(0),
            |tx, v| tx.send(v).unwrap(),
            |rx| rx.recv().ok(),
        )
    });
    bench(&mut g, "threads+flume", expect, || {
        thread_ping_pong(
            || flume::bounded(0),
            |tx, v| tx.send(v).unwrap(),
            |rx| rx.recv().ok(),
        )
    });
    g.finish();
}

fn thread_ping_pong<Tx: Send + 'static, Rx: Send + 'static>(
    make: fn() -> (Tx, Rx),
    send: fn(&Tx, u64),
    recv: fn(&Rx) -> Option<u64>,
) -> u64 {
    let (ping_tx, ping_rx) = make();
    let (pong_tx, pong_rx) = make();
    let echo = std::thread::spawn(move || {
        while let Some(v) = recv(&ping_rx) {
            send(&pong_tx, v);
        }
    });
    let mut sum = 0;
    for i in 0..ROUND_TRIPS {
        send(&ping_tx, i);
        sum += recv(&pong_rx).unwrap();
    }
    drop(ping_tx);
    echo.join().unwrap();
    sum
}

/// `p` producer threads and `c` consumer threads; `Rx` cloned per consumer.
fn thread_mpmc<Tx: Clone + Send + 'static, Rx: Clone + Send + 'static>(
    (tx, rx): (Tx, Rx),
    send: fn(&Tx, u64),
    recv: fn(&Rx) -> Option<u64>,
    n: u64,
    p: u64,
    c: u64,
) -> u64 {
    let producers: Vec<_> = (0..p)
        .map(|i| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut v = i;
                while v < n {
                    send(&tx, v);
                    v += p;
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..c)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || {
                let mut sum = 0;
                while let Some(v) = recv(&rx) {
                    sum += v;
                }
                sum
            })
        })
        .collect();
    drop(rx);
    producers.into_iter().for_each(|p| p.join().unwrap());
    consumers.into_iter().map(|c| c.join().unwrap()).sum()
}

fn mpmc_rows(c: &mut Criterion, name: &str, cap: usize, n: u64, p: u64, consumers: u64) {
    let (gort, tokio) = (gort_rt(), tokio_rt());
    let expect = sum_below(n);
    let mut g = group(c, name, n);
    bench(&mut g, "gort", expect, || {
        async_mpmc::<GortChan, _>(&gort, cap, n, p, consumers)
    });
    bench(&mut g, "tokio+gort", expect, || {
        async_mpmc::<GortChan, _>(&tokio, cap, n, p, consumers)
    });
    bench(&mut g, "tokio+kanal", expect, || {
        async_mpmc::<Kanal, _>(&tokio, cap, n, p, consumers)
    });
    bench(&mut g, "tokio+flume", expect, || {
        async_mpmc::<Flume, _>(&tokio, cap, n, p, consumers)
    });
    let ac = if cap == 0 {
        "tokio+async-channel(1)"
    } else {
        "tokio+async-channel"
    };
    bench(&mut g, ac, expect, || {
        async_mpmc::<AsyncChannel, _>(&tokio, cap, n, p, consumers)
    });
    if consumers == 1 {
        bench(&mut g, "tokio+mpsc", expect, || {
            tokio.run(async move {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(cap.max(1));
                let producers: Vec<_> = (0..p)
                    .map(|i| {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let mut v = i;
                            while v < n {
                                tx.send(v).await.unwrap();
                                v += p;
                            }
                        })
                    })
                    .collect();
                drop(tx);
                let mut sum = 0;
                while let Some(v) = rx.recv().await {
                    sum += v;
                }
                for p in producers {
                    p.await.unwrap();
                }
                sum
            })
        });
        bench(&mut g, "threads+std", expect, || {
            let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(cap);
            let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
            thread_mpmc(
                (tx, rx),
                |tx, v| tx.send(v).unwrap(),
                |rx| rx.lock().unwrap().recv().ok(),
                n,
                p,
                1,
            )
        });
    }
    bench(&mut g, "threads+gort", expect, || {
        thread_mpmc(
            gort::chan::bounded(cap),
            |tx, v| tx.send_blocking(v).unwrap(),
            |rx| rx.recv_blocking(),
            n,
            p,
            consumers,
        )
    });
    bench(&mut g, "threads+crossbeam", expect, || {
        thread_mpmc(
            crossbeam_channel::bounded(cap),
            |tx, v| tx.send(v).unwrap(),
            |rx| rx.recv().ok(),
            n,
            p,
            consumers,
        )
    });
    bench(&mut g, "threads+flume", expect, || {
        thread_mpmc(
            flume::bounded(cap),
            |tx, v| tx.send(v).unwrap(),
            |rx| rx.recv().ok(),
            n,
            p,
            consumers,
        )
    });
    g.finish();
}

fn chan_spsc(c: &mut Criterion) {
    mpmc_rows(c, "chan_spsc", CAP, MESSAGES, 1, 1);
}

fn chan_mpmc(c: &mut Criterion) {
    mpmc_rows(c, "chan_mpmc", CAP, MESSAGES, 4, 4);
}

fn chan_unbuffered_mpmc(c: &mut Criterion) {
    mpmc_rows(c, "chan_unbuffered_mpmc", 0, UNBUFFERED_MESSAGES, 4, 4);
}

fn select_two(c: &mut Criterion) {
    let (gort, tokio) = (gort_rt(), tokio_rt());
    let n = PER_SELECT_PRODUCER;
    let expect = 2 * sum_below(n);
    let mut g = group(c, "select_two", 2 * n);
    bench(&mut g, "gort", expect, || {
        gort.run(gort_select_two(n, |f| gort::go(f)))
    });
    bench(&mut g, "tokio+gort", expect, || {
        tokio.run(gort_select_two(n, |f| tokio::spawn(f)))
    });
    bench(&mut g, "tokio+mpsc", expect, || {
        tokio.run(async move {
            let (tx1, mut rx1) = tokio::sync::mpsc::channel::<u64>(CAP);
            let (tx2, mut rx2) = tokio::sync::mpsc::channel::<u64>(CAP);
            for tx in [tx1, tx2] {
                tokio::spawn(async move {
                    for v in 0..n {
                        tx.send(v).await.unwrap();
                    }
                });
            }
            let (mut sum, mut open1, mut open2) = (0, true, true);
            while open1 || open2 {
                tokio::select! {
                    v = rx1.recv(), if open1 => match v { Some(v) => sum += v, None => open1 = false },
                    v = rx2.recv(), if open2 => match v { Some(v) => sum += v, None => open2 = false },
                }
            }
            sum
        })
    });
    bench(&mut g, "threads+crossbeam", expect, || {
        let (tx1, rx1) = crossbeam_channel::bounded::<u64>(CAP);
        let (tx2, rx2) = crossbeam_channel::bounded::<u64>(CAP);
        let feeders: Vec<_> = [tx1, tx2]
            .into_iter()
            .map(|tx| {
                std::thread::spawn(move || {
                    for v in 0..n {
                        tx.send(v).unwrap();
                    }
                })
            })
            .collect();
        let never = crossbeam_channel::never();
        let (mut sum, mut open1, mut open2) = (0, true, true);
        while open1 || open2 {
            let (r1, r2) = (
                if open1 { &rx1 } else { &never },
                if open2 { &rx2 } else { &never },
            );
            crossbeam_channel::select! {
                recv(r1) -> v => match v { Ok(v) => sum += v, Err(_) => open1 = false },
                recv(r2) -> v => match v { Ok(v) => sum += v, Err(_) => open2 = false },
            }
        }
        feeders.into_iter().for_each(|f| f.join().unwrap());
        sum
    });
    g.finish();
}

/// The gort `select_two` workload; `spawn` starts the two feeders.
async fn gort_select_two<H: Send + 'static>(
    n: u64,
    spawn: impl Fn(BoxFuture<()>) -> H + Send + 'static,
) -> u64 {
    let (tx1, rx1) = gort::chan::bounded::<u64>(CAP);
    let (tx2, rx2) = gort::chan::bounded::<u64>(CAP);
    for tx in [tx1, tx2] {
        spawn(Box::pin(async move {
            for v in 0..n {
                tx.send(v).await.unwrap();
            }
        }));
    }
    let never = gort::chan::never::<u64>();
    let (mut sum, mut open1, mut open2) = (0, true, true);
    while open1 || open2 {
        let (r1, r2) = (
            if open1 { &rx1 } else { &never },
            if open2 { &rx2 } else { &never },
        );
        gort::select! {
            recv(r1) -> v => match v { Some(v) => sum += v, None => open1 = false },
            recv(r2) -> v => match v { Some(v) => sum += v, None => open2 = false },
        }
    }
    sum
}

criterion_group!(
    benches,
    ping_pong,
    chan_spsc,
    chan_mpmc,
    chan_unbuffered_mpmc,
    select_two
);
criterion_main!(benches);
