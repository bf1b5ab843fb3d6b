//! Two tasks on a runtime with two Ps share the numbers below 3000 from one
//! unbuffered channel and print the primes they find; their lines interleave
//! as both run in parallel.
//!
//! `cargo run --release --example primes`

use gort::chan::{self, Receiver};

const LIMIT: u64 = 3000;

fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

async fn sieve_worker(name: &'static str, candidates: Receiver<u64>) -> usize {
    let mut found = 0;
    while let Some(n) = candidates.recv().await {
        if is_prime(n) {
            println!("{name}: {n}");
            found += 1;
        }
    }
    found
}

fn main() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let (total, by_worker) = rt.block_on(async {
        let (tx, rx) = chan::unbuffered();
        let a = gort::go(sieve_worker("A", rx.clone()));
        let b = gort::go(sieve_worker("B", rx));
        for n in 2..LIMIT {
            tx.send(n).await.unwrap();
        }
        tx.close();
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        (a + b, (a, b))
    });
    println!(
        "{total} primes below {LIMIT} (A found {}, B found {})",
        by_worker.0, by_worker.1
    );
    assert_eq!(total, 430);
}
