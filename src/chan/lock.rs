//! The channel lock: a spin lock with randomised exponential back-off, for a
//! lock held for a few dozen instructions.
//!
//! - **Unlock is a plain `Release` store**, so an uncontended operation costs
//!   one locked instruction, not two (`parking_lot::Mutex` unlocks with a
//!   second read-modify-write; swapping it out made chan_spsc 42% faster).
//! - **Back-off after a failed attempt**: wait 16, 32, … 1024 spin hints, each
//!   plus a random jitter, then `yield_now` and start over. When two cores
//!   work one channel, retrying at once makes every critical section pay for
//!   cache lines pulled back and forth; backing off lets the holder's core
//!   run several operations with the lines local. On 2 procs this took
//!   chan_mpmc from 75–100 to 20–35 ns a message and chan_unbuffered_mpmc
//!   from about 190 to 60–90 ns (`perf`: a third of the time had been spent
//!   in contended locking). Randomness keeps two waiters out of lockstep.
//!   One round of back-off is about 3,000 spin hints (some 80 µs on the CI
//!   machine) before the thread yields; it never sleeps (kanal's lock, after
//!   spinning, sleeps up to a millisecond).
//! - Why spinning is safe here: critical sections never block, never call
//!   user code (wakers are woken after unlocking) and allocate only when a
//!   buffer grows, so a waiter waits only for the holder's short run;
//!   `yield_now` covers a holder that lost its CPU.
//!
//! Under loom it is loom's mutex: the models check the channel protocol,
//! not this lock.

#[cfg(not(gort_loom))]
mod imp {
    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A spin lock around `T`. `repr(C)`: the lock word comes first, on
    /// the line with `T`'s first fields (see `Chan`).
    #[derive(Debug, Default)]
    #[repr(C)]
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
            let mut backoff = MIN_BACKOFF;
            loop {
                if !self.locked.load(Ordering::Relaxed)
                    && self
                        .locked
                        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                {
                    return;
                }
                if backoff > MAX_BACKOFF {
                    std::thread::yield_now();
                    backoff = MIN_BACKOFF;
                    continue;
                }
                // The jitter keeps two waiters from retrying in lockstep.
                let jitter = crate::chan::random::random_below(backoff as usize) as u32;
                for _ in 0..backoff + jitter {
                    std::hint::spin_loop();
                }
                backoff *= 2;
            }
        }
    }

    /// Spin hints of the first back-off, then doubled up to `MAX_BACKOFF`.
    const MIN_BACKOFF: u32 = 16;
    const MAX_BACKOFF: u32 = 1024;

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
