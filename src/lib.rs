//! # gort — Go's concurrency model in one crate
//!
//! Goroutine-like tasks on a work-stealing M:N scheduler built the way Go's
//! runtime is (G, M, P), CSP channels (bounded and truly unbuffered), a
//! `select!` with Go's exactly-once semantics, a cancellation/deadline
//! [`context::Context`] tree, and [`errgroup::Group`], [`sync::WaitGroup`] and a
//! weighted [`semaphore::Weighted`].
//!
//! ```
//! use std::time::Duration;
//! use gort::{chan, select};
//!
//! let total = gort::run(async {
//!     let (tx, rx) = chan::unbuffered::<u32>();
//!     gort::go(async move {
//!         for i in 1..=3 {
//!             tx.send(i).await.unwrap(); // returns once a receiver has it
//!         }
//!     }); // tx dropped: the channel closes
//!     let mut total = 0;
//!     loop {
//!         select! {
//!             recv(rx) -> v => match v { Some(v) => total += v, None => break },
//!             recv(gort::time::after(Duration::from_secs(1))) -> _ => panic!("stalled"),
//!         }
//!     }
//!     total
//! });
//! assert_eq!(total, 6);
//! ```
//!
//! Layers, each module opening with what it guarantees: [`runtime`] (G, M,
//! P, timers, sysmon) ← [`chan`] and `select!` ← [`context`], [`sync`],
//! [`errgroup`], [`semaphore`].
#![warn(missing_docs)]

mod loom;

pub mod chan;
pub mod context;
pub mod errgroup;
pub mod runtime;
mod select;
pub mod semaphore;
pub mod sync;
pub mod testing;
pub mod time;

pub use chan::{Select, Selected};
pub use runtime::{
    Builder, JoinError, JoinHandle, Metrics, Runtime, blocking, go, num_goroutines, run,
    spawn_blocking, yield_now,
};

/// Hooks for gort's own tests; not part of the API.
#[doc(hidden)]
pub mod __internal {
    pub use crate::runtime::timer::pending_timers;
}

/// The lock-free pieces, exposed to the loom models in `tests/loom_*.rs`.
#[cfg(gort_loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::runtime::idle::Idle;
    pub use crate::runtime::queue::{CAP, LocalQueue, QueueItem};
    pub use crate::runtime::state::{JoinWaker, Live, Start, State, TakeOutput, WakeByVal};
}

/// The README's example runs as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
