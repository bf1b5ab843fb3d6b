//! Go's concurrent prime sieve: a chain of filter tasks, one per prime found,
//! connected by unbuffered channels (go.dev/doc/play/sieve.go).
//!
//! `cargo run --release --example sieve`

use gort::chan::{self, Receiver, Sender};

const PRIMES: usize = 100;

/// Sends 2, 3, 4, … on `ch` until nobody listens.
async fn generate(ch: Sender<u64>) {
    let mut i = 2;
    while ch.send(i).await.is_ok() {
        i += 1;
    }
}

/// Copies from `input` to `output`, dropping multiples of `prime`.
async fn filter(input: Receiver<u64>, output: Sender<u64>, prime: u64) {
    while let Some(i) = input.recv().await {
        if i % prime != 0 && output.send(i).await.is_err() {
            return;
        }
    }
}

fn main() {
    let primes = gort::run(async {
        let (tx, mut ch) = chan::unbuffered();
        drop(gort::go(generate(tx))); // detached: stops once the chain is gone
        let mut primes = Vec::with_capacity(PRIMES);
        for _ in 0..PRIMES {
            let prime = ch.recv().await.expect("the sieve never closes");
            println!("{prime}");
            primes.push(prime);
            let (tx, next) = chan::unbuffered();
            drop(gort::go(filter(ch, tx, prime)));
            ch = next;
        }
        primes
        // Dropping the last receiver here unwinds the chain: each filter's
        // send fails, it returns, and the stage before it fails in turn.
    });
    assert_eq!(primes[PRIMES - 1], 541);
}
