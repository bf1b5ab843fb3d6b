//! One place that picks std's or loom's synchronisation primitives, so that the
//! lock-free protocols can be model-checked with `RUSTFLAGS="--cfg gort_loom"`
//! (a cfg of our own: `--cfg loom` would also switch tokio and event-listener,
//! dev-dependencies that then fail to build).
//!
//! [`Mutex`] is `parking_lot`'s in normal builds (short critical sections,
//! no poisoning) and a thin wrapper over loom's under `--cfg gort_loom`, with the same
//! `lock()` signature so the code reads the same in both (the channels use
//! their own spin lock, `chan/lock.rs`, which is this mutex under loom).
//!
//! The context tree's cancellation nodes use std's `Arc` even under loom
//! (loom's has no `Weak`, and the tree needs weak child links); the
//! interleavings that matter there are those of their locks and atomics,
//! which loom does see. Its context nodes use [`Arc`], so loom sees which
//! thread drops a context last (a cancel function holds its context).

#[cfg(not(gort_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(gort_loom))]
pub(crate) use std::sync::atomic;

#[cfg(gort_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(gort_loom)]
pub(crate) use loom::sync::atomic;

#[cfg(gort_loom)]
pub(crate) use loom::cell;

/// `Arc::into_inner`: the value if this was the last reference. loom's `Arc`
/// has only `try_unwrap`, which may leave the value to a racing drop (it is
/// still dropped exactly once, by that drop).
#[cfg(not(gort_loom))]
pub(crate) fn arc_into_inner<T>(arc: Arc<T>) -> Option<T> {
    Arc::into_inner(arc)
}

#[cfg(gort_loom)]
pub(crate) fn arc_into_inner<T>(arc: Arc<T>) -> Option<T> {
    Arc::try_unwrap(arc).ok()
}

/// std's `UnsafeCell` behind loom's closure API (`with`, `with_mut`), so code
/// that loom checks for racing accesses reads the same in normal builds.
#[cfg(not(gort_loom))]
pub(crate) mod cell {
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        #[inline]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(not(gort_loom))]
pub(crate) use parking_lot::Mutex;

#[cfg(gort_loom)]
pub(crate) use self::loom_mutex::{Mutex, MutexGuard};

#[cfg(gort_loom)]
mod loom_mutex {
    /// loom's mutex behind `parking_lot`'s signature (no poisoning).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }

        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap()
        }
    }
}
