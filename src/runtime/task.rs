//! The task (Go's G): one allocation holding a header, the future, and then
//! its output.
//!
//! # Layout
//! `Task<F>` is `#[repr(C)]` with the [`Header`] first, in one `Box`
//! allocation (no `Arc`: the reference count lives in the state word, and
//! there are no weak references). A [`TaskRef`] is a thin pointer to the
//! header that owns one reference; the header's vtable knows the concrete `F`,
//! so run queues hold one word per task and never box a trait object. A
//! task's `Waker` is the same pointer with one reference, behind one shared
//! `RawWakerVTable`. Whoever gives back the last reference drops the whole
//! `Task<F>` (header, future or output, join waker) and frees it.
//!
//! # Stage
//! The future and then its output share one untagged `union` (an enum would
//! need a separate tag: an `async` block has no niche, so that tag cost 8
//! bytes, often a whole 16-byte malloc step, in every task). Which field is
//! live is told by the state word alone:
//! - `COMPLETE` unset: the future. Only the thread holding `RUNNING` touches
//!   it; `finish` drops it in place (never moves it: it is pinned), writes
//!   the output, and only then sets `COMPLETE`. Nothing between the drop and
//!   the write can panic, and a panic in the future's drop is caught, so the
//!   runner never leaves the stage dropped but not `COMPLETE`.
//! - `COMPLETE` set, `OUTPUT_TAKEN` unset: the output. The `JoinHandle`
//!   claims it with one CAS that sets `OUTPUT_TAKEN` (`State::take_output`),
//!   then moves it out (`read_output`).
//! - both set: nothing.
//!
//! Freeing (`dealloc`) reads the word after the last reference is given
//! back. Every writer of the stage holds a reference while it writes: the
//! runner (its `TaskRef`) until after `complete`, the handle until
//! `drop_handle` gives its reference back, after `take_output` and
//! `read_output`. The `AcqRel` decrement that takes the count to zero thus
//! comes after those writes and after `OUTPUT_TAKEN` in the word's order, so
//! the freeing thread sees the flags final and drops exactly the live field
//! (the future of a task that never finished, or an output nobody took, e.g.
//! a detached task's), or nothing.
//!
//! # State machine
//! See `runtime/state.rs`: a task is queued at most once, polled by one
//! thread at a time, and a wake during a poll is remembered (`NOTIFIED`).
//!
//! # Output hand-off
//! The runner writes the output, then sets `COMPLETE` with `Release`, then
//! wakes the join waker if `JOIN_WAKER` was set. The `JoinHandle` stores its
//! waker and sets `JOIN_WAKER` in one CAS that fails once `COMPLETE` is set:
//! either the runner's `COMPLETE` comes after that CAS and finds the waker, or
//! the handle sees `COMPLETE` (`Acquire`) and reads the output itself. The
//! waker slot has no lock; `runtime/state.rs` (`JoinWaker`) gives the
//! protocol. Only the `JoinHandle` (never cloned) takes the output, after
//! setting `OUTPUT_TAKEN` (`Acquire`: it sees the output).

use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::coop;
use super::queue::QueueItem;
use super::scheduler::{Shared, schedule};
use super::state::{JoinWaker, Live, Start, State, TakeOutput, WakeByVal};
use super::wait::{self, WaitReason};

/// Why a task produced no output.
#[derive(thiserror::Error)]
pub enum JoinError {
    /// The task panicked; this is the panic payload.
    #[error("task panicked")]
    Panicked(Box<dyn Any + Send>),
    /// The task was aborted (or its runtime shut down) before it finished.
    #[error("task was aborted")]
    Aborted,
}

/// The text a `&str` or `String` behind `value` holds: a panic payload's
/// message, an errgroup error that can become a context cause.
pub(crate) fn text_of(value: &dyn Any) -> Option<&str> {
    value
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| value.downcast_ref::<String>().map(String::as_str))
}

impl std::fmt::Debug for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Panicked(payload) => {
                let msg = text_of(payload.as_ref());
                f.debug_tuple("Panicked")
                    .field(&msg.unwrap_or(".."))
                    .finish()
            }
            JoinError::Aborted => f.write_str("Aborted"),
        }
    }
}

impl JoinError {
    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// True if the task was aborted.
    pub fn is_aborted(&self) -> bool {
        matches!(self, JoinError::Aborted)
    }
}

/// What the runner did with a task, for the scheduler's bookkeeping.
pub(crate) enum RunOutcome {
    /// Finished (output, panic or abort), or was already complete.
    Done,
    /// Returned `Pending` and nobody woke it yet.
    Parked,
    /// Woken while it ran (`yield_now` or a wake racing the poll): queue it again.
    Yielded(TaskRef),
}

struct Vtable {
    /// Takes over one reference: hands it back in `Yielded`, else drops it.
    run: unsafe fn(NonNull<Header>) -> RunOutcome,
    cancel: unsafe fn(NonNull<Header>),
    /// Moves the output into `*mut Option<Result<F::Output, JoinError>>`;
    /// the caller just won `State::take_output`.
    read_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the `Task<F>` and frees it; the count has reached zero.
    dealloc: unsafe fn(NonNull<Header>),
}

/// The part of a task that does not depend on its future's type.
pub(crate) struct Header {
    /// Flags and the reference count (`runtime/state.rs`).
    state: State,
    vtable: &'static Vtable,
    pub(crate) shared: Arc<Shared>,
    /// The `JoinHandle`'s waker, guarded by the state word.
    join_waker: JoinWaker,
    pub(crate) spawned_at: &'static Location<'static>,
    /// Why and since when it last parked: `WaitReason << 56 | µs since the
    /// runtime started`. Written by the runner, read by `dump`.
    wait: AtomicU64,
    /// Sequence number in its runtime (Go's goroutine id), for dumps.
    pub(crate) id: u32,
    /// Key in the runtime's registry of parked tasks, `u32::MAX` if absent.
    /// Touched only by the thread that holds `RUNNING` (or claims the task to
    /// cancel it).
    registry_key: UnsafeCell<u32>,
}

/// What `dump` reports of one task.
pub(crate) struct TaskInfo {
    pub(crate) id: u32,
    pub(crate) spawned_at: &'static Location<'static>,
    pub(crate) state: TaskState,
    pub(crate) reason: WaitReason,
    pub(crate) since_us: u64,
}

/// A task's scheduling state, as `dump` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskState {
    Running,
    Runnable,
    Waiting,
    Finished,
}

/// The future, then its output: which field is live is told by the state
/// word (see "Stage" in the module docs and `state::Live`), never by a tag.
union Stage<F: Future> {
    future: ManuallyDrop<F>,
    output: ManuallyDrop<Result<F::Output, JoinError>>,
}

#[repr(C)]
struct Task<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

// SAFETY: the stage is touched only by the thread holding RUNNING, by the
// JoinHandle after COMPLETE was published with Release/Acquire and it claimed
// the output (OUTPUT_TAKEN), or by the freeing thread; F and its output are
// Send.
unsafe impl<F: Future + Send> Sync for Task<F> where F::Output: Send {}

/// An owning, thin pointer to a task (one reference).
pub(crate) struct TaskRef(NonNull<Header>);

// SAFETY: a TaskRef is a counted reference to a Task<F> with F: Send +
// 'static, F::Output: Send; the count is atomic.
unsafe impl Send for TaskRef {}
// SAFETY: as above; shared access goes through the atomic state.
unsafe impl Sync for TaskRef {}

/// Allocates a task for `future`, scheduled on `shared`; returns the reference
/// to queue and the handle to join it.
pub(crate) fn new_task<F>(
    future: F,
    shared: Arc<Shared>,
    spawned_at: &'static Location<'static>,
    id: u32,
) -> (TaskRef, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = Box::new(Task {
        header: Header {
            // Two references: `queued` and `handle` below.
            state: State::new(),
            vtable: &Task::<F>::VTABLE,
            shared,
            join_waker: JoinWaker::new(),
            spawned_at,
            wait: AtomicU64::new(0),
            id,
            registry_key: UnsafeCell::new(u32::MAX),
        },
        // COMPLETE is unset: the future is the live field.
        stage: UnsafeCell::new(Stage {
            future: ManuallyDrop::new(future),
        }),
    });
    // SAFETY: Box::into_raw is never null; Task is repr(C) with the header
    // first, so the pointer to the task is a pointer to its header. The box
    // is given back by `Task::<F>::dealloc` when the count reaches zero.
    let ptr = unsafe { NonNull::new_unchecked(Box::into_raw(task).cast::<Header>()) };
    let queued = TaskRef(ptr);
    let handle = JoinHandle {
        task: ManuallyDrop::new(TaskRef(ptr)),
        _output: PhantomData,
    };
    (queued, handle)
}

impl Header {
    fn record_wait(&self, reason: WaitReason) {
        let us = self.shared.coarse_now_us() & ((1 << 56) - 1);
        self.wait
            .store((reason as u64) << 56 | us, Ordering::Relaxed);
    }

    /// A snapshot for `dump` and the deadlock detector.
    pub(crate) fn info(&self) -> TaskInfo {
        let (running, scheduled, complete) = self.state.snapshot();
        let wait = self.wait.load(Ordering::Relaxed);
        TaskInfo {
            id: self.id,
            spawned_at: self.spawned_at,
            state: if complete {
                TaskState::Finished
            } else if running {
                TaskState::Running
            } else if scheduled {
                TaskState::Runnable
            } else {
                TaskState::Waiting
            },
            reason: WaitReason::from_u8((wait >> 56) as u8),
            since_us: wait & ((1 << 56) - 1),
        }
    }
}

impl TaskRef {
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: we own a reference, so the allocation is alive.
        unsafe { self.0.as_ref() }
    }

    /// Polls the task once (or cancels it if aborted). Our reference goes
    /// with the call: it comes back in [`RunOutcome::Yielded`], for the
    /// queue, and is dropped otherwise.
    pub(crate) fn run(self) -> RunOutcome {
        let this = ManuallyDrop::new(self);
        // SAFETY: the vtable belongs to this task's type; the reference passes
        // to the call, which keeps the task alive with it.
        unsafe { (this.header().vtable.run)(this.0) }
    }

    /// Drops the future in place if nobody is running it and it has not
    /// finished; its JoinHandle then yields `Aborted`. Used at shutdown.
    pub(crate) fn cancel_now(self) {
        // SAFETY: as in `run`.
        unsafe { (self.header().vtable.cancel)(self.0) }
    }

    pub(crate) fn as_ptr(&self) -> *mut () {
        self.0.as_ptr().cast()
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        self.header().state.ref_inc();
        TaskRef(self.0)
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // We own exactly one reference, given back here once.
        if self.header().state.ref_dec() {
            // SAFETY: that was the last reference: nobody else can reach the
            // task, and the AcqRel decrement ordered every other holder's use
            // before this. The vtable matches the allocation.
            unsafe { (self.header().vtable.dealloc)(self.0) }
        }
    }
}

impl QueueItem for TaskRef {
    fn into_raw(self) -> *mut () {
        ManuallyDrop::new(self).0.as_ptr().cast()
    }

    unsafe fn from_raw(ptr: *mut ()) -> TaskRef {
        // SAFETY: the caller passes a pointer from `into_raw`, non-null.
        TaskRef(unsafe { NonNull::new_unchecked(ptr.cast()) })
    }
}

/// One vtable for every task's `Waker`: the data pointer is the task's header
/// and owns one reference, exactly as a `TaskRef` does.
static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// A `Waker` that owns the reference `task` owned.
fn into_waker(task: TaskRef) -> Waker {
    let raw = RawWaker::new(ManuallyDrop::new(task).0.as_ptr().cast(), &WAKER_VTABLE);
    // SAFETY: the four functions below keep RawWaker's contract: the pointer
    // owns one reference, which keeps the task alive, and they are thread-safe
    // (the count and the state are atomic; the task is Send + Sync).
    unsafe { Waker::from_raw(raw) }
}

/// The reference a waker's data pointer owns.
///
/// # Safety
/// `ptr` comes from `into_waker` (or `waker_clone`) and its reference has not
/// been given back.
unsafe fn waker_task(ptr: *const ()) -> ManuallyDrop<TaskRef> {
    // SAFETY: the caller's pointer is a non-null task header.
    ManuallyDrop::new(TaskRef(unsafe {
        NonNull::new_unchecked(ptr.cast_mut().cast())
    }))
}

unsafe fn waker_clone(ptr: *const ()) -> RawWaker {
    // SAFETY: called on a live waker, which owns a reference.
    let task = unsafe { waker_task(ptr) };
    task.header().state.ref_inc();
    RawWaker::new(ptr, &WAKER_VTABLE)
}

unsafe fn waker_wake(ptr: *const ()) {
    // SAFETY: `wake` consumes the waker and its reference.
    let task = ManuallyDrop::into_inner(unsafe { waker_task(ptr) });
    match task.header().state.wake_by_val() {
        // The reference goes to the queue.
        WakeByVal::Schedule => schedule(task),
        // The transition already gave the reference back.
        WakeByVal::Done => std::mem::forget(task),
        WakeByVal::Free => {
            let task = ManuallyDrop::new(task);
            // SAFETY: the reference we gave back was the last one (see
            // `TaskRef::drop`).
            unsafe { (task.header().vtable.dealloc)(task.0) }
        }
    }
}

unsafe fn waker_wake_by_ref(ptr: *const ()) {
    // SAFETY: called on a live waker, which owns a reference it keeps.
    let task = unsafe { waker_task(ptr) };
    if task.header().state.wake_by_ref() {
        // wake_by_ref took a reference for the queue.
        schedule(TaskRef(task.0));
    }
}

unsafe fn waker_drop(ptr: *const ()) {
    // SAFETY: `drop` gives back the waker's reference, once.
    drop(ManuallyDrop::into_inner(unsafe { waker_task(ptr) }));
}

impl<F> Task<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    const VTABLE: Vtable = Vtable {
        run: Self::run,
        cancel: Self::cancel,
        read_output: Self::read_output,
        dealloc: Self::dealloc,
    };

    /// # Safety
    /// `ptr` points to the header of a live `Task<F>`.
    unsafe fn from_header<'a>(ptr: NonNull<Header>) -> &'a Task<F> {
        // SAFETY: repr(C), header first; the caller guarantees type and liveness.
        unsafe { ptr.cast::<Task<F>>().as_ref() }
    }

    /// # Safety
    /// The count of the `Task<F>` at `ptr` has reached zero (the caller gave
    /// back the last reference).
    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: `ptr` came from Box::into_raw of a Box<Task<F>> in
        // `new_task`, and with the count at zero nobody else can reach it.
        let task = unsafe { Box::from_raw(ptr.cast::<Task<F>>().as_ptr()) };
        let stage = task.stage.get();
        // The stage's fields are ManuallyDrop: dropping the Box frees the
        // memory and drops the header only. If the drop below panics, the
        // Box is still dropped while unwinding, and the field is not dropped
        // again (whatever the panicking drop left is leaked).
        match task.header.state.live_at_free() {
            // SAFETY: not COMPLETE: the future is live (the runner sets
            // COMPLETE only after writing the output over the dropped
            // future), and we own the task; it is dropped in place, once.
            Live::Future => unsafe { ManuallyDrop::drop(&mut (*stage).future) },
            // SAFETY: COMPLETE and not OUTPUT_TAKEN: the output is live and
            // nobody will take it (the handle is gone); dropped once.
            Live::Output => unsafe { ManuallyDrop::drop(&mut (*stage).output) },
            Live::Nothing => {}
        }
        drop(task);
    }

    /// Owns the caller's reference (see [`TaskRef::run`]).
    unsafe fn run(ptr: NonNull<Header>) -> RunOutcome {
        // Dropped when this returns, unless it goes back to a queue.
        let runner = TaskRef(ptr);
        // SAFETY: `runner` keeps the task alive for this call.
        let task = unsafe { Self::from_header(ptr) };
        if task.header.state.start_run() == Start::Cancel {
            task.finish(Err(JoinError::Aborted));
            return RunOutcome::Done;
        }
        // `runner` owns a reference for the whole poll; a ManuallyDrop waker
        // borrows it without touching the count (clones of it take their own).
        let waker = ManuallyDrop::new(into_waker(TaskRef(ptr)));
        let mut cx = Context::from_waker(&waker);
        let polled = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: we hold RUNNING, so the stage is ours alone, and
            // `start_run` found COMPLETE unset, so the future is its live
            // field. It lives in the task's Box allocation and is dropped in
            // place (`finish`, `dealloc`), never moved: it stays pinned.
            let future = unsafe { Pin::new_unchecked(&mut *(*task.stage.get()).future) };
            wait::recording(|| coop::with_budget(|| future.poll(&mut cx)))
        }));
        match polled {
            Ok((Poll::Ready(output), _)) => task.finish(Ok(output)),
            Err(payload) => task.finish(Err(JoinError::Panicked(payload))),
            Ok((Poll::Pending, reason)) => {
                task.header.record_wait(reason);
                // `runner` is dropped here, not in `after_pending`: once the
                // task is idle, another M may run it to completion, and our
                // drop may then free it, which must not happen while a
                // method still holds `&self`.
                return if task.after_pending(ptr) {
                    RunOutcome::Yielded(runner)
                } else {
                    RunOutcome::Parked
                };
            }
        }
        RunOutcome::Done
    }

    /// Leaves RUNNING after a `Pending` poll; `true` if the task was woken
    /// meanwhile and must run again.
    fn after_pending(&self, ptr: NonNull<Header>) -> bool {
        let header = &self.header;
        // SAFETY: we hold RUNNING, the only access to registry_key.
        let key = unsafe { &mut *header.registry_key.get() };
        if *key == u32::MAX {
            // Parked tasks are reachable only through wakers; the registry lets
            // shutdown find and drop them.
            // The registry takes its own reference.
            header.state.ref_inc();
            *key = header.shared.registry.insert(TaskRef(ptr));
        }
        header.state.after_pending()
    }

    /// Drops the future, stores the result, publishes COMPLETE, wakes the
    /// joiner. The caller holds RUNNING.
    fn finish(&self, result: Result<F::Output, JoinError>) {
        // The future is pinned: it is dropped in place, never moved out first
        // (a self-referential future, e.g. one parked in `select!`, would run
        // its destructor through dangling pointers). Dropping it may panic; it
        // must still count as finished.
        //
        // From the drop below until `complete`, the stage holds neither a
        // live future nor a published output, so nothing in between may
        // unwind: the drop's panic is caught, a second panic payload is only
        // dropped after COMPLETE, and the rest cannot panic.
        let stage = self.stage.get();
        // SAFETY: the caller holds RUNNING and COMPLETE is unset, so the
        // future is the live field and ours alone; it is dropped in place
        // exactly once here (after a panic in its drop it counts as dropped:
        // what it did not drop is leaked, never dropped again).
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut (*stage).future)
        }));
        let (result, extra_payload) = match (result, dropped) {
            (Err(JoinError::Aborted), Err(payload)) => (Err(JoinError::Panicked(payload)), None),
            (result, Err(payload)) => (result, Some(payload)),
            (result, Ok(())) => (result, None),
        };
        // SAFETY: still RUNNING; nobody else reads the stage before COMPLETE.
        // Assigning a ManuallyDrop union field drops nothing (the future was
        // dropped above).
        unsafe { (*stage).output = ManuallyDrop::new(result) };
        // SAFETY: we hold RUNNING, the only access to registry_key.
        let key = unsafe { *self.header.registry_key.get() };
        // Counted as finished before anyone can observe COMPLETE: a joiner
        // that returns must not still see this task in num_goroutines. (A
        // relaxed decrement: it cannot panic.)
        self.header.shared.task_finished();
        let completed = self.header.state.complete();
        if key != u32::MAX {
            drop(self.header.shared.registry.remove(key));
        }
        // SAFETY: we just set COMPLETE, once, and pass its result.
        unsafe {
            self.header
                .join_waker
                .wake_after_complete(&self.header.state, completed)
        };
        // The future's drop panicked after the poll had ended (with output or
        // panic): that payload has nowhere to go. Dropped last, when the stage
        // is already consistent, in case its own drop panics.
        drop(extra_payload);
    }

    unsafe fn cancel(ptr: NonNull<Header>) {
        // SAFETY: the caller's TaskRef keeps the task alive.
        let task = unsafe { Self::from_header(ptr) };
        if !task.header.state.claim_to_cancel() {
            return;
        }
        task.finish(Err(JoinError::Aborted));
    }

    unsafe fn read_output(ptr: NonNull<Header>, dst: *mut ()) {
        // SAFETY: called by the JoinHandle, which holds a reference.
        let task = unsafe { Self::from_header(ptr) };
        // SAFETY: the caller won `take_output`: COMPLETE was seen (Acquire),
        // so the output is the live field, and OUTPUT_TAKEN is now set by us
        // alone, so nobody else reads or drops it; it is moved out once.
        let result = unsafe { ManuallyDrop::take(&mut (*task.stage.get()).output) };
        // SAFETY: the JoinHandle<F::Output> passes a matching destination.
        unsafe { *dst.cast::<Option<Result<F::Output, JoinError>>>() = Some(result) };
    }
}

/// A handle to a spawned task: await it (or [`join`](JoinHandle::join) it from
/// a plain thread) for the task's output. Dropping it detaches the task.
pub struct JoinHandle<T> {
    /// Its reference is given back by `JoinWaker::drop_handle`.
    task: ManuallyDrop<TaskRef>,
    _output: PhantomData<fn() -> T>,
}

impl<T> JoinHandle<T> {
    /// True once the task has finished (returned, panicked or been aborted).
    pub fn is_finished(&self) -> bool {
        self.task.header().state.is_complete()
    }

    /// Asks the task to stop: it is dropped at its next yield point (at once if
    /// it is waiting) and its handle yields [`JoinError::Aborted`]. A task that
    /// already finished keeps its output.
    pub fn abort(&self) {
        if self.task.header().state.abort() {
            schedule(TaskRef::clone(&self.task));
        }
    }

    /// Blocks the calling thread until the task finishes. For plain threads;
    /// inside a gort task use `.await`.
    pub fn join(self) -> Result<T, JoinError> {
        super::block_on_here(self, None)
    }

    fn try_take(&self) -> Option<Result<T, JoinError>> {
        match self.task.header().state.take_output() {
            TakeOutput::Pending => return None,
            TakeOutput::AlreadyTaken => {
                panic!("gort: JoinHandle polled after it returned its output")
            }
            TakeOutput::Take => {}
        }
        let mut out: Option<Result<T, JoinError>> = None;
        // SAFETY: we won take_output (COMPLETE seen with Acquire, OUTPUT_TAKEN
        // set by us); T is the task's output type (JoinHandle<F::Output> is
        // only made by new_task).
        unsafe { (self.task.header().vtable.read_output)(self.task.0, (&raw mut out).cast()) };
        out
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        std::task::ready!(coop::poll_proceed(cx));
        if let Some(out) = self.try_take() {
            return Poll::Ready(out);
        }
        let header = self.task.header();
        // SAFETY: we are the task's one JoinHandle (never cloned), and `poll`
        // takes `&mut self`, so no other call of ours runs concurrently.
        if unsafe { header.join_waker.register(&header.state, cx.waker()) } {
            let out = self.try_take();
            debug_assert!(out.is_some(), "register saw COMPLETE");
            if let Some(out) = out {
                return Poll::Ready(out);
            }
        }
        wait::parked_on(WaitReason::TaskJoin);
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let header = self.task.header();
        // SAFETY: we are the task's one JoinHandle, dropped once, after any
        // `register`, and own one reference (ManuallyDrop: given back here).
        if unsafe { header.join_waker.drop_handle(&header.state) } {
            // SAFETY: that was the last reference (see `TaskRef::drop`).
            unsafe { (header.vtable.dealloc)(self.task.0) }
        }
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("spawned_at", &self.task.header().spawned_at)
            .field("finished", &self.is_finished())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{Header, Stage, Task};

    /// The per-task cost the issue bounds: "well under 100 bytes". The
    /// header is the whole overhead of a task's allocation (no Arc counts).
    #[test]
    fn a_task_header_stays_small() {
        let header = std::mem::size_of::<Header>();
        println!("task header: {header} bytes");
        assert!(header <= 64, "task header grew to {header} bytes");
    }

    /// A task that returns at once (`spawn_join`'s) is the header plus its
    /// stage: 88 bytes, a 96-byte malloc chunk (it was 16 + 72 + 24 = 112).
    #[test]
    fn a_small_task_is_one_small_allocation() {
        let task = std::mem::size_of::<Task<std::future::Ready<u64>>>();
        println!("task of a Ready<u64>: {task} bytes");
        assert!(task <= 88, "a small task grew to {task} bytes");
    }

    /// A future with no niche (as every `async` block): the stage is the
    /// bigger of future and output, with no tag on top (an enum stage was 8
    /// bytes more).
    #[test]
    fn the_stage_of_a_future_without_a_niche_costs_nothing_more() {
        struct NoNiche {
            _data: [u64; 4],
            _state: u8,
        }
        impl std::future::Future for NoNiche {
            type Output = u64;
            fn poll(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<u64> {
                std::task::Poll::Ready(0)
            }
        }
        let future = std::mem::size_of::<NoNiche>();
        let stage = std::mem::size_of::<Stage<NoNiche>>();
        println!("future {future} bytes, stage {stage} bytes");
        assert!(
            stage <= future,
            "the stage ({stage}) outgrew its future ({future})"
        );
        assert_eq!(
            std::mem::size_of::<Task<NoNiche>>(),
            std::mem::size_of::<Header>() + future
        );
    }
}
