//! Synchronisation primitives beyond channels: Go's `sync` package, for what
//! channels do not express well. Today: [`WaitGroup`].
//!
//! ```
//! use gort::sync::WaitGroup;
//!
//! let wg = WaitGroup::new();
//! for _ in 0..4 {
//!     wg.add(1);
//!     let wg = wg.clone();
//!     std::thread::spawn(move || wg.done());
//! }
//! wg.wait_blocking();
//! ```

mod waitgroup;

pub use self::waitgroup::WaitGroup;
