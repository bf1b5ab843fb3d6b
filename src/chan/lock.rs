//! The channel lock: a test-and-test-and-set spin lock that yields the
//! thread when it spins too long (kanal's choice for a lock held for a few
//! dozen instructions).
//!
//! Why not `parking_lot::Mutex`: its unlock is a second atomic
//! read-modify-write on the lock word; here unlocking is a plain `Release`
//! store, so an uncontended operation costs one locked instruction, not two.
//! Critical sections never block, never call user code (wakers are woken
//! after unlocking) and allocate only when a buffer grows, so a spinner waits
//! only for the holder's short run; `yield_now` covers a holder that lost its
//! CPU.
//!
//! Under loom it is loom's mutex: the models check the channel protocol,
//! not this lock.

#[cfg(not(gort_loom))]
mod imp {
    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Spins before the first `yield_now`: a few hundred nanoseconds, longer
    /// than any critical section of a channel.
    const SPINS: u32 = 100;

    /// A spin lock around `T`.
    #[derive(Debug, Default)]
    pub(crate) struct SpinLock<T> {
        locked: AtomicBool,
        value: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out `&mut T` to one thread at a time.
    unsafe impl<T: Send> Send for SpinLock<T> {}
    // SAFETY: as above; `T` moves between threads with the guard.
    unsafe impl<T: Send> Sync for SpinLock<T> {}

    impl<T> SpinLock<T> {
        pub(crate) fn new(value: T) -> SpinLock<T> {
            SpinLock {
                locked: AtomicBool::new(false),
                value: UnsafeCell::new(value),
            }
        }

        #[inline]
        pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                self.lock_contended();
            }
            SpinGuard { lock: self }
        }

        #[cold]
        #[inline(never)]
        fn lock_contended(&self) {
            let mut spins = 0;
            loop {
                // Read until it looks free (the line stays shared meanwhile):
                // spin a little, then yield the thread.
                while self.locked.load(Ordering::Relaxed) {
                    if spins < SPINS {
                        spins += 1;
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                if self
                    .locked
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }

    /// Holds the lock; unlocks when dropped.
    pub(crate) struct SpinGuard<'a, T> {
        lock: &'a SpinLock<T>,
    }

    impl<T> Deref for SpinGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            // SAFETY: the guard holds the lock.
            unsafe { &*self.lock.value.get() }
        }
    }

    impl<T> DerefMut for SpinGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: the guard holds the lock.
            unsafe { &mut *self.lock.value.get() }
        }
    }

    impl<T> Drop for SpinGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            self.lock.locked.store(false, Ordering::Release);
        }
    }
}

#[cfg(gort_loom)]
mod imp {
    pub(crate) type SpinLock<T> = crate::loom::Mutex<T>;
    pub(crate) type SpinGuard<'a, T> = crate::loom::MutexGuard<'a, T>;
}

pub(crate) use imp::{SpinGuard, SpinLock};
