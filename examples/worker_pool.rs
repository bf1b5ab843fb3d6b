//! A fixed pool of workers draining a jobs channel and reporting on a results
//! channel (Go by Example's "Worker Pools").
//!
//! `cargo run --release --example worker_pool`

use std::time::Duration;

use gort::chan;

const WORKERS: usize = 3;
const JOBS: u64 = 9;

async fn worker(id: usize, jobs: chan::Receiver<u64>, results: chan::Sender<u64>) {
    while let Some(job) = jobs.recv().await {
        println!("worker {id} started  job {job}");
        gort::time::sleep(Duration::from_millis(50)).await;
        println!("worker {id} finished job {job}");
        results
            .send(job * 2)
            .await
            .expect("main receives every result");
    }
}

fn main() {
    gort::run(async {
        let (jobs_tx, jobs_rx) = chan::bounded(JOBS as usize);
        let (results_tx, results_rx) = chan::bounded(JOBS as usize);
        for id in 1..=WORKERS {
            // Detached: a worker ends when the jobs channel is closed and drained.
            drop(gort::go(worker(id, jobs_rx.clone(), results_tx.clone())));
        }
        drop(results_tx); // the workers hold the only senders now
        for job in 1..=JOBS {
            jobs_tx.send(job).await.unwrap();
        }
        jobs_tx.close(); // workers drain the queue, then their loops end
        let mut total = 0;
        while let Some(r) = results_rx.recv().await {
            total += r;
        }
        println!("sum of results: {total}");
        assert_eq!(total, JOBS * (JOBS + 1));
    });
}
