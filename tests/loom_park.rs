//! loom model of the park/unpark (spinning) protocol on `runtime::idle`: a
//! submitter publishing a task races the last spinning M giving up its P. In
//! every interleaving, either the M's re-check sees the task or the submitter
//! claims a wakeup: the task is never left queued with nobody coming.
#![cfg(gort_loom)]

use gort::__loom::Idle;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

#[test]
fn a_task_published_while_the_last_spinner_parks_is_never_stranded() {
    loom::model(|| {
        // Two Ps: P0 runs the submitter, P1's M is spinning and finds nothing.
        let idle = Arc::new(Idle::new(2));
        idle.p_taken();
        idle.p_taken();
        idle.start_spinning();
        let queued = Arc::new(AtomicUsize::new(0));

        let (i, q) = (idle.clone(), queued.clone());
        let submitter = thread::spawn(move || {
            q.store(1, Ordering::Release); // publish the task
            i.claim_wakeup()
        });

        // The spinner: its steal pass saw nothing; it gives back P1.
        idle.p_idled();
        idle.stop_spinning();
        let rechecked = queued.load(Ordering::Acquire) == 1;

        let woke = submitter.join().unwrap();
        assert!(
            rechecked || woke,
            "the task is queued, the spinner parked without seeing it, and nobody was woken"
        );
    });
}

#[test]
fn only_one_submitter_claims_the_spinning_slot() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(2));
        idle.p_taken(); // P0 busy, P1 idle, nobody spinning
        let claims: Vec<_> = (0..2)
            .map(|_| {
                let i = idle.clone();
                thread::spawn(move || i.claim_wakeup())
            })
            .collect();
        let won = claims
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&w| w)
            .count();
        assert_eq!(won, 1, "exactly one submitter starts an M");
    });
}
