//! A weighted semaphore bounding memory: jobs of different sizes share a
//! budget of 10 units, served in FIFO order; one job whose context expires
//! while queued gives up its place.
//!
//! `cargo run --release --example semaphore_limit`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gort::context::Context;
use gort::semaphore::Weighted;
use gort::sync::WaitGroup;

const BUDGET: u64 = 10;

fn main() {
    gort::run(async {
        let sem = Weighted::new(BUDGET);
        let in_use = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let wg = WaitGroup::new();
        for job in 0..12u64 {
            let (sem, in_use, peak) = (sem.clone(), in_use.clone(), peak.clone());
            let size = 1 + job % 5;
            // Job 7 is in a hurry: it waits at most 5 ms for its units.
            let (ctx, _cancel) = if job == 7 {
                Context::background().with_timeout(Duration::from_millis(5))
            } else {
                Context::background().with_cancel()
            };
            wg.go(async move {
                let permit = match sem.acquire(&ctx, size).await {
                    Ok(permit) => permit,
                    Err(e) => {
                        println!("job {job:2} ({size} units) gave up: {e}");
                        return;
                    }
                };
                let now = in_use.fetch_add(size, Ordering::SeqCst) + size;
                peak.fetch_max(now, Ordering::SeqCst);
                println!("job {job:2} ({size} units) runs, {now:2}/{BUDGET} in use");
                gort::time::sleep(Duration::from_millis(20)).await;
                in_use.fetch_sub(size, Ordering::SeqCst);
                drop(permit); // gives the units back
            });
        }
        wg.wait().await;
        let big = sem.acquire(&Context::background(), BUDGET + 1).await;
        println!(
            "asking for {} of {BUDGET} units fails at once: {big:?}",
            BUDGET + 1
        );
        println!("peak use: {}/{BUDGET}", peak.load(Ordering::SeqCst));
        assert!(peak.load(Ordering::SeqCst) <= BUDGET);
    });
}
