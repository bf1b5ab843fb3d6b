//! Why a task is waiting: each gort primitive names itself when it returns
//! `Pending` ([`parked_on`]), and the runner stores that reason with the time in
//! the task's header. `runtime::dump` prints it (Go's `[chan receive, 2
//! minutes]`), and the deadlock detector trusts only tasks whose every wait is
//! on a gort primitive.
//!
//! The reason lives in a thread-local for the length of one poll: cleared
//! before the poll, set by the last primitive that returned `Pending`, read
//! after it. A future that returns `Pending` for any other reason (a foreign
//! future, a hand-written one) leaves it cleared: "waiting", cause unknown.

use std::cell::Cell;

/// What a waiting task waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum WaitReason {
    /// Not on a gort primitive (or not waiting).
    Unknown = 0,
    ChanReceive,
    ChanSend,
    Select,
    Sleep,
    SemaphoreAcquire,
    WaitGroupWait,
    ContextDone,
    TaskJoin,
}

impl WaitReason {
    pub(crate) fn from_u8(v: u8) -> WaitReason {
        use WaitReason::*;
        [
            Unknown,
            ChanReceive,
            ChanSend,
            Select,
            Sleep,
            SemaphoreAcquire,
            WaitGroupWait,
            ContextDone,
            TaskJoin,
        ]
        .get(usize::from(v))
        .copied()
        .unwrap_or(Unknown)
    }

    /// Go's words for it.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            WaitReason::Unknown => "waiting",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::Select => "select",
            WaitReason::Sleep => "sleep",
            WaitReason::SemaphoreAcquire => "semaphore acquire",
            WaitReason::WaitGroupWait => "WaitGroup wait",
            WaitReason::ContextDone => "context done",
            WaitReason::TaskJoin => "task join",
        }
    }

    /// A wait that time alone ends: never part of a deadlock.
    pub(crate) fn is_timed(self) -> bool {
        self == WaitReason::Sleep
    }
}

thread_local! {
    static REASON: Cell<WaitReason> = const { Cell::new(WaitReason::Unknown) };
}

/// Called by a gort primitive that is about to return `Pending`.
pub(crate) fn parked_on(reason: WaitReason) {
    REASON.set(reason);
}

/// Clears the reason before a poll; returns what the poll recorded after it.
pub(crate) fn recording<R>(poll: impl FnOnce() -> R) -> (R, WaitReason) {
    REASON.set(WaitReason::Unknown);
    let out = poll();
    (out, REASON.replace(WaitReason::Unknown))
}
