//! A P's local run queue: Go's `runq`, a bounded ring with one owner and many
//! thieves.
//!
//! # Who touches what
//! - `tail` is written only by the owner (the M holding the P). Thieves read it
//!   with `Acquire` to learn how far the owner has published slots.
//! - `head` is advanced by CAS, by the owner (`pop`, `push_back`'s overflow) and
//!   by thieves (`steal_half_into`). A successful CAS of `head` from `h` to
//!   `h + n` is what takes ownership of the items in slots `h..h+n`; every read
//!   of a slot before that CAS is speculative and thrown away if the CAS fails.
//! - Slots are `AtomicPtr`s, so a speculative read that races with the owner
//!   refilling the slot is a stale value, never a data race. The owner only
//!   writes slot `t % CAP` when `t - head < CAP`, i.e. a slot nobody may take.
//!
//! # Invariants
//! - `0 <= tail - head <= CAP` (wrapping `u32` arithmetic).
//! - Items in `head..tail` are owned by the queue; each is taken exactly once,
//!   by whoever wins the CAS of `head` past it.
//!
//! When the ring is full, the owner moves half of it plus the new item to the
//! global queue in one batch (Go's `runqputslow`), so a burst of spawns costs
//! one global lock per `CAP / 2` tasks, and no allocation.

use crate::loom::atomic::{AtomicPtr, AtomicU32, Ordering};
use crossbeam_utils::CachePadded;

/// Ring capacity: Go's 256; loom models use 4 to keep the state space small.
#[cfg(not(gort_loom))]
pub const CAP: u32 = 256;
/// Ring capacity under loom: small, to keep the state space small.
#[cfg(gort_loom)]
pub const CAP: u32 = 4;

/// An item the queue can hold: an owning pointer that round-trips through
/// `*mut ()`.
pub trait QueueItem: Sized {
    /// Gives up ownership as a non-null pointer.
    fn into_raw(self) -> *mut ();
    /// # Safety
    /// `ptr` came from `into_raw` and ownership of it is transferred back once.
    unsafe fn from_raw(ptr: *mut ()) -> Self;
}

/// A P's local run queue (see the module docs for the protocol).
pub struct LocalQueue<T: QueueItem> {
    /// Next slot to take. Advanced by CAS (owner and thieves).
    head: CachePadded<AtomicU32>,
    /// Next slot to fill. Stored by the owner only, `Release`.
    tail: CachePadded<AtomicU32>,
    slots: Box<[AtomicPtr<()>]>,
    _items: std::marker::PhantomData<T>,
}

// SAFETY: items move between threads only through the head CAS protocol above,
// which hands each one to exactly one taker; T itself must be Send.
unsafe impl<T: QueueItem + Send> Send for LocalQueue<T> {}
// SAFETY: as above; all shared state is atomic.
unsafe impl<T: QueueItem + Send> Sync for LocalQueue<T> {}

impl<T: QueueItem> LocalQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        LocalQueue {
            head: CachePadded::new(AtomicU32::new(0)),
            tail: CachePadded::new(AtomicU32::new(0)),
            slots: (0..CAP)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            _items: std::marker::PhantomData,
        }
    }

    fn slot(&self, i: u32) -> &AtomicPtr<()> {
        &self.slots[(i % CAP) as usize]
    }

    /// Number of items, as seen by anyone (a snapshot).
    pub fn len(&self) -> u32 {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        tail.wrapping_sub(head)
    }

    /// True if the snapshot length is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Owner only: appends `item`; when the ring is full, moves half of it and
    /// `item` to `overflow` (Go's `runqput` / `runqputslow`).
    pub fn push_back(&self, item: T, overflow: impl FnOnce(Overflow<T>)) {
        let ptr = item.into_raw();
        loop {
            let head = self.head.load(Ordering::Acquire);
            // Only the owner stores tail, so a plain load sees its own last store.
            let tail = self.tail.load(Ordering::Relaxed);
            if tail.wrapping_sub(head) < CAP {
                self.slot(tail).store(ptr, Ordering::Relaxed);
                self.tail.store(tail.wrapping_add(1), Ordering::Release);
                return;
            }
            if let Some(batch) = self.take_half_for_overflow(head, ptr) {
                overflow(batch);
                return;
            }
            // A thief moved head meanwhile: there is room again, retry.
        }
    }

    #[cold]
    fn take_half_for_overflow(&self, head: u32, ptr: *mut ()) -> Option<Overflow<T>> {
        let n = CAP / 2;
        let mut ptrs = [ptr; OVERFLOW_LEN];
        for (i, p) in ptrs[..n as usize].iter_mut().enumerate() {
            *p = self
                .slot(head.wrapping_add(i as u32))
                .load(Ordering::Relaxed);
        }
        self.head
            .compare_exchange(
                head,
                head.wrapping_add(n),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .ok()?;
        // The CAS above took slots head..head+n; `ptr` (last) was never published.
        Some(Overflow {
            ptrs,
            next: 0,
            _items: std::marker::PhantomData,
        })
    }

    /// Owner only: takes the oldest item.
    pub fn pop(&self) -> Option<T> {
        loop {
            let head = self.head.load(Ordering::Acquire);
            let tail = self.tail.load(Ordering::Relaxed);
            if head == tail {
                return None;
            }
            let ptr = self.slot(head).load(Ordering::Relaxed);
            if self
                .head
                .compare_exchange(
                    head,
                    head.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                // SAFETY: the CAS took slot `head`; the owner does not overwrite
                // it while it lies in head..tail, so `ptr` is the item published there.
                return Some(unsafe { T::from_raw(ptr) });
            }
        }
    }

    /// Thief: moves half of `self`'s items into `dst` (which must be the thief's
    /// own, empty-enough queue) and returns one of them to run now (Go's
    /// `runqsteal`). Called by the owner of `dst` only.
    pub fn steal_half_into(&self, dst: &LocalQueue<T>) -> Option<T> {
        let dst_tail = dst.tail.load(Ordering::Relaxed);
        let n = self.grab_half(dst, dst_tail);
        if n == 0 {
            return None;
        }
        let last = dst_tail.wrapping_add(n - 1);
        let ptr = dst.slot(last).load(Ordering::Relaxed);
        if n > 1 {
            dst.tail.store(last, Ordering::Release);
        }
        // SAFETY: grab_half moved n owned pointers into dst's unpublished slots
        // dst_tail..dst_tail+n; the last one is not published, so it is ours.
        Some(unsafe { T::from_raw(ptr) })
    }

    /// Copies half of the items into `dst`'s slots from `dst_tail` on, and
    /// claims them by CAS of `head`. Returns how many were claimed.
    fn grab_half(&self, dst: &LocalQueue<T>, dst_tail: u32) -> u32 {
        loop {
            let head = self.head.load(Ordering::Acquire);
            let tail = self.tail.load(Ordering::Acquire);
            let len = tail.wrapping_sub(head);
            let n = len - len / 2;
            if n == 0 {
                return 0;
            }
            if n > CAP / 2 {
                // head and tail were read at different moments: read again.
                continue;
            }
            // The thief's own ring must have room; it steals only when empty.
            debug_assert!(dst_tail.wrapping_sub(dst.head.load(Ordering::Relaxed)) + n <= CAP);
            for i in 0..n {
                let ptr = self.slot(head.wrapping_add(i)).load(Ordering::Relaxed);
                dst.slot(dst_tail.wrapping_add(i))
                    .store(ptr, Ordering::Relaxed);
            }
            if self
                .head
                .compare_exchange(
                    head,
                    head.wrapping_add(n),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return n;
            }
        }
    }
}

const OVERFLOW_LEN: usize = CAP as usize / 2 + 1;

/// Half a full ring plus the item that did not fit, on its way to the global
/// queue: a fixed array, so overflowing allocates nothing.
pub struct Overflow<T: QueueItem> {
    /// Owned pointers from `into_raw`; those before `next` were handed out.
    ptrs: [*mut (); OVERFLOW_LEN],
    next: usize,
    _items: std::marker::PhantomData<T>,
}

impl<T: QueueItem> Iterator for Overflow<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let ptr = *self.ptrs.get(self.next)?;
        self.next += 1;
        // SAFETY: each pointer is owned by this batch (taken by the head CAS,
        // or never published) and handed out once, as `next` moves past it.
        Some(unsafe { T::from_raw(ptr) })
    }
}

impl<T: QueueItem> Drop for Overflow<T> {
    fn drop(&mut self) {
        self.for_each(drop);
    }
}

impl<T: QueueItem> Default for LocalQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Boxed integers stand in for tasks in the loom models.
#[cfg(gort_loom)]
impl QueueItem for Box<usize> {
    fn into_raw(self) -> *mut () {
        Box::into_raw(self).cast()
    }

    unsafe fn from_raw(ptr: *mut ()) -> Self {
        // SAFETY: ptr came from Box::into_raw above.
        unsafe { Box::from_raw(ptr.cast()) }
    }
}

impl<T: QueueItem> Drop for LocalQueue<T> {
    fn drop(&mut self) {
        while let Some(item) = self.pop() {
            drop(item);
        }
    }
}
