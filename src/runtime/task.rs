//! The task (Go's G): one allocation holding a header, the future, and then
//! its output.
//!
//! # Layout
//! `Task<F>` is `#[repr(C)]` with the [`Header`] first, inside an `Arc`. A
//! [`TaskRef`] is a thin pointer to the header that owns one strong count;
//! the header's vtable knows the concrete `F`, so run queues hold one word per
//! task and never box a trait object.
//!
//! # State machine
//! See `runtime/state.rs`: a task is queued at most once, polled by one
//! thread at a time, and a wake during a poll is remembered (`NOTIFIED`).
//!
//! # Output hand-off
//! The runner writes the stage, then sets `COMPLETE` with `Release`, then takes
//! the join waker under its lock and wakes it. The `JoinHandle` stores its waker
//! under the same lock, then reads `state` with `Acquire`: either it sees
//! `COMPLETE` or the runner's lock acquisition comes after its store and finds
//! the waker. Only the `JoinHandle` (never cloned) takes the output.

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
use std::task::{Context, Poll, Wake, Waker};

use parking_lot::Mutex;

use super::coop;
use super::queue::QueueItem;
use super::scheduler::{Shared, schedule};
use super::state::{Start, State};
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

impl std::fmt::Debug for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Panicked(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
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
    run: unsafe fn(NonNull<Header>) -> RunOutcome,
    cancel: unsafe fn(NonNull<Header>),
    /// Moves the output into `*mut Option<Result<F::Output, JoinError>>`.
    read_output: unsafe fn(NonNull<Header>, *mut ()),
    clone_ref: unsafe fn(NonNull<Header>),
    drop_ref: unsafe fn(NonNull<Header>),
}

/// The part of a task that does not depend on its future's type.
pub(crate) struct Header {
    state: State,
    vtable: &'static Vtable,
    pub(crate) shared: Arc<Shared>,
    join_waker: Mutex<Option<Waker>>,
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

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

#[repr(C)]
struct Task<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

// SAFETY: the stage is touched only by the thread holding RUNNING, or by the
// JoinHandle after COMPLETE was published with Release/Acquire; F and its
// output are Send.
unsafe impl<F: Future + Send> Sync for Task<F> where F::Output: Send {}

/// An owning, thin pointer to a task (one strong count).
pub(crate) struct TaskRef(NonNull<Header>);

// SAFETY: a TaskRef is an Arc<Task<F>> with F: Send + 'static, F::Output: Send.
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
    let task = Arc::new(Task {
        header: Header {
            state: State::new(),
            vtable: &Task::<F>::VTABLE,
            shared,
            join_waker: Mutex::new(None),
            spawned_at,
            wait: AtomicU64::new(0),
            id,
            registry_key: UnsafeCell::new(u32::MAX),
        },
        stage: UnsafeCell::new(Stage::Running(future)),
    });
    let queued = TaskRef::from_arc(task.clone());
    let handle = JoinHandle {
        task: TaskRef::from_arc(task),
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
    fn from_arc<F>(task: Arc<Task<F>>) -> TaskRef
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // SAFETY: Arc::into_raw is never null; Task is repr(C) with the header
        // first, so the pointer to the task is a pointer to its header.
        TaskRef(unsafe { NonNull::new_unchecked(Arc::into_raw(task) as *mut Header) })
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: we own a strong count, so the allocation is alive.
        unsafe { self.0.as_ref() }
    }

    /// Polls the task once (or cancels it if aborted).
    pub(crate) fn run(self) -> RunOutcome {
        // SAFETY: the vtable belongs to this task's type; `self` keeps it alive
        // for the call and is dropped after.
        unsafe { (self.header().vtable.run)(self.0) }
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
        // SAFETY: the vtable matches the allocation; we hold a count, so it lives.
        unsafe { (self.header().vtable.clone_ref)(self.0) };
        TaskRef(self.0)
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: we own exactly one strong count, given back here once.
        unsafe { (self.header().vtable.drop_ref)(self.0) }
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

/// Schedules a task woken from anywhere.
fn wake_task(task: TaskRef) {
    if task.header().state.wake() {
        schedule(task);
    }
}

impl<F> Wake for Task<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn wake(self: Arc<Self>) {
        wake_task(TaskRef::from_arc(self));
    }

    fn wake_by_ref(self: &Arc<Self>) {
        wake_task(TaskRef::from_arc(self.clone()));
    }
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
        clone_ref: Self::clone_ref,
        drop_ref: Self::drop_ref,
    };

    /// # Safety
    /// `ptr` points to the header of a live `Task<F>`.
    unsafe fn from_header<'a>(ptr: NonNull<Header>) -> &'a Task<F> {
        // SAFETY: repr(C), header first; the caller guarantees type and liveness.
        unsafe { ptr.cast::<Task<F>>().as_ref() }
    }

    unsafe fn clone_ref(ptr: NonNull<Header>) {
        // SAFETY: ptr came from Arc::into_raw of an Arc<Task<F>> still alive.
        unsafe { Arc::increment_strong_count(ptr.cast::<Task<F>>().as_ptr()) }
    }

    unsafe fn drop_ref(ptr: NonNull<Header>) {
        // SAFETY: gives back one count taken by into_raw / clone_ref.
        unsafe { Arc::decrement_strong_count(ptr.cast::<Task<F>>().as_ptr()) }
    }

    unsafe fn run(ptr: NonNull<Header>) -> RunOutcome {
        // SAFETY: the caller's TaskRef keeps the task alive for this call.
        let task = unsafe { Self::from_header(ptr) };
        if task.header.state.start_run() == Start::Cancel {
            task.finish(Err(JoinError::Aborted));
            return RunOutcome::Done;
        }
        // SAFETY: the TaskRef that called us owns a count for the whole poll; a
        // ManuallyDrop waker borrows it without touching the count (Waker::from
        // an Arc stores the same pointer).
        let waker = ManuallyDrop::new(Waker::from(unsafe {
            Arc::from_raw(ptr.cast::<Task<F>>().as_ptr())
        }));
        let mut cx = Context::from_waker(&waker);
        let polled = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: we hold RUNNING, so the stage is ours alone.
            let stage = unsafe { &mut *task.stage.get() };
            let Stage::Running(future) = stage else {
                unreachable!("gort: a task was polled after it finished")
            };
            // SAFETY: the future lives in the task's Arc allocation and is
            // dropped in place (`finish`), never moved: it stays pinned.
            let future = unsafe { Pin::new_unchecked(future) };
            wait::recording(|| coop::with_budget(|| future.poll(&mut cx)))
        }));
        match polled {
            Ok((Poll::Ready(output), _)) => task.finish(Ok(output)),
            Err(payload) => task.finish(Err(JoinError::Panicked(payload))),
            Ok((Poll::Pending, reason)) => {
                task.header.record_wait(reason);
                return task.after_pending(ptr);
            }
        }
        RunOutcome::Done
    }

    /// Leaves RUNNING after a `Pending` poll.
    fn after_pending(&self, ptr: NonNull<Header>) -> RunOutcome {
        let header = &self.header;
        // SAFETY: we hold RUNNING, the only access to registry_key.
        let key = unsafe { &mut *header.registry_key.get() };
        if *key == u32::MAX {
            // Parked tasks are reachable only through wakers; the registry lets
            // shutdown find and drop them.
            // SAFETY: ptr is this live task; the registry takes its own count.
            *key = header.shared.registry.insert(unsafe {
                Self::clone_ref(ptr);
                TaskRef(ptr)
            });
        }
        if header.state.after_pending() {
            // SAFETY: a new count for the queue that will hold the task.
            unsafe { Self::clone_ref(ptr) };
            RunOutcome::Yielded(TaskRef(ptr))
        } else {
            RunOutcome::Parked
        }
    }

    /// Drops the future, stores the result, publishes COMPLETE, wakes the
    /// joiner. The caller holds RUNNING.
    fn finish(&self, result: Result<F::Output, JoinError>) {
        // The future is pinned: it is dropped in place, never moved out first
        // (a self-referential future, e.g. one parked in `select!`, would run
        // its destructor through dangling pointers). Dropping it may panic; it
        // must still count as finished.
        // SAFETY: the caller holds RUNNING, so the stage is ours; it is
        // dropped exactly once here and overwritten below without a drop.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            std::ptr::drop_in_place(self.stage.get())
        }));
        let result = match (result, dropped) {
            (Err(JoinError::Aborted), Err(payload)) => Err(JoinError::Panicked(payload)),
            (result, _) => result,
        };
        // SAFETY: still RUNNING; nobody else reads the stage before COMPLETE,
        // and the old stage was dropped above (`write` does not drop it again).
        unsafe { std::ptr::write(self.stage.get(), Stage::Finished(result)) };
        // SAFETY: we hold RUNNING, the only access to registry_key.
        let key = unsafe { *self.header.registry_key.get() };
        // Counted as finished before anyone can observe COMPLETE: a joiner
        // that returns must not still see this task in num_goroutines.
        self.header.shared.task_finished();
        self.header.state.complete();
        if key != u32::MAX {
            drop(self.header.shared.registry.remove(key));
        }
        if let Some(waker) = self.header.join_waker.lock().take() {
            waker.wake();
        }
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
        // SAFETY: called by the JoinHandle after it saw COMPLETE (Acquire).
        let task = unsafe { Self::from_header(ptr) };
        // SAFETY: COMPLETE is final and only the one JoinHandle reads the stage.
        let stage = unsafe { std::mem::replace(&mut *task.stage.get(), Stage::Consumed) };
        let Stage::Finished(result) = stage else {
            panic!("gort: JoinHandle polled after it returned its output");
        };
        // SAFETY: the JoinHandle<F::Output> passes a matching destination.
        unsafe { *dst.cast::<Option<Result<F::Output, JoinError>>>() = Some(result) };
    }
}

/// A handle to a spawned task: await it (or [`join`](JoinHandle::join) it from
/// a plain thread) for the task's output. Dropping it detaches the task.
pub struct JoinHandle<T> {
    task: TaskRef,
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
            schedule(self.task.clone());
        }
    }

    /// Blocks the calling thread until the task finishes. For plain threads;
    /// inside a gort task use `.await`.
    pub fn join(self) -> Result<T, JoinError> {
        super::block_on_here(self, None)
    }

    fn try_take(&self) -> Option<Result<T, JoinError>> {
        if !self.task.header().state.is_complete() {
            return None;
        }
        let mut out: Option<Result<T, JoinError>> = None;
        // SAFETY: COMPLETE was seen with Acquire; T is the task's output type
        // (JoinHandle<F::Output> is only made by new_task).
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
        {
            let mut slot = self.task.header().join_waker.lock();
            match &*slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        match self.try_take() {
            Some(out) => Poll::Ready(out),
            None => {
                wait::parked_on(WaitReason::TaskJoin);
                Poll::Pending
            }
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
    use super::Header;

    /// The per-task cost the issue bounds: "well under 100 bytes".
    #[test]
    fn a_task_header_stays_small() {
        let header = std::mem::size_of::<Header>();
        println!("task header: {header} bytes (+16 for the Arc counts)");
        assert!(header <= 72, "task header grew to {header} bytes");
    }
}
