//! The counters of the spinning protocol: idle Ps and spinning Ms (Go's
//! `sched.npidle` and `sched.nmspinning`), kept apart so a loom model can
//! check the protocol on this very code (`tests/loom_park.rs`).
//!
//! # The protocol: no wakeup is lost
//! - A submitter publishes a task, then calls [`Idle::claim_wakeup`]: a
//!   `SeqCst` fence, then it reads `npidle` and `nmspinning`. If a P is idle and
//!   no M spins, it claims the one spinning slot (CAS 0 → 1) and must start an M.
//! - A spinning M that found nothing puts its P on the idle list
//!   ([`Idle::p_idled`]), calls [`Idle::stop_spinning`] (decrement, then a
//!   `SeqCst` fence) and then reads every queue once more.
//!
//! The two fences order "publish; read nmspinning" against "decrement
//! nmspinning; read queues": either the submitter sees the spinner (which then
//! sees the task in its re-check) or sees no spinner and claims a wakeup.
//!
//! `npidle` mirrors the length of the idle-P list, which lives under the
//! scheduler's lock; it is changed only with that lock held.

use crate::loom::atomic::{AtomicUsize, Ordering, fence};
use crossbeam_utils::CachePadded;

/// Idle-P and spinning-M counts.
pub struct Idle {
    npidle: CachePadded<AtomicUsize>,
    nmspinning: CachePadded<AtomicUsize>,
    procs: usize,
}

impl Idle {
    /// All `procs` Ps start idle, no M spins.
    pub fn new(procs: usize) -> Idle {
        Idle {
            npidle: CachePadded::new(AtomicUsize::new(procs)),
            nmspinning: CachePadded::new(AtomicUsize::new(0)),
            procs,
        }
    }

    /// Submitter side, after publishing work: true if the caller now owns the
    /// spinning slot and must start an M on an idle P (or give the slot back
    /// with [`Idle::stop_spinning`] if none is left).
    pub fn claim_wakeup(&self) -> bool {
        fence(Ordering::SeqCst);
        if self.npidle.load(Ordering::SeqCst) == 0 || self.nmspinning.load(Ordering::SeqCst) != 0 {
            return false;
        }
        self.nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Whether one more M may start spinning: at most half the busy Ps.
    pub fn may_spin(&self) -> bool {
        let busy = self.procs - self.npidle.load(Ordering::SeqCst);
        2 * self.nmspinning.load(Ordering::SeqCst) < busy
    }

    /// An M starts spinning.
    pub fn start_spinning(&self) {
        self.nmspinning.fetch_add(1, Ordering::SeqCst);
    }

    /// An M stops spinning; true if it was the last one. The fence orders the
    /// decrement before the caller's re-check of the queues.
    pub fn stop_spinning(&self) -> bool {
        let last = self.nmspinning.fetch_sub(1, Ordering::SeqCst) == 1;
        fence(Ordering::SeqCst);
        last
    }

    /// Ps on the idle list now (a snapshot, for traces).
    pub fn idle_ps(&self) -> usize {
        self.npidle.load(Ordering::Relaxed)
    }

    /// Ms spinning now (a snapshot, for traces).
    pub fn spinning_ms(&self) -> usize {
        self.nmspinning.load(Ordering::Relaxed)
    }

    /// A P went on the idle list (call with the list's lock held).
    pub fn p_idled(&self) {
        self.npidle.fetch_add(1, Ordering::SeqCst);
    }

    /// A P left the idle list (call with the list's lock held).
    pub fn p_taken(&self) {
        self.npidle.fetch_sub(1, Ordering::SeqCst);
    }
}
