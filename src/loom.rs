//! One place that picks std's or loom's synchronisation primitives, so that the
//! lock-free protocols can be model-checked with `RUSTFLAGS="--cfg loom"`.
//!
//! [`Mutex`] is parking_lot's outside loom and a thin wrapper over loom's under
//! it, with the same infallible `lock()`, so code that locks reads the same
//! either way. `Arc` stays std's: loom's has no `Weak`, and the context tree
//! needs weak child links; the interleavings that matter are those of the
//! locks and atomics, which loom does see.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic;

#[cfg(loom)]
pub(crate) use loom::sync::atomic;

#[cfg(not(loom))]
pub(crate) use parking_lot::Mutex;

#[cfg(loom)]
pub(crate) use self::loom_mutex::Mutex;

#[cfg(loom)]
mod loom_mutex {
    /// loom's mutex with parking_lot's signature: `lock()` cannot fail.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }

        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap()
        }
    }
}
