//! Go's `context`: a tree of contexts that carries cancellation, deadlines and
//! request-scoped values.
//!
//! ```
//! use gort::context::{Context, ContextError};
//!
//! let root = Context::background();
//! let (parent, cancel) = root.with_cancel();
//! let (child, _cancel_child) = parent.with_timeout(std::time::Duration::from_secs(60));
//! let worker = gort::go(async move {
//!     gort::select! {
//!         recv(child.done()) -> _ => child.err(),
//!         recv(gort::time::after(std::time::Duration::from_secs(60))) -> _ => None,
//!     }
//! });
//! cancel.cancel(); // flows down to `child`, never up to `root`
//! assert_eq!(worker.join().unwrap(), Some(ContextError::Canceled));
//! assert_eq!(root.err(), None);
//! ```
//!
//! # What it guarantees (Go 1.27's rules)
//! - Cancellation flows from a context to every descendant, synchronously: when
//!   `cancel()` returns, every descendant reports `err()`. It never flows
//!   upward or sideways.
//! - The first cancellation wins: later ones change neither `err()` nor
//!   `cause()`. A child cancelled by its parent inherits the parent's error and
//!   cause.
//! - `err()` is `Some` exactly when `done()` is closed: the error is stored
//!   before the channel is closed, and an `err()` that sees an error whose
//!   close is still in progress waits for it (as Go's `Err` does).
//! - A child's deadline is never later than its parent's: a child whose parent
//!   ends first arms no timer of its own; a deadline already past cancels the
//!   new context with `DeadlineExceeded` before it is returned.
//! - Dropping every handle of a derived context (the [`Context`] clones, its
//!   [`CancelFunc`], [`AfterFunc`] handles) releases what it registered: its
//!   entry in the parent's child list and its deadline timer, even if `cancel`
//!   is never called. Go needs `defer cancel()` for this; here it is RAII. Two
//!   things keep a context registered as Go's child set does: a pending
//!   [`Context::after_func`], until the function runs or is stopped, and a
//!   live [`Context::done`] receiver, until it is dropped. So `done` is closed
//!   by a cancellation (a cancel, the deadline, an ancestor's), never because
//!   the handles of its context went away while a task still watches it.
//!
//! # Protocol
//! Each cancellable context owns a `CancelCtx`: an atomic error code, and a
//! mutex over its cause, its deadline timer, the `done` sender, its link to the
//! nearest cancellable ancestor, and a slab of *entries*: weak links to
//! cancellable children, pending after-funcs, and wakers of crate-internal
//! waits (the semaphore, errgroup). There is no global lock: every lock guards
//! one node, and no code path holds two node locks except derivation, which
//! locks the parent and initialises the (not yet shared) child inside it.
//!
//! Cancel takes the node's lock, stores the cause, publishes the error, closes
//! `done`, *takes the whole entry slab* and unlinks the node from its parent,
//! then releases the lock and works through the taken entries: children are
//! pushed on an explicit stack (a deep tree cannot overflow the thread's stack),
//! wakers are woken, after-funcs are spawned. Each node is locked once, so
//! cancelling a tree of n contexts is O(n) with no lock held across nodes, and
//! a waiter is woken by the channel close of its own node, not by a broadcast
//! on a shared lock.
//!
//! Entry slots are removed by exactly one party: the owner of the slot (a child
//! unlinking itself on its own cancel or drop, a stopped after-func, a dropped
//! wait) or the parent's cancel, which drains the slab wholesale. After a
//! cancel the slab stays empty forever (deriving from a cancelled context
//! registers nothing), so a late `try_remove` of a slot whose slab was
//! drained finds nothing and cannot remove someone else's entry.
//!
//! # Invariants
//! - `state != LIVE` ⇔ the node was cancelled; it is written under the
//!   node's lock, after `cause` is set: once with the error before `done` is
//!   closed, once more with `CLOSED` added after.
//! - A node's slab is empty once it is cancelled.
//! - The parent holds its children weakly; a timer callback holds its node
//!   weakly. Only handles (and descendants, through their parent link, a
//!   pending after-func and the receivers of `done`, as in Go where the
//!   parent's child set keeps it) keep a node alive.
//! - `done`'s channel holds its node (a *keep-alive*) only while the node's
//!   handle count is zero, the channel is open, and a receiver other than
//!   the node's own lives. It is set by the last handle's drop and taken by
//!   the drop of the last such receiver (`Sender::watch`), each checking the
//!   other's count under the channel's lock, or by the close; so the cycle
//!   through the node's `done_tx` lasts only while a task watches `done`,
//!   and a `select!` loop over `ctx.done()` with the context alive never
//!   touches it.
//!
//! # Rejected
//! - One lock for the whole tree: cancelling one subtree would serialise with
//!   every derive and every `err()` in the process.
//! - Strong child links (Go's `children map`): a child that is never cancelled
//!   would live as long as its parent; Go relies on `go vet` to insist on
//!   `defer cancel()`; Rust has `Drop`.
//! - A broadcast `Condvar`/notify per tree: every waiter would contend on one
//!   lock when the root is cancelled (the thundering herd the issue forbids).

use crate::runtime::wait::{WaitReason, parked_on};
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

/// The context nodes' `Arc`: loom's under loom, so models see which thread
/// drops a context last (cancellation nodes keep std's, for `Weak`).
use crate::loom::Arc as NodeArc;
use crate::loom::Mutex;
use crate::loom::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use crate::runtime::timer::{self, TimerKey};

/// Why a context ended: Go's `context.Canceled` and `context.DeadlineExceeded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ContextError {
    /// The context was cancelled (its `CancelFunc` or an ancestor's was called).
    #[error("context canceled")]
    Canceled,
    /// The context's deadline passed.
    #[error("context deadline exceeded")]
    DeadlineExceeded,
}

/// The reason given for a cancellation: Go's `context.Cause`.
///
/// When no cause is given, a context's cause is its [`ContextError`], so it
/// displays as the error does ("context canceled").
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// A typed key for [`Context::with_value`].
///
/// A key's identity is the address of the `'static` it lives in: two keys with
/// the same name are different keys, and a key of another `T` never matches.
///
/// ```
/// use gort::context::{Context, Key};
/// static USER: Key<String> = Key::new("user");
/// let ctx = Context::background().with_value(&USER, "gopher".to_string());
/// assert_eq!(ctx.value(&USER).map(String::as_str), Some("gopher"));
/// ```
///
/// A key must be a `static`: a `const` has no address of its own (each
/// `&CONST` may be a different copy, so a value set through one use would
/// silently not be found through another), and is refused at compile time:
///
/// ```compile_fail,E0716
/// use gort::context::{Context, Key};
/// const USER: Key<String> = Key::new("user");
/// let ctx = Context::background().with_value(&USER, "gopher".to_string());
/// ```
pub struct Key<T> {
    name: &'static str,
    _type: PhantomData<fn() -> T>,
}

impl<T> Key<T> {
    /// A key named `name` (the name is for debugging only).
    pub const fn new(name: &'static str) -> Key<T> {
        Key {
            name,
            _type: PhantomData,
        }
    }

    /// The name given to [`Key::new`].
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn id(&'static self) -> usize {
        self as *const Key<T> as usize
    }
}

/// Does nothing, but having it keeps the compiler from promoting `&CONST`
/// or `&Key::new(..)` to a `'static` of its own: a key that is not a
/// `static` does not compile (see [`Key`]).
impl<T> Drop for Key<T> {
    fn drop(&mut self) {}
}

impl<T> fmt::Debug for Key<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Key").field(&self.name).finish()
    }
}

/// A context: a cancellation signal, an optional deadline and a set of values,
/// shared by a tree of tasks. Cheap to clone (one reference count).
///
/// See the [module documentation](self) for the rules it follows.
#[derive(Clone)]
pub struct Context {
    node: NodeArc<Node>,
}

struct Node {
    /// For value lookup and `Debug`; `None` for the roots.
    parent: Option<Context>,
    /// The nearest cancellable context at or above this one; `None` if this
    /// context can never be cancelled (background, todo, `without_cancel`).
    cancel: Option<Handle>,
    kind: Kind,
}

enum Kind {
    Background,
    Todo,
    Cancel,
    Value {
        key: usize,
        name: &'static str,
        value: Box<dyn Any + Send + Sync>,
    },
    WithoutCancel,
}

/// Cancels the context it was returned with. Cloning it gives another handle
/// to the same cancellation.
///
/// It holds that context, as Go's cancel function closes over its
/// `cancelCtx`: the context's memory lives while either is held, so tasks
/// that drop their contexts as they finish free nothing while the cancel
/// functions are still held (freeing on another core than the one that
/// allocated is what made cancelling a tree slower on 2 procs than on 1).
#[derive(Clone)]
pub struct CancelFunc {
    ctx: Context,
}

/// Cancels the context it was returned with, recording a cause. It holds
/// that context, as [`CancelFunc`] does.
#[derive(Clone)]
pub struct CancelCauseFunc {
    ctx: Context,
}

/// The handle of a function registered with [`Context::after_func`].
pub struct AfterFunc {
    shared: Arc<AfterFuncShared>,
    /// Where it is registered; `None` when the context can never be cancelled
    /// or already was.
    registered: Option<(Arc<CancelCtx>, usize)>,
}

const LIVE: u8 = 0;
const CANCELED: u8 = 1;
const DEADLINE_EXCEEDED: u8 = 2;
/// Set in `state` once `done` is closed.
const CLOSED: u8 = 4;
/// An entry table with more slots than this is freed once empty: it held a
/// burst of children, and a small one is not worth a free.
const BURST: usize = 64;

/// The state of one cancellable context (Go's `cancelCtx` / `timerCtx`).
struct CancelCtx {
    /// `LIVE`, then `CANCELED` or `DEADLINE_EXCEEDED` (stored before `done` is
    /// closed), then the same with `CLOSED` set (stored after). Both stores
    /// happen under `inner`; see `err`.
    state: AtomicU8,
    /// The effective deadline: this context's or the nearest ancestor's.
    deadline: Option<Instant>,
    inner: Mutex<Inner>,
    /// The receiver handed out by `done()`, made on first use.
    done: OnceLock<crate::chan::Receiver<()>>,
    /// Live [`Handle`]s: the context nodes through which `done()` can be
    /// asked for or the context cancelled.
    handles: AtomicUsize,
}

/// A counted reference to a [`CancelCtx`], held by the nodes of the
/// contexts that can reach it: its own node (which its cancel functions
/// hold too) and value contexts over it. When the last one goes while tasks
/// still hold receivers of `done`, the channel keeps the node alive
/// (`CancelCtx::last_handle_gone`), so that `done` still closes on a
/// cancellation (the deadline, an ancestor's cancel), not when the node is
/// freed; it lets go once those receivers are gone.
struct Handle(Arc<CancelCtx>);

impl Handle {
    fn new(core: Arc<CancelCtx>) -> Handle {
        core.handles.fetch_add(1, Ordering::Relaxed);
        Handle(core)
    }
}

impl Clone for Handle {
    fn clone(&self) -> Handle {
        Handle::new(Arc::clone(&self.0))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.0.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.last_handle_gone();
        }
    }
}

impl std::ops::Deref for Handle {
    type Target = Arc<CancelCtx>;
    fn deref(&self) -> &Arc<CancelCtx> {
        &self.0
    }
}

struct Inner {
    cause: Option<Cause>,
    entries: Slab<Entry>,
    /// The nearest cancellable ancestor and this node's slot in its entries.
    parent: Option<(Arc<CancelCtx>, usize)>,
    timer: Option<TimerKey>,
    /// Closed on cancellation; `None` before `done()` was first called and after
    /// cancellation. Its channel may keep this node alive (module docs).
    done_tx: Option<crate::chan::Sender<()>>,
}

enum Entry {
    Child(Weak<CancelCtx>),
    /// A pending after-func, and the node it is registered on: a pending
    /// after-func keeps its context alive, as Go's child set does.
    AfterFunc {
        shared: Arc<AfterFuncShared>,
        _pin: Arc<CancelCtx>,
    },
    Waker(Waker),
}

struct AfterFuncShared {
    /// Set by whichever of cancel and `stop` comes first.
    claimed: AtomicBool,
    f: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl ContextError {
    fn code(self) -> u8 {
        match self {
            ContextError::Canceled => CANCELED,
            ContextError::DeadlineExceeded => DEADLINE_EXCEEDED,
        }
    }

    fn from_code(code: u8) -> Option<ContextError> {
        match code & !CLOSED {
            CANCELED => Some(ContextError::Canceled),
            DEADLINE_EXCEEDED => Some(ContextError::DeadlineExceeded),
            _ => None,
        }
    }
}

impl Context {
    /// The root of every context tree: never cancelled, no deadline, no
    /// values. Go's `context.Background()`.
    pub fn background() -> Context {
        Context::root(Kind::Background)
    }

    /// One background context for the whole process, for callers that only
    /// borrow one: making one allocates, and `errgroup` would otherwise make
    /// one per limited `go` (a third of its allocations, callgrind).
    pub(crate) fn shared_background() -> &'static Context {
        static SHARED: OnceLock<Context> = OnceLock::new();
        SHARED.get_or_init(Context::background)
    }

    /// Like [`background`](Context::background), for code that has not decided
    /// which context to use yet. Go's `context.TODO()`.
    pub fn todo() -> Context {
        Context::root(Kind::Todo)
    }

    fn root(kind: Kind) -> Context {
        Context {
            node: NodeArc::new(Node {
                parent: None,
                cancel: None,
                kind,
            }),
        }
    }

    /// A child that is cancelled when `cancel` is called or when this context
    /// is. Go's `context.WithCancel`.
    pub fn with_cancel(&self) -> (Context, CancelFunc) {
        let ctx = self.derive_cancel(self.deadline()).0;
        (ctx.clone(), CancelFunc { ctx })
    }

    /// Like [`with_cancel`](Context::with_cancel), with a cancel function that
    /// records a cause. Go's `context.WithCancelCause`.
    pub fn with_cancel_cause(&self) -> (Context, CancelCauseFunc) {
        let ctx = self.derive_cancel(self.deadline()).0;
        (ctx.clone(), CancelCauseFunc { ctx })
    }

    /// A child that is also cancelled, with `DeadlineExceeded`, at `at`. If
    /// this context's deadline is earlier, the child simply inherits it (no
    /// timer of its own). Go's `context.WithDeadline`.
    pub fn with_deadline(&self, at: Instant) -> (Context, CancelFunc) {
        self.with_deadline_inner(at, None)
    }

    /// [`with_deadline`](Context::with_deadline) at now + `d`. Go's
    /// `context.WithTimeout`.
    pub fn with_timeout(&self, d: Duration) -> (Context, CancelFunc) {
        self.with_deadline_inner(deadline_after(d), None)
    }

    /// Like [`with_deadline`](Context::with_deadline); when the deadline fires,
    /// `cause()` reports `cause`. Go's `context.WithDeadlineCause`.
    pub fn with_deadline_cause(&self, at: Instant, cause: Cause) -> (Context, CancelFunc) {
        self.with_deadline_inner(at, Some(cause))
    }

    /// Like [`with_timeout`](Context::with_timeout); when the deadline fires,
    /// `cause()` reports `cause`. Go's `context.WithTimeoutCause`.
    pub fn with_timeout_cause(&self, d: Duration, cause: Cause) -> (Context, CancelFunc) {
        self.with_deadline_inner(deadline_after(d), Some(cause))
    }

    fn with_deadline_inner(&self, at: Instant, cause: Option<Cause>) -> (Context, CancelFunc) {
        if let Some(current) = self.deadline()
            && current < at
        {
            // The parent ends first: its cancellation reaches us anyway.
            return self.with_cancel();
        }
        let (ctx, core) = self.derive_cancel(Some(at));
        if at <= Instant::now() {
            core.cancel(true, ContextError::DeadlineExceeded, cause);
        } else {
            core.arm_timer(at, cause);
        }
        (ctx.clone(), CancelFunc { ctx })
    }

    /// A child that carries `v` under `key`; every other lookup goes on to
    /// this context. Go's `context.WithValue`.
    pub fn with_value<T: Send + Sync + 'static>(&self, key: &'static Key<T>, v: T) -> Context {
        Context {
            node: NodeArc::new(Node {
                parent: Some(self.clone()),
                cancel: self.node.cancel.clone(),
                kind: Kind::Value {
                    key: key.id(),
                    name: key.name,
                    value: Box::new(v),
                },
            }),
        }
    }

    /// The value stored under `key` by this context or the nearest ancestor
    /// that has one. Go's `ctx.Value(key)`.
    pub fn value<T: Send + Sync + 'static>(&self, key: &'static Key<T>) -> Option<&T> {
        let id = key.id();
        let mut node: &Node = &self.node;
        loop {
            if let Kind::Value { key, value, .. } = &node.kind
                && *key == id
            {
                return value.downcast_ref::<T>();
            }
            node = &node.parent.as_ref()?.node;
        }
    }

    /// A child with this context's values that is never cancelled and has no
    /// deadline. Go's `context.WithoutCancel`.
    pub fn without_cancel(&self) -> Context {
        Context {
            node: NodeArc::new(Node {
                parent: Some(self.clone()),
                cancel: None,
                kind: Kind::WithoutCancel,
            }),
        }
    }

    /// Arranges for `f` to run in its own task ([`go`](crate::go)) once this
    /// context is done (at once if it already is). Go's `context.AfterFunc`.
    /// `f` should not block the thread for long: hand such work to
    /// [`spawn_blocking`](crate::spawn_blocking).
    ///
    /// Each call registers independently. Until it runs or is stopped, a
    /// pending `f` keeps this context registered with its parent, as in Go.
    pub fn after_func(&self, f: impl FnOnce() + Send + 'static) -> AfterFunc {
        let shared = Arc::new(AfterFuncShared {
            claimed: AtomicBool::new(false),
            f: Mutex::new(Some(Box::new(f))),
        });
        let mut handle = AfterFunc {
            shared: shared.clone(),
            registered: None,
        };
        let Some(core) = &self.node.cancel else {
            return handle;
        };
        let mut inner = core.inner.lock();
        if core.is_cancelled() {
            drop(inner);
            shared.fire();
        } else {
            let slot = inner.entries.insert(Entry::AfterFunc {
                shared,
                _pin: Arc::clone(core),
            });
            handle.registered = Some((Arc::clone(core), slot));
        }
        handle
    }

    /// A channel that is closed when this context is cancelled: receive from
    /// it in `select!`. Never ready for a context that cannot be cancelled.
    /// Go's `ctx.Done()`.
    pub fn done(&self) -> crate::chan::Receiver<()> {
        match &self.node.cancel {
            None => crate::chan::never(),
            Some(core) => core.done(),
        }
    }

    /// `None` while the context is live; why it ended once it is done. Go's
    /// `ctx.Err()`.
    pub fn err(&self) -> Option<ContextError> {
        self.node.cancel.as_ref().and_then(|core| core.err())
    }

    /// The cause of the cancellation: the one given to a
    /// [`CancelCauseFunc`] or a `*_cause` deadline, else the error itself.
    /// `None` while live. Go's `context.Cause(ctx)`.
    pub fn cause(&self) -> Option<Cause> {
        let core = self.node.cancel.as_ref()?;
        if !core.is_cancelled() {
            return None;
        }
        core.inner.lock().cause.clone()
    }

    /// When this context will be cancelled by a deadline, if it has one. Go's
    /// `ctx.Deadline()`.
    pub fn deadline(&self) -> Option<Instant> {
        self.node.cancel.as_ref().and_then(|core| core.deadline)
    }

    /// A cancellable child with the given effective deadline, linked to the
    /// nearest cancellable ancestor (or cancelled at once if that is done).
    fn derive_cancel(&self, deadline: Option<Instant>) -> (Context, Arc<CancelCtx>) {
        let core = match &self.node.cancel {
            None => Arc::new(CancelCtx::new(deadline, None)),
            Some(parent) => parent.new_child(deadline),
        };
        let ctx = Context {
            node: NodeArc::new(Node {
                parent: Some(self.clone()),
                cancel: Some(Handle::new(core.clone())),
                kind: Kind::Cancel,
            }),
        };
        (ctx, core)
    }

    /// Cancels the node of a context made by `derive_cancel` (the one a
    /// cancel function holds), with its subtree.
    fn cancel_own(&self, err: ContextError, cause: Option<Cause>) {
        debug_assert!(matches!(self.node.kind, Kind::Cancel));
        if let Some(core) = &self.node.cancel {
            core.cancel(true, err, cause);
        }
    }

    /// Polls for this context's cancellation, registering `cx`'s waker in
    /// `wait`; the registration is removed when `wait` is dropped.
    pub(crate) fn poll_cancelled(
        &self,
        wait: &mut CancelWait,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<()> {
        match &self.node.cancel {
            None => Poll::Pending,
            Some(core) => core.poll_cancelled(wait, cx.waker()),
        }
    }

    /// Number of live entries (children, after-funcs, waits) registered on
    /// this context's cancellation node, for leak tests.
    #[doc(hidden)]
    pub fn registered_entries(&self) -> usize {
        self.node
            .cancel
            .as_ref()
            .map_or(0, |core| core.inner.lock().entries.len())
    }

    /// Whether this context's own deadline timer is armed, for leak tests.
    #[doc(hidden)]
    pub fn has_timer(&self) -> bool {
        self.node
            .cancel
            .as_ref()
            .is_some_and(|core| core.inner.lock().timer.is_some())
    }
}

fn deadline_after(d: Duration) -> Instant {
    Instant::now()
        .checked_add(d)
        .unwrap_or_else(crate::time::far_future)
}

impl CancelCtx {
    fn new(deadline: Option<Instant>, parent: Option<(Arc<CancelCtx>, usize)>) -> CancelCtx {
        CancelCtx {
            state: AtomicU8::new(LIVE),
            deadline,
            inner: Mutex::new(Inner {
                cause: None,
                entries: Slab::new(),
                parent,
                timer: None,
                done_tx: None,
            }),
            done: OnceLock::new(),
            handles: AtomicUsize::new(0),
        }
    }

    fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) != LIVE
    }

    /// Go's rule both ways: `done` closed ⇒ `err()` is `Some` (the error is
    /// stored before the close), and `err()` is `Some` ⇒ `done` is closed: an
    /// error seen without `CLOSED` means a cancel is between its two stores,
    /// holding `inner`; taking the lock waits it out (Go's `Err` waits on
    /// `Done` for the same reason).
    fn err(&self) -> Option<ContextError> {
        let state = self.state.load(Ordering::Acquire);
        if state != LIVE && state & CLOSED == 0 {
            drop(self.inner.lock());
        }
        ContextError::from_code(state)
    }

    /// A child of `self`: registered in our entries, or cancelled with our
    /// error and cause if we are done.
    fn new_child(self: &Arc<Self>, deadline: Option<Instant>) -> Arc<CancelCtx> {
        let mut inner = self.inner.lock();
        // Under the lock no cancel is half done: the plain load is enough
        // (and `err()` would wait for the lock we hold).
        if let Some(err) = ContextError::from_code(self.state.load(Ordering::Acquire)) {
            let cause = inner.cause.clone();
            drop(inner);
            let child = Arc::new(CancelCtx::new(deadline, None));
            child.cancel(false, err, cause);
            return child;
        }
        // The child is initialised under our lock, with its slot already
        // known, so our cancel can never see a half-linked child.
        Arc::new_cyclic(|weak| {
            let slot = inner.entries.insert(Entry::Child(weak.clone()));
            CancelCtx::new(deadline, Some((self.clone(), slot)))
        })
    }

    fn arm_timer(self: &Arc<Self>, at: Instant, cause: Option<Cause>) {
        let mut inner = self.inner.lock();
        if self.is_cancelled() {
            return;
        }
        let weak = Arc::downgrade(self);
        inner.timer = Some(timer::call_at(at, move || {
            if let Some(core) = weak.upgrade() {
                core.cancel(true, ContextError::DeadlineExceeded, cause);
            }
        }));
    }

    /// A receiver of this context's `done` channel, made on first use. The
    /// node keeps one receiver itself and hands out clones; the channel is
    /// marked *watched*, so it can keep the node alive for its other
    /// receivers once the last [`Handle`] is gone (`last_handle_gone`).
    fn done(&self) -> crate::chan::Receiver<()> {
        if let Some(rx) = self.done.get() {
            return rx.clone();
        }
        let mut inner = self.inner.lock();
        self.done
            .get_or_init(|| {
                let (tx, rx) = crate::chan::unbuffered();
                if self.is_cancelled() {
                    tx.close();
                } else {
                    tx.watch();
                    inner.done_tx = Some(tx);
                }
                rx
            })
            .clone()
    }

    /// The last [`Handle`] is gone. If tasks still hold receivers of `done`,
    /// the channel keeps this node alive (with its timer and its parent
    /// link) until they are gone or it is closed: Go closes `done` only on a
    /// cancellation, and a watcher must not see it closed because the
    /// handles went. Without watchers the node goes with its last `Arc`.
    fn last_handle_gone(self: &Arc<Self>) {
        let inner = self.inner.lock();
        if let Some(tx) = &inner.done_tx {
            tx.keep_alive_while_watched(self);
        }
    }

    /// Cancels this node and its whole subtree. `unlink`: remove this node
    /// from its parent's entries (false when the parent is the one cancelling
    /// us: it has taken its entries already).
    ///
    /// The walk allocates two vectors for the whole subtree and frees nothing
    /// per node: a free here contends for the allocator's arena with the
    /// other cores, which are freeing the tasks this walk wakes.
    fn cancel(self: &Arc<Self>, unlink: bool, err: ContextError, cause: Option<Cause>) {
        let cause = cause.unwrap_or_else(|| Arc::new(err));
        let mut pending: Vec<Arc<CancelCtx>> = Vec::new();
        let mut entries: Vec<Entry> = Vec::new();
        if let Some(parent) = self.cancel_one(err, &cause, &mut pending, &mut entries)
            && unlink
        {
            parent.0.remove_entry(parent.1);
        }
        while let Some(child) = pending.pop() {
            child.cancel_one(err, &cause, &mut pending, &mut entries);
        }
    }

    /// Cancels this node alone (if it is live): publishes the error, wakes its
    /// waiters, starts its after-funcs and pushes its children on `pending`.
    /// `entries` is scratch space, empty between calls. Returns the parent
    /// link, which the caller may unlink.
    fn cancel_one(
        &self,
        err: ContextError,
        cause: &Cause,
        pending: &mut Vec<Arc<CancelCtx>>,
        entries: &mut Vec<Entry>,
    ) -> Option<(Arc<CancelCtx>, usize)> {
        let mut inner = self.inner.lock();
        if self.is_cancelled() {
            return None;
        }
        inner.cause = Some(cause.clone());
        self.state.store(err.code(), Ordering::Release);
        if let Some(tx) = inner.done_tx.take() {
            tx.close();
        }
        self.state.store(err.code() | CLOSED, Ordering::Release);
        // Drained, not taken: a small slab keeps its memory until the node
        // goes (nothing registers on a cancelled node); a burst's is given
        // back, after unlocking.
        entries.extend(inner.entries.drain());
        let burst = (inner.entries.capacity() > BURST).then(|| std::mem::take(&mut inner.entries));
        let parent = inner.parent.take();
        let timer = inner.timer.take();
        drop(inner);
        drop(burst);
        if let Some(timer) = timer {
            timer.cancel();
        }
        for entry in entries.drain(..) {
            match entry {
                Entry::Child(weak) => pending.extend(weak.upgrade()),
                Entry::AfterFunc { shared, .. } => shared.fire(),
                Entry::Waker(waker) => waker.wake(),
            }
        }
        parent
    }

    /// Removes one entry by slot; a no-op if our cancel took it already.
    fn remove_entry(&self, slot: usize) -> Option<Entry> {
        let mut inner = self.inner.lock();
        let entry = inner.entries.try_remove(slot);
        if inner.entries.is_empty() && inner.entries.capacity() > BURST {
            // Give back the memory of a burst of children.
            inner.entries = Slab::new();
        }
        entry
    }

    fn poll_cancelled(self: &Arc<Self>, wait: &mut CancelWait, waker: &Waker) -> Poll<()> {
        if self.is_cancelled() {
            return Poll::Ready(());
        }
        let mut inner = self.inner.lock();
        if self.is_cancelled() {
            return Poll::Ready(());
        }
        match &wait.slot {
            Some((_, slot)) => {
                if let Some(Entry::Waker(w)) = inner.entries.get_mut(*slot) {
                    w.clone_from(waker);
                }
            }
            None => {
                let slot = inner.entries.insert(Entry::Waker(waker.clone()));
                wait.slot = Some((self.clone(), slot));
            }
        }
        parked_on(WaitReason::ContextDone);
        Poll::Pending
    }
}

impl CancelCtx {
    /// Gives back what this node registered: its timer and its entry in its
    /// parent, whose link it returns.
    fn release(&mut self) -> Option<Arc<CancelCtx>> {
        let inner = self.inner.get_mut();
        if let Some(timer) = inner.timer.take() {
            timer.cancel();
        }
        let (parent, slot) = inner.parent.take()?;
        parent.remove_entry(slot);
        Some(parent)
    }
}

impl Drop for CancelCtx {
    /// Releases a chain of ancestors iteratively, as `Node` does: the last
    /// link to a parent may be ours, 100k levels up.
    fn drop(&mut self) {
        let mut parent = self.release();
        while let Some(ctx) = parent {
            parent = Arc::into_inner(ctx).and_then(|mut ctx| ctx.release());
        }
    }
}

impl Drop for Node {
    /// Drops a chain of ancestors iteratively: a context 100k levels deep
    /// must not overflow the stack when its last handle goes.
    fn drop(&mut self) {
        let mut parent = self.parent.take();
        while let Some(ctx) = parent {
            parent = crate::loom::arc_into_inner(ctx.node).and_then(|mut node| node.parent.take());
        }
    }
}

/// A crate-internal registration for [`Context::poll_cancelled`].
#[derive(Default)]
pub(crate) struct CancelWait {
    slot: Option<(Arc<CancelCtx>, usize)>,
}

impl Drop for CancelWait {
    fn drop(&mut self) {
        if let Some((core, slot)) = self.slot.take() {
            core.remove_entry(slot);
        }
    }
}

impl AfterFuncShared {
    /// Runs `f` in its own task, unless `stop` came first.
    fn fire(&self) {
        if self.claimed.swap(true, Ordering::AcqRel) {
            return;
        }
        let f = self.f.lock().take(); // unlocked before the spawn
        if let Some(f) = f {
            spawn_after_func(f);
        }
    }
}

/// Go runs an after-func in its own goroutine; so do we, as a gort task.
fn spawn_after_func(f: Box<dyn FnOnce() + Send>) {
    drop(crate::go(async move { f() }));
}

impl AfterFunc {
    /// Stops `f` from running. `true` if this call stopped it; `false` if it
    /// had already started or been stopped. Go's `stop()`.
    pub fn stop(&self) -> bool {
        if self.shared.claimed.swap(true, Ordering::AcqRel) {
            return false;
        }
        let f = self.shared.f.lock().take();
        drop(f);
        if let Some((core, slot)) = &self.registered {
            // Dropped after the node's lock is released: the entry holds a
            // reference to the node itself.
            let entry = core.remove_entry(*slot);
            drop(entry);
        }
        true
    }
}

impl CancelFunc {
    /// Cancels the context and its descendants with `Canceled`. Idempotent:
    /// only the first cancellation of a context counts.
    pub fn cancel(&self) {
        self.ctx.cancel_own(ContextError::Canceled, None);
    }
}

impl CancelCauseFunc {
    /// Cancels the context and its descendants with `Canceled`, recording
    /// `cause` (or `Canceled` itself when `None`) for [`Context::cause`].
    pub fn cancel(&self, cause: Option<Cause>) {
        self.ctx.cancel_own(ContextError::Canceled, cause);
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = &self.node.parent {
            write!(f, "{parent:?}.")?;
        }
        match &self.node.kind {
            Kind::Background => f.write_str("context.Background"),
            Kind::Todo => f.write_str("context.TODO"),
            Kind::Cancel => match self.deadline() {
                Some(at) => write!(f, "WithDeadline({at:?})"),
                None => f.write_str("WithCancel"),
            },
            Kind::Value { name, .. } => write!(f, "WithValue({name})"),
            Kind::WithoutCancel => f.write_str("WithoutCancel"),
        }
    }
}

impl fmt::Debug for CancelFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelFunc").finish_non_exhaustive()
    }
}

impl fmt::Debug for CancelCauseFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelCauseFunc").finish_non_exhaustive()
    }
}

impl fmt::Debug for AfterFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfterFunc")
            .field("claimed", &self.shared.claimed.load(Ordering::Relaxed))
            .finish()
    }
}
