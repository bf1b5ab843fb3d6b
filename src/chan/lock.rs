//! The channel lock: a spin lock with randomised exponential back-off, for a
//! lock held for a few dozen instructions.
//!
//! - **Unlock is a plain `Release` store**, so an uncontended operation costs
//!   one locked instruction, not two (`parking_lot::Mutex` unlocks with a
//!   second read-modify-write; swapping it out made chan_spsc 42% faster).
//! - **Back-off after a failed attempt**: wait 16, then 32 spin hints, each
//!   plus a random jitter, retrying after each. When two cores work one
//!   channel, retrying at once makes every critical section pay for cache
//!   lines pulled back and forth; backing off lets the holder's core run
//!   several operations with the lines local. On 2 procs this took
//!   chan_mpmc from 75–100 to 20–35 ns a message and chan_unbuffered_mpmc
//!   from about 190 to 60–90 ns (`perf`: a third of the time had been spent
//!   in contended locking). Randomness keeps two waiters out of lockstep.
//! - **Then sleep `SLEEP`** (50 µs; Linux's default timer slack makes it
//!   about 100) and start over. Spinning alone leaves two cores trading the
//!   channel for good: each keeps stealing the other's tasks when its own
//!   park, so both always work the one lock. A waiter that sleeps leaves the
//!   holder's core alone with the channel, and the sleeping thread does not
//!   go stealing meanwhile. On chan_mpmc (2 procs, 1M messages) a few dozen
//!   sleeps cut steals from about 400 to about 25 and the time from 17–30
//!   to 10–14 ns a message; in alternated criterion runs chan_mpmc went from
//!   21.6–31.2 to 19.5–25.1 ms and chan_unbuffered_mpmc from 7.9–11.2 to
//!   8.1–8.5 ms (later runs of the same code: 8.9–12.3 ms, still
//!   straddling kanal), with chan_spsc and select_two unchanged (they
//!   rarely contend).
//!   *The price*: while it sleeps, the tasks queued on its P wait (other Ms
//!   may steal them). Go pays the same: its channel lock is a runtime mutex,
//!   and a contended one puts the M to sleep in the kernel holding its P;
//!   kanal's lock sleeps up to a millisecond. Measured, the price did not
//!   show: with 4+4 tasks working one channel on 2 procs and a plain thread
//!   waking another task every 200 µs, that task's wake latency had a p99 of
//!   60–64 µs against 90–99 µs when spinning on, and a worst case of
//!   120–263 µs against 1.4–4.0 ms (three 3-second runs of each).
//! - Why spinning first is safe: critical sections never block, never call
//!   user code (wakers are woken after unlocking) and allocate only when a
//!   buffer grows, so a waiter waits only for the holder's short run; the
//!   sleep covers a holder that lost its CPU.
//!
//! Under loom it is loom's mutex: the models check the channel protocol,
//! not this lock.

#[cfg(not(gort_loom))]
mod imp {
    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

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
                    std::thread::sleep(SLEEP);
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
    const MAX_BACKOFF: u32 = 32;
    /// How long a waiter sleeps once its back-off is spent (module docs).
    const SLEEP: Duration = Duration::from_micros(50);

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
