//! A pipeline: generate → square → sum, each stage a task, each link a
//! channel; closing propagates downstream as each stage's sender is dropped
//! (Go blog, "Pipelines and cancellation").
//!
//! `cargo run --release --example pipeline`

use gort::chan::{self, Receiver};

const N: u64 = 1000;

fn generate(n: u64) -> Receiver<u64> {
    let (tx, rx) = chan::unbuffered();
    drop(gort::go(async move {
        for i in 1..=n {
            tx.send(i).await.unwrap();
        }
        // `tx` dropped here: the channel closes.
    }));
    rx
}

fn square(input: Receiver<u64>) -> Receiver<u64> {
    let (tx, rx) = chan::bounded(16);
    drop(gort::go(async move {
        while let Some(v) = input.recv().await {
            tx.send(v * v).await.unwrap();
        }
    }));
    rx
}

fn main() {
    let sum = gort::run(async {
        let squares = square(generate(N));
        let mut sum = 0;
        while let Some(v) = squares.recv().await {
            sum += v;
        }
        sum
    });
    println!("sum of squares of 1..={N}: {sum}");
    assert_eq!(sum, N * (N + 1) * (2 * N + 1) / 6);
}
