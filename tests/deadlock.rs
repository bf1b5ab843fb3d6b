//! Deadlock detection and the goroutine dump. This file has its own `main`
//! (`harness = false`): detection stays off while any thread other than
//! gort's and the blocked one exists, and libtest keeps threads of its own.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use gort::sync::WaitGroup;
use gort::{Runtime, chan};

fn rt() -> Runtime {
    Runtime::builder().procs(2).build().unwrap()
}

/// Runs `f` on a fresh runtime; returns the panic message if it panicked.
fn outcome<T>(f: impl AsyncFnOnce() -> T) -> Result<T, String> {
    let rt = rt();
    let r = catch_unwind(AssertUnwindSafe(|| rt.block_on(f())));
    drop(rt);
    r.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

fn main_waits_on_a_waitgroup_nobody_can_finish() {
    let start = Instant::now();
    let r = outcome(async || {
        let wg = WaitGroup::new();
        wg.add(1);
        let inner = wg.clone();
        let _h = gort::go(async move { inner.wait().await });
        wg.wait().await;
    });
    let msg = r.expect_err("a deadlock must panic");
    assert!(
        msg.starts_with("fatal error: all goroutines are asleep - deadlock!"),
        "{msg}"
    );
    assert!(
        msg.contains("[WaitGroup wait"),
        "the dump names the wait: {msg}"
    );
    assert!(
        msg.contains("tests/deadlock.rs"),
        "the dump names the spawn site: {msg}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

fn two_tasks_each_receiving_from_the_other_deadlock() {
    let start = Instant::now();
    let r = outcome(async || {
        let (to_a, from_b) = chan::unbuffered::<u8>();
        let (to_b, from_a) = chan::unbuffered::<u8>();
        let a = gort::go(async move {
            from_b.recv().await;
            to_b.send(1).await.ok();
        });
        let b = gort::go(async move {
            from_a.recv().await;
            to_a.send(2).await.ok();
        });
        a.await.unwrap();
        b.await.unwrap();
    });
    let msg = r.expect_err("a deadlock must panic");
    assert!(
        msg.starts_with("fatal error: all goroutines are asleep - deadlock!"),
        "{msg}"
    );
    assert_eq!(msg.matches("[chan receive, ").count(), 2, "{msg}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
}

fn no_alarm_while_a_ticker_could_still_fire() {
    let r = outcome(async || {
        let ticker = gort::time::Ticker::new(Duration::from_millis(300));
        for _ in 0..3 {
            ticker.c().recv().await;
        }
        ticker.stop();
    });
    assert!(r.is_ok(), "false alarm: {r:?}");
}

fn no_alarm_while_a_plain_thread_could_still_wake_us() {
    let r = outcome(async || {
        let wg = WaitGroup::new();
        wg.add(1);
        let done = wg.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1200));
            done.done();
        });
        wg.wait().await;
        t.join().unwrap();
    });
    assert!(r.is_ok(), "false alarm: {r:?}");
}

fn no_alarm_while_a_timer_is_pending() {
    let r = outcome(async || {
        let wg = WaitGroup::new();
        wg.add(1);
        let done = wg.clone();
        let _h = gort::go(async move {
            gort::time::sleep(Duration::from_millis(1200)).await;
            done.done();
        });
        wg.wait().await;
    });
    assert!(r.is_ok(), "false alarm: {r:?}");
}

fn no_alarm_for_a_task_waiting_on_a_foreign_future() {
    // The task waits on something gort cannot see (a pending future): the
    // detector must not claim to know it never wakes.
    let r = outcome(async || {
        let wg = WaitGroup::new();
        wg.add(1);
        let done = wg.clone();
        let h = gort::go(async move {
            let _done = done;
            std::future::pending::<()>().await;
        });
        gort::time::timeout(Duration::from_millis(1200), wg.wait())
            .await
            .expect_err("nothing finishes the group");
        h.abort();
    });
    assert!(r.is_ok(), "false alarm: {r:?}");
}

fn dump_lists_a_parked_task() {
    let rt = rt();
    let wg = WaitGroup::new();
    wg.add(1);
    let w = wg.clone();
    let h = rt.go(async move { w.wait().await });
    std::thread::sleep(Duration::from_millis(50));
    let dump = rt.dump();
    assert!(dump.contains("[WaitGroup wait, "), "{dump}");
    assert!(dump.contains("spawned at tests/deadlock.rs:"), "{dump}");
    wg.done();
    h.join().unwrap();
}

fn verify_none_catches_a_leaked_task() {
    let wg = WaitGroup::new();
    wg.add(1);
    let w = wg.clone();
    let leaked = gort::go(async move { w.wait().await });
    let r = catch_unwind(gort::testing::verify_none);
    let msg = r.expect_err("a live task must fail verify_none");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("1 unexpected live task"), "{msg}");
    wg.done();
    leaked.join().unwrap();
    gort::testing::verify_none();
}

fn main() {
    macro_rules! named {
        ($($test:ident),* $(,)?) => { [$((stringify!($test), $test as fn())),*] };
    }
    let tests = named![
        main_waits_on_a_waitgroup_nobody_can_finish,
        two_tasks_each_receiving_from_the_other_deadlock,
        no_alarm_while_a_ticker_could_still_fire,
        no_alarm_while_a_plain_thread_could_still_wake_us,
        no_alarm_while_a_timer_is_pending,
        no_alarm_for_a_task_waiting_on_a_foreign_future,
        dump_lists_a_parked_task,
        verify_none_catches_a_leaked_task,
    ];
    // Expected panics print nothing; real failures are reported below.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = 0;
    for (name, test) in tests {
        match catch_unwind(test) {
            Ok(()) => println!("test {name} ... ok"),
            Err(p) => {
                failed += 1;
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                println!("test {name} ... FAILED\n{msg}");
            }
        }
    }
    println!("\n{} passed, {failed} failed", tests.len() - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
