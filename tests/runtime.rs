//! The scheduler under load and misuse: every task runs, wakes from foreign
//! threads arrive, aborts and panics are contained, a dropped runtime drops
//! every unfinished task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use gort::{JoinError, JoinHandle, Runtime};
use parking_lot::Mutex;

fn rt(procs: usize) -> Runtime {
    Runtime::builder().procs(procs).build().unwrap()
}

/// A future that is woken only from outside: `Gate::open` wakes every task
/// waiting on it (several tests park many tasks on one gate).
#[derive(Clone, Default)]
struct Gate(Arc<(AtomicBool, Mutex<Vec<Waker>>)>);

impl Gate {
    fn open(&self) {
        self.0.0.store(true, Ordering::SeqCst);
        let waiting = std::mem::take(&mut *self.0.1.lock());
        waiting.into_iter().for_each(Waker::wake);
    }

    fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let gate = self.clone();
        std::future::poll_fn(move |cx| {
            if gate.0.0.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            {
                let mut waiting = gate.0.1.lock();
                if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    waiting.push(cx.waker().clone());
                }
            }
            if gate.0.0.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// Counts how many of its values have been dropped.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_million_tiny_tasks_all_complete() {
    let rt = rt(2);
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    rt.block_on(async move {
        gort::go(async move {
            let mut handles = Vec::with_capacity(1000);
            for _ in 0..1000 {
                let d = d.clone();
                handles.push(gort::go(async move {
                    let inner: Vec<_> = (0..1000)
                        .map(|_| {
                            let d = d.clone();
                            gort::go(async move {
                                d.fetch_add(1, Ordering::Relaxed);
                            })
                        })
                        .collect();
                    for h in inner {
                        h.await.unwrap();
                    }
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
        })
        .await
        .unwrap()
    });
    assert_eq!(done.load(Ordering::SeqCst), 1_000_000);
    assert_eq!(rt.num_goroutines(), 0);
}

#[test]
fn tasks_woken_from_eight_foreign_threads() {
    let rt = rt(2);
    let per_thread = 2000;
    let gates: Vec<Vec<Gate>> = (0..8)
        .map(|_| (0..per_thread).map(|_| Gate::default()).collect())
        .collect();
    let handles: Vec<JoinHandle<()>> = gates.iter().flatten().map(|g| rt.go(g.wait())).collect();
    std::thread::scope(|s| {
        for thread_gates in &gates {
            s.spawn(move || {
                for g in thread_gates {
                    g.open();
                }
            });
        }
    });
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn chains_ten_thousand_deep() {
    // Each task spawns the next and finishes; the last one reports.
    fn link(n: usize, done: Arc<Gate>) {
        if n == 0 {
            done.open();
        } else {
            drop(gort::go(async move { link(n - 1, done) }));
        }
    }
    let rt = rt(2);
    let done = Arc::new(Gate::default());
    let d = done.clone();
    rt.block_on(async move {
        link(10_000, d);
        done.wait().await;
    });
    // Recursive awaiting: each task awaits the one it spawned.
    fn nested(n: u32) -> JoinHandle<u32> {
        gort::go(async move {
            if n == 0 {
                0
            } else {
                nested(n - 1).await.unwrap() + 1
            }
        })
    }
    assert_eq!(rt.block_on(async { nested(10_000).await.unwrap() }), 10_000);
}

#[test]
fn abort_at_random_points() {
    let rt = rt(2);
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..2000u64 {
        let guard = DropCounter(dropped.clone());
        let h = rt.go(async move {
            let _guard = guard;
            for _ in 0..(i % 7) {
                gort::yield_now().await;
            }
            if i % 3 == 0 {
                std::future::pending::<()>().await;
            }
            i
        });
        // Every task that waits forever is aborted, and half of the others.
        if i % 2 == 0 || i % 3 == 0 {
            h.abort();
        }
        handles.push((i, h));
    }
    for (i, h) in handles {
        match h.join() {
            Ok(v) => assert_eq!(v, i),
            Err(e) => assert!(e.is_aborted(), "task {i}: {e:?}"),
        }
    }
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 2000);
}

#[test]
fn abort_before_run_and_after_finish() {
    let rt = rt(1);
    // A task that finished keeps its output.
    let h = rt.go(async { 5 });
    while !h.is_finished() {
        std::thread::yield_now();
    }
    h.abort();
    assert_eq!(h.join().unwrap(), 5);
    // Aborted before it ever ran: the P is busy with a task that waits on a gate.
    let gate = Gate::default();
    let g = gate.clone();
    let blocker = rt.go(async move {
        // Occupy the only P without yielding until the gate opens.
        while !g.0.0.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    });
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let h = rt.go(async move { r.store(true, Ordering::SeqCst) });
    h.abort();
    gate.open();
    blocker.join().unwrap();
    assert!(matches!(h.join(), Err(JoinError::Aborted)));
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn two_busy_tasks_on_one_proc_both_progress() {
    let rt = rt(1);
    let a = Arc::new(AtomicUsize::new(0));
    let b = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let spin = |mine: Arc<AtomicUsize>, stop: Arc<AtomicBool>| async move {
        while !stop.load(Ordering::Relaxed) {
            mine.fetch_add(1, Ordering::Relaxed);
            gort::yield_now().await;
        }
    };
    let ha = rt.go(spin(a.clone(), stop.clone()));
    let hb = rt.go(spin(b.clone(), stop.clone()));
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    ha.join().unwrap();
    hb.join().unwrap();
    let (a, b) = (a.load(Ordering::Relaxed), b.load(Ordering::Relaxed));
    assert!(a > 100 && b > 100, "both must run: a={a} b={b}");
    assert!(
        a.abs_diff(b) <= a.max(b) / 2,
        "yielding alternates: a={a} b={b}"
    );
}

#[test]
fn a_panicking_task_is_contained() {
    let rt = rt(2);
    let h = rt.go(async { panic!("boom") });
    match h.join() {
        Err(JoinError::Panicked(payload)) => {
            assert_eq!(*payload.downcast_ref::<&str>().unwrap(), "boom");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    // Workers and runtime carry on.
    let hs: Vec<_> = (0..100).map(|i| rt.go(async move { i })).collect();
    let sum: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 4950);
}

#[test]
fn block_on_inside_a_task_panics_clearly() {
    let rt = Arc::new(rt(1));
    let inner = rt.clone();
    let h = rt.go(async move { inner.block_on(async {}) });
    let Err(JoinError::Panicked(payload)) = h.join() else {
        panic!("block_on inside a task must panic");
    };
    let msg = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("cannot block a worker thread"), "{msg}");
}

#[test]
fn dropping_a_runtime_drops_every_unfinished_task() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = rt(2);
    let gate = Gate::default();
    let mut handles = Vec::new();
    for i in 0..1000 {
        let guard = DropCounter(dropped.clone());
        let g = gate.clone();
        handles.push(rt.go(async move {
            let _guard = guard;
            if i % 2 == 0 {
                g.wait().await; // parked, reachable only through the gate's waker
            } else {
                loop {
                    gort::yield_now().await; // runnable forever
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(20));
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 1000);
    for h in handles {
        assert!(matches!(h.join(), Err(JoinError::Aborted)));
    }
    gate.open(); // a late wake of a dropped runtime's task does nothing
}

#[test]
fn registry_slots_freed_by_finished_tasks_are_reused_and_drained() {
    // Parked tasks sit in the runtime's registry; finishing half of them frees
    // slots in the middle that the next parked tasks reuse. Shutdown must
    // still find each parked task exactly once.
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = rt(2);
    let park = |gates: &mut Vec<Gate>, handles: &mut Vec<JoinHandle<()>>| {
        for _ in 0..1000 {
            let guard = DropCounter(dropped.clone());
            let gate = Gate::default();
            let g = gate.clone();
            gates.push(gate);
            handles.push(rt.go(async move {
                let _guard = guard;
                g.wait().await;
            }));
        }
    };
    let settle = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while rt.num_goroutines() != n {
            assert!(
                Instant::now() < deadline,
                "{} tasks, not {n}",
                rt.num_goroutines()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let (mut gates, mut handles) = (Vec::new(), Vec::new());
    park(&mut gates, &mut handles);
    std::thread::sleep(Duration::from_millis(20)); // let them all park
    for gate in gates.iter().step_by(2) {
        gate.open();
    }
    settle(500);
    assert_eq!(dropped.load(Ordering::SeqCst), 500);
    park(&mut gates, &mut handles);
    std::thread::sleep(Duration::from_millis(20));
    settle(1500);
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 2000);
    let aborted = handles
        .into_iter()
        .map(JoinHandle::join)
        .filter(|r| matches!(r, Err(JoinError::Aborted)))
        .count();
    assert_eq!(aborted, 1500);
}

#[test]
fn a_task_holding_its_own_wake_source_does_not_leak() {
    // The task's future owns the only handle to the gate whose waker refers
    // back to the task: a cycle that only the runtime's registry can break.
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = rt(1);
    let guard = DropCounter(dropped.clone());
    let h = rt.go(async move {
        let _guard = guard;
        let gate = Gate::default();
        gate.wait().await;
    });
    std::thread::sleep(Duration::from_millis(10));
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert!(h.join().unwrap_err().is_aborted());
}

#[test]
fn num_goroutines_counts_unfinished_tasks() {
    let rt = rt(2);
    let gate = Gate::default();
    let hs: Vec<_> = (0..10).map(|_| rt.go(gate.wait())).collect();
    assert_eq!(rt.num_goroutines(), 10);
    gate.open();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(rt.num_goroutines(), 0);
}

#[test]
#[allow(clippy::async_yields_async)] // the handle is joined outside on purpose
fn go_inside_block_on_spawns_on_that_runtime() {
    let rt = rt(3);
    let gate = Gate::default();
    let g = gate.clone();
    let h = rt.block_on(async move { gort::go(g.wait()) }); // spawned inside, joined outside
    assert_eq!(rt.num_goroutines(), 1);
    gate.open();
    h.join().unwrap();
    assert_eq!(rt.procs(), 3);
}

#[test]
fn run_from_several_threads_at_once() {
    let sums: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4u64)
            .map(|t| {
                s.spawn(move || {
                    gort::run(async move {
                        let hs: Vec<_> = (0..100).map(|i| gort::go(async move { i * t })).collect();
                        let mut sum = 0;
                        for h in hs {
                            sum += h.await.unwrap();
                        }
                        sum
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(sums, vec![0, 4950, 9900, 14850]);
}

#[test]
fn spawn_blocking_runs_off_the_workers() {
    let rt = rt(1);
    let out = rt.block_on(async {
        // Two blocking calls that each wait for the other: they need two threads.
        let (a, b) = (Gate::default(), Gate::default());
        let (a2, b2) = (a.clone(), b.clone());
        let h1 = gort::spawn_blocking(move || {
            a2.open();
            while !b2.0.0.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            1
        });
        let h2 = gort::spawn_blocking(move || {
            b.open();
            while !a.0.0.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            2
        });
        h1.await.unwrap() + h2.await.unwrap()
    });
    assert_eq!(out, 3);
    let r = rt.block_on(async { gort::spawn_blocking(|| panic!("blocking boom")).await });
    assert!(r.unwrap_err().is_panic());
}

#[test]
fn blocking_runs_on_the_calling_thread() {
    let rt = rt(2);
    let v = rt.block_on(async {
        gort::go(async {
            let me = std::thread::current().id();
            gort::blocking(move || std::thread::current().id() == me)
        })
        .await
        .unwrap()
    });
    assert!(v);
}

#[test]
fn join_handles_work_in_foreign_executors() {
    // A JoinHandle polled by a plain thread's own loop with its own waker.
    let rt = rt(2);
    let mut h = rt.go(async {
        gort::time::sleep(Duration::from_millis(5)).await;
        7
    });
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let start = Instant::now();
    loop {
        if let Poll::Ready(v) = Pin::new(&mut h).poll(&mut cx) {
            assert_eq!(v.unwrap(), 7);
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never finished");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Runtime>();
    send_sync::<gort::Builder>();
    send_sync::<JoinHandle<u8>>();
    // The panic payload is `Box<dyn Any + Send>`, as in std and tokio.
    fn send<T: Send>() {}
    send::<JoinError>();
}

#[test]
fn dropping_a_runtime_while_foreign_threads_wake_its_tasks() {
    // Shutdown races wakes from 4 plain threads: every future is dropped
    // exactly once, whether it ran, was queued, or was woken mid-shutdown.
    for round in 0..20 {
        let dropped = Arc::new(AtomicUsize::new(0));
        let rt = rt(2);
        let gates: Vec<Gate> = (0..400).map(|_| Gate::default()).collect();
        let handles: Vec<_> = gates
            .iter()
            .map(|g| {
                let (g, guard) = (g.clone(), DropCounter(dropped.clone()));
                rt.go(async move {
                    let _guard = guard;
                    g.wait().await;
                    gort::yield_now().await;
                })
            })
            .collect();
        std::thread::scope(|s| {
            for chunk in gates.chunks(100) {
                s.spawn(move || chunk.iter().for_each(Gate::open));
            }
            if round % 2 == 0 {
                std::thread::yield_now();
            }
            drop(rt);
        });
        assert_eq!(dropped.load(Ordering::SeqCst), 400, "round {round}");
        for h in handles {
            // Finished before shutdown, or aborted by it: never hangs.
            let _ = h.join();
        }
    }
}

// Who drops a task's future and output, and how often: the stage is an
// untagged union whose live field the state word tells (runtime/task.rs).

/// Waits (up to 10 s) for `count` to reach `want`.
fn wait_for(count: &AtomicUsize, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count.load(Ordering::SeqCst) < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(count.load(Ordering::SeqCst), want);
}

/// Counts its drops, then panics.
struct PanicOnDrop(Arc<AtomicUsize>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("drop panicked");
    }
}

#[test]
fn a_detached_tasks_unread_output_is_dropped_once_when_freed() {
    let rt = rt(2);
    let (held, output) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let gate = Gate::default();
    let (g, h, o) = (gate.clone(), held.clone(), output.clone());
    let handle = rt.go(async move {
        let _held = DropCounter(h);
        g.wait().await;
        DropCounter(o)
    });
    drop(handle);
    gate.open();
    wait_for(&output, 1);
    assert_eq!(held.load(Ordering::SeqCst), 1);
    drop(rt);
    assert_eq!(output.load(Ordering::SeqCst), 1);
    assert_eq!(held.load(Ordering::SeqCst), 1);
}

#[test]
fn a_joined_tasks_output_is_moved_out_and_never_dropped_twice() {
    let rt = rt(1);
    let (held, output) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (h, o) = (held.clone(), output.clone());
    let handle = rt.go(async move {
        let _held = DropCounter(h);
        gort::yield_now().await;
        DropCounter(o)
    });
    let out = handle.join().unwrap();
    assert_eq!(held.load(Ordering::SeqCst), 1);
    assert_eq!(output.load(Ordering::SeqCst), 0, "the output was dropped");
    drop(out);
    assert_eq!(output.load(Ordering::SeqCst), 1);
    drop(rt);
    assert_eq!(output.load(Ordering::SeqCst), 1);
    assert_eq!(held.load(Ordering::SeqCst), 1);
    // The Arc inside the counter is gone too: only ours is left.
    assert_eq!(Arc::strong_count(&output), 1);
    assert_eq!(Arc::strong_count(&held), 1);
}

#[test]
fn an_aborted_tasks_future_is_dropped_once() {
    let rt = rt(2);
    let held = Arc::new(AtomicUsize::new(0));
    let gate = Gate::default();
    // The counters are captured, not made inside: an abort may come before
    // the first poll.
    let (g, h) = (gate.clone(), DropCounter(held.clone()));
    let handle = rt.go(async move {
        let _held = h;
        g.wait().await;
    });
    // A detached one too: its JoinError::Aborted is dropped at free.
    let (g2, h2) = (gate.clone(), DropCounter(held.clone()));
    let detached = rt.go(async move {
        let _held = h2;
        g2.wait().await;
    });
    handle.abort();
    detached.abort();
    drop(detached);
    assert!(handle.join().unwrap_err().is_aborted());
    wait_for(&held, 2);
    gate.open();
    drop(rt);
    assert_eq!(held.load(Ordering::SeqCst), 2);
    assert_eq!(Arc::strong_count(&held), 1);
}

#[test]
fn a_panicking_tasks_payload_is_dropped_once() {
    let rt = rt(2);
    let (held, payload) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // Joined: the payload is moved out with the error.
    let (h, p) = (held.clone(), payload.clone());
    let handle = rt.go(async move {
        let _held = DropCounter(h);
        gort::yield_now().await;
        std::panic::panic_any(DropCounter(p));
    });
    let err = handle.join().unwrap_err();
    assert!(err.is_panic());
    assert_eq!(held.load(Ordering::SeqCst), 1);
    assert_eq!(payload.load(Ordering::SeqCst), 0, "the payload was dropped");
    drop(err);
    assert_eq!(payload.load(Ordering::SeqCst), 1);
    // Detached: the unread payload is dropped when the task is freed.
    let (h, p) = (held.clone(), payload.clone());
    drop(rt.go(async move {
        let _held = DropCounter(h);
        gort::yield_now().await;
        std::panic::panic_any(DropCounter(p));
    }));
    wait_for(&payload, 2);
    drop(rt);
    assert_eq!(held.load(Ordering::SeqCst), 2);
    assert_eq!(payload.load(Ordering::SeqCst), 2);
    assert_eq!(Arc::strong_count(&payload), 1);
}

/// Ready at once with a counted output; its own drop panics.
struct ReadyThenPanicOnDrop {
    _on_drop: PanicOnDrop,
    output: Option<DropCounter>,
}

impl Future for ReadyThenPanicOnDrop {
    type Output = DropCounter;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<DropCounter> {
        Poll::Ready(self.output.take().expect("polled once"))
    }
}

#[test]
fn a_future_that_panics_in_drop_is_dropped_once() {
    let rt = rt(2);
    // Finished with an output, then its drop panics: the output survives
    // (the payload is dropped), the future's fields are dropped once.
    let (dropped, output) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let handle = rt.go(ReadyThenPanicOnDrop {
        _on_drop: PanicOnDrop(dropped.clone()),
        output: Some(DropCounter(output.clone())),
    });
    let out = handle.join().unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!(output.load(Ordering::SeqCst), 0);
    drop(out);
    assert_eq!(output.load(Ordering::SeqCst), 1);
    // Aborted while parked, its drop panics: the handle gets the panic, and
    // the future's other fields are still dropped (while unwinding), once.
    let held = Arc::new(AtomicUsize::new(0));
    let gate = Gate::default();
    // Captured: an abort may come before the first poll.
    let (g, d, h) = (
        gate.clone(),
        PanicOnDrop(dropped.clone()),
        DropCounter(held.clone()),
    );
    let handle = rt.go(async move {
        let _on_drop = d;
        let _held = h;
        g.wait().await;
    });
    handle.abort();
    let err = handle.join().unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert_eq!(dropped.load(Ordering::SeqCst), 2);
    assert_eq!(held.load(Ordering::SeqCst), 1);
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 2);
    assert_eq!(held.load(Ordering::SeqCst), 1);
    assert_eq!(Arc::strong_count(&output), 1);
    assert_eq!(Arc::strong_count(&held), 1);
}

/// The smallest spawn and join through a runtime, for Miri (`cargo +nightly
/// miri test --test runtime miri_spawn_and_join`).
#[test]
fn miri_spawn_and_join() {
    let rt = rt(1);
    let output = Arc::new(AtomicUsize::new(0));
    let o = output.clone();
    let h = rt.go(async move { DropCounter(o) });
    drop(h.join().unwrap());
    let o = output.clone();
    drop(rt.go(async move { DropCounter(o) }));
    wait_for(&output, 2);
    drop(rt);
    assert_eq!(output.load(Ordering::SeqCst), 2);
}

/// A count of Ps far beyond any machine fails `build` with a clear error,
/// rather than aborting the process when the allocator gives up.
#[test]
fn a_huge_procs_or_max_blocked_is_an_error() {
    for n in [usize::MAX, 1 << 40, (1 << 16) + 1] {
        let Err(err) = Runtime::builder().procs(n).build() else {
            panic!("procs({n}) built a runtime");
        };
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("procs="), "{err}");
        let Err(err) = Runtime::builder().procs(1).max_blocked(n).build() else {
            panic!("max_blocked({n}) built a runtime");
        };
        assert!(err.to_string().contains("max_blocked="), "{err}");
    }
}
