//! Fetch N fake endpoints at most `LIMIT` at a time under one deadline; the
//! first failure cancels the fetches still running (Go's errgroup pattern).
//!
//! `cargo run --release --example errgroup_fetch`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gort::context::{Context, ContextError};
use gort::errgroup::Group;

const ENDPOINTS: usize = 20;
const LIMIT: usize = 4;

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("GET /item/{0}: 503 service unavailable")]
    Unavailable(usize),
    #[error("GET /item/{0}: {1}")]
    Context(usize, ContextError),
}

/// A fake HTTP GET: takes a while, and endpoint 13 fails.
async fn fetch(ctx: &Context, i: usize) -> Result<String, FetchError> {
    let latency = Duration::from_millis(20 + (i as u64 * 7) % 30);
    gort::select! {
        recv(gort::time::after(latency)) -> _ => {},
        recv(ctx.done()) -> _ => {
            return Err(FetchError::Context(i, ctx.err().expect("done is closed")));
        },
    }
    if i == 13 {
        return Err(FetchError::Unavailable(i));
    }
    Ok(format!("item {i}"))
}

fn main() {
    let start = Instant::now();
    let (fetched, result) = gort::run(async {
        let (root, _cancel) = Context::background().with_timeout(Duration::from_secs(2));
        let (g, ctx) = Group::<FetchError>::with_context(&root);
        g.set_limit(Some(LIMIT));
        let fetched = Arc::new(Mutex::new(Vec::new()));
        for i in 0..ENDPOINTS {
            let (ctx, fetched) = (ctx.clone(), fetched.clone());
            // Waits for one of the LIMIT slots before starting the fetch.
            g.go(async move {
                let body = fetch(&ctx, i).await?;
                fetched.lock().unwrap().push(body);
                Ok(())
            })
            .await;
        }
        let result = g.wait().await;
        let fetched = std::mem::take(&mut *fetched.lock().unwrap());
        (fetched, result)
    });
    println!(
        "fetched {} of {ENDPOINTS} endpoints in {:?}",
        fetched.len(),
        start.elapsed()
    );
    match result {
        Ok(()) => println!("all fetched"),
        Err(e) => println!("first error: {e} (it cancelled the fetches still running)"),
    }
}
