//! The tasks that are parked somewhere: a task that returned `Pending` is
//! reachable only through wakers held by channels, timers or other tasks, so a
//! runtime that shuts down finds it here and drops its future (otherwise a task
//! that holds the only handle to its own wake source would leak).
//!
//! A task is inserted at its first `Pending` and removed when it finishes, so
//! tasks that finish in their first poll (most of a spawn storm) never take a
//! lock here. Sixteen shards, chosen by the task's address, keep two Ms from
//! contending on one lock.

use parking_lot::Mutex;
use slab::Slab;

use crossbeam_utils::CachePadded;

use super::task::TaskRef;

const SHARDS: usize = 16;

pub(crate) struct Registry {
    shards: Box<[CachePadded<Mutex<Slab<TaskRef>>>]>,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::new(Slab::new())))
                .collect(),
        }
    }

    /// Stores `task`; returns its key.
    pub(crate) fn insert(&self, task: TaskRef) -> u32 {
        let shard = (task.as_ptr() as usize >> 6) % SHARDS;
        let index = self.shards[shard].lock().insert(task);
        u32::try_from(index * SHARDS + shard)
            .ok()
            .filter(|&k| k != u32::MAX)
            .expect("gort: more than 268 million parked tasks")
    }

    /// Removes the task stored under `key`, if it is still there.
    pub(crate) fn remove(&self, key: u32) -> Option<TaskRef> {
        let key = key as usize;
        self.shards[key % SHARDS].lock().try_remove(key / SHARDS)
    }

    /// Runs `f` on each registered task (shard by shard, under its lock).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&TaskRef)) {
        for shard in self.shards.iter() {
            shard.lock().iter().for_each(|(_, task)| f(task));
        }
    }

    /// Takes every task out.
    pub(crate) fn drain(&self) -> Vec<TaskRef> {
        let mut tasks = Vec::new();
        for shard in self.shards.iter() {
            tasks.extend(shard.lock().drain());
        }
        tasks
    }
}
