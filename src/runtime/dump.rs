//! Go's goroutine dump for gort: every live task with its id, spawn location,
//! state and, when it waits on a gort primitive, which one and for how long.
//!
//! Tasks that have never been polled are counted but not listed: a task enters
//! the registry the first time it returns `Pending` (see `registry.rs`), which
//! keeps spawning lock-free for tasks that finish in their first poll.

use std::fmt::Write;
use std::time::Duration;

use super::scheduler::Shared;
use super::task::{TaskInfo, TaskState};

/// Renders the dump of one runtime.
pub(crate) fn render(shared: &Shared) -> String {
    let mut tasks: Vec<TaskInfo> = Vec::new();
    shared
        .registry
        .for_each(|task| tasks.push(task.header().info()));
    tasks.retain(|t| t.state != TaskState::Finished);
    tasks.sort_by_key(|t| t.id);
    let live = shared.live_tasks();
    let now_us = shared.coarse_now_us();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "gort: {live} live tasks on {} procs ({} never polled yet, not listed)",
        shared.procs(),
        live.saturating_sub(tasks.len())
    );
    for t in &tasks {
        let state = match t.state {
            TaskState::Running => "running".to_string(),
            TaskState::Runnable => "runnable".to_string(),
            TaskState::Waiting => {
                let waited = Duration::from_micros(now_us.saturating_sub(t.since_us));
                format!("{}, {}", t.reason.describe(), human(waited))
            }
            TaskState::Finished => unreachable!("filtered out above"),
        };
        let _ = write!(
            out,
            "\ngoroutine {} [{state}]:\n\tspawned at {}\n",
            t.id, t.spawned_at
        );
    }
    out
}

/// Go's style: "3 minutes", "1.2s", "850ms".
fn human(d: Duration) -> String {
    match d.as_secs() {
        s if s >= 120 => format!("{} minutes", s / 60),
        s if s >= 1 => format!("{:.1}s", d.as_secs_f64()),
        _ => format!("{}ms", d.as_millis()),
    }
}
