//! A Context tree: a request with a deadline fans out to workers that watch
//! `ctx.done()` in `select!`; cancelling the request stops all of them, and
//! a value set at the root is visible everywhere below.
//!
//! `cargo run --release --example context_cancel`

use std::time::{Duration, Instant};

use gort::context::{Context, Key};
use gort::sync::WaitGroup;

static REQUEST_ID: Key<u64> = Key::new("request-id");

/// Works in 10 ms steps until its context is done; returns the steps done.
async fn worker(ctx: Context, name: &'static str) -> u32 {
    let mut steps = 0;
    loop {
        gort::select! {
            recv(ctx.done()) -> _ => {
                println!(
                    "  {name} (request {}) stops after {steps} steps: {} (cause: {})",
                    ctx.value(&REQUEST_ID).unwrap(),
                    ctx.err().unwrap(),
                    ctx.cause().unwrap(),
                );
                return steps;
            },
            recv(gort::time::after(Duration::from_millis(10))) -> _ => steps += 1,
        }
    }
}

fn main() {
    gort::run(async {
        let start = Instant::now();

        println!("1. cancelled by hand after 50 ms:");
        let root = Context::background().with_value(&REQUEST_ID, 7);
        let (ctx, cancel) = root.with_cancel();
        let wg = WaitGroup::new();
        for name in ["fetcher", "indexer", "logger"] {
            let ctx = ctx.clone();
            wg.go(async move {
                worker(ctx, name).await;
            });
        }
        gort::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
        wg.wait().await;

        println!("2. a 30 ms deadline, with a child asking for a later one (it inherits 30 ms):");
        let (ctx, _cancel) = root.with_timeout(Duration::from_millis(30));
        let (child, _cancel_child) = ctx.with_timeout(Duration::from_secs(10));
        assert_eq!(child.deadline(), ctx.deadline());
        worker(child, "slow-call").await;

        println!("3. without_cancel keeps the values, not the cancellation:");
        let detached = ctx.without_cancel();
        println!(
            "  detached: err = {:?}, request id = {:?}",
            detached.err(),
            detached.value(&REQUEST_ID)
        );
        println!("done in {:?}", start.elapsed());
    });
}
