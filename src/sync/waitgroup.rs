//! `WaitGroup`: Go's `sync.WaitGroup`.
//!
//! # What it guarantees
//! - `wait` returns once the counter is zero: at once if it is zero, else when
//!   the `add`/`done` that brings it to zero happens. Every waiter of that
//!   moment is woken, and the group is reusable as soon as they are.
//! - A counter that goes negative panics with Go's message, "sync: negative
//!   WaitGroup counter".
//!
//! # Protocol
//! The counter is one atomic, so `add` and `done` are one `fetch_add` each.
//! Waiters live in a slab under a mutex, with a *generation* number. The
//! `add` that brings the counter to zero takes the lock, bumps the generation
//! and takes the slab; a waiter whose generation has moved on is done, even
//! if the counter has since gone up again (the group was reused). A waiter
//! checks the counter again under the lock before it registers; the zeroing
//! `add` takes the lock after its `fetch_add`, so either the waiter sees zero
//! or the zeroing `add` sees the waiter.
//!
//! # Rejected
//! Go packs counter and waiter count into one 64-bit word and parks on a
//! runtime semaphore. Without a runtime semaphore to park on, the waiter list
//! needs a lock anyway; keeping the counter outside it keeps `done` (the hot
//! path of a fan-out) free of the lock except for the last one.

use crate::runtime::wait::{WaitReason, parked_on};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::loom::Mutex;
use crate::loom::atomic::{AtomicIsize, Ordering};

/// Waits for a collection of tasks to finish: Go's `sync.WaitGroup`.
///
/// Cloning gives another handle to the same group.
///
/// ```
/// use gort::sync::WaitGroup;
///
/// let wg = WaitGroup::new();
/// wg.add(2);
/// let w = wg.clone();
/// std::thread::spawn(move || { w.done(); w.done(); });
/// wg.wait_blocking();
/// ```
#[derive(Clone)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

struct Inner {
    count: AtomicIsize,
    waiters: Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    generation: u64,
    wakers: Slab<Waker>,
}

impl WaitGroup {
    /// A group with a zero counter.
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(Inner {
                count: AtomicIsize::new(0),
                waiters: Mutex::new(Waiters::default()),
            }),
        }
    }

    /// Adds `n` (which may be negative) to the counter; waking every waiter
    /// when it reaches zero.
    ///
    /// # Panics
    /// "sync: negative WaitGroup counter" if the counter goes below zero.
    pub fn add(&self, n: isize) {
        // Wrapping, as the atomic itself wraps: a counter pushed past
        // `isize::MAX` reads as negative and panics below with Go's words,
        // in debug builds too.
        let count = self
            .inner
            .count
            .fetch_add(n, Ordering::AcqRel)
            .wrapping_add(n);
        if count < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if count == 0 && n != 0 {
            self.inner.wake_all();
        }
    }

    /// Decrements the counter by one.
    ///
    /// # Panics
    /// "sync: negative WaitGroup counter" if the counter goes below zero.
    pub fn done(&self) {
        self.add(-1);
    }

    /// Waits until the counter is zero.
    pub async fn wait(&self) {
        Wait {
            inner: &self.inner,
            slot: None,
        }
        .await
    }

    /// Blocks this thread until the counter is zero. For plain threads; in a
    /// task use [`wait`](WaitGroup::wait).
    pub fn wait_blocking(&self) {
        crate::runtime::park::wait(self.wait());
    }

    /// Go 1.25's `wg.Go(f)`: adds one to the counter and runs `f` in a new
    /// task ([`go`](crate::go)) that calls [`done`](WaitGroup::done) when `f`
    /// returns. If `f` panics the task ends (the runtime catches the panic,
    /// as for any task) and `done` is still called, so `wait` cannot hang.
    pub fn go<F>(&self, f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        struct DoneOnDrop(WaitGroup);
        impl Drop for DoneOnDrop {
            fn drop(&mut self) {
                self.0.done();
            }
        }
        self.add(1);
        let done = DoneOnDrop(self.clone());
        drop(crate::go(async move {
            let _done = done;
            f.await
        }));
    }

    /// Waiters registered now, for leak tests.
    #[doc(hidden)]
    pub fn registered_waiters(&self) -> usize {
        self.inner.waiters.lock().wakers.len()
    }

    /// The current counter, for tests and debugging.
    #[doc(hidden)]
    pub fn count(&self) -> isize {
        self.inner.count.load(Ordering::Acquire)
    }
}

impl Inner {
    #[cold]
    fn wake_all(&self) {
        let mut waiters = self.waiters.lock();
        waiters.generation += 1;
        let wakers = std::mem::take(&mut waiters.wakers);
        drop(waiters);
        for (_, waker) in wakers {
            waker.wake();
        }
    }
}

/// The future of [`WaitGroup::wait`].
struct Wait<'a> {
    inner: &'a Inner,
    /// The generation we registered in and our slot in that generation's slab.
    slot: Option<(u64, usize)>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.slot.is_none() && this.inner.count.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        let mut waiters = this.inner.waiters.lock();
        match this.slot {
            Some((generation, _)) if generation != waiters.generation => {
                this.slot = None;
                Poll::Ready(())
            }
            Some((_, slot)) => {
                waiters.wakers[slot].clone_from(cx.waker());
                parked_on(WaitReason::WaitGroupWait);
                Poll::Pending
            }
            None if this.inner.count.load(Ordering::Acquire) == 0 => Poll::Ready(()),
            None => {
                let slot = waiters.wakers.insert(cx.waker().clone());
                this.slot = Some((waiters.generation, slot));
                parked_on(WaitReason::WaitGroupWait);
                Poll::Pending
            }
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some((generation, slot)) = self.slot.take() {
            let mut waiters = self.inner.waiters.lock();
            if waiters.generation == generation {
                waiters.wakers.remove(slot);
            }
        }
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}
