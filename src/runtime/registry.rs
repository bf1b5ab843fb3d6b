//! The tasks that are parked somewhere: a task that returned `Pending` is
//! reachable only through wakers held by channels, timers or other tasks, so a
//! runtime that shuts down finds it here and drops its future (otherwise a task
//! that holds the only handle to its own wake source would leak).
//!
//! A task is inserted at its first `Pending` and removed when it finishes, so
//! tasks that finish in their first poll (most of a spawn storm) never take a
//! lock here. Sixteen shards, chosen by the task's address, keep two Ms from
//! contending on one lock.
//!
//! Each shard is a slab of one word per slot ([`Slots`]), not `slab::Slab`'s
//! two: every parked task has a slot, so the word saved is 8 bytes per parked
//! task.

use std::mem::ManuallyDrop;

use parking_lot::Mutex;

use crossbeam_utils::CachePadded;

use super::queue::QueueItem;
use super::task::TaskRef;

const SHARDS: usize = 16;

pub(crate) struct Registry {
    shards: Box<[CachePadded<Mutex<Slots>>]>,
}

/// The low bit of a vacant slot's word. Task pointers are at least 8-aligned
/// (the header holds atomics of 8 bytes), so an occupied slot's is 0.
const VACANT: usize = 1;

/// A slab of `TaskRef`s in one word per slot: an occupied slot holds the
/// pointer `TaskRef::into_raw` gave (it owns that reference); a vacant one
/// holds `next << 1 | VACANT` (a pointer without provenance, never
/// dereferenced), a free list threaded through the vacant slots.
#[derive(Default)]
struct Slots {
    words: Vec<*mut ()>,
    /// The first vacant slot; `words.len()` when there is none.
    next: usize,
}

// SAFETY: the occupied words are owned TaskRefs, which are Send; the vacant
// ones are plain integers.
unsafe impl Send for Slots {}

fn is_vacant(word: *mut ()) -> bool {
    word.addr() & VACANT != 0
}

impl Slots {
    fn insert(&mut self, task: TaskRef) -> usize {
        let word = task.into_raw();
        debug_assert!(!is_vacant(word), "a task pointer is 8-aligned");
        let key = self.next;
        if key == self.words.len() {
            self.words.push(word);
            self.next = key + 1;
        } else {
            self.next = self.words[key].addr() >> 1;
            self.words[key] = word;
        }
        key
    }

    fn try_remove(&mut self, key: usize) -> Option<TaskRef> {
        let word = *self.words.get(key)?;
        if is_vacant(word) {
            return None;
        }
        self.words[key] = std::ptr::without_provenance_mut(self.next << 1 | VACANT);
        self.next = key;
        // SAFETY: an occupied word is a pointer from `TaskRef::into_raw` that
        // owns its reference; the slot is vacant now, so it is taken once.
        Some(unsafe { TaskRef::from_raw(word) })
    }

    /// The occupied words, each a pointer from `TaskRef::into_raw`.
    fn occupied(&self) -> impl Iterator<Item = *mut ()> + '_ {
        self.words.iter().copied().filter(|&w| !is_vacant(w))
    }

    fn for_each(&self, f: &mut impl FnMut(&TaskRef)) {
        for word in self.occupied() {
            // SAFETY: the slot owns this reference and keeps it (ManuallyDrop:
            // we only lend it to `f`, under the shard's lock).
            let task = ManuallyDrop::new(unsafe { TaskRef::from_raw(word) });
            f(&task);
        }
    }

    fn drain_into(&mut self, tasks: &mut Vec<TaskRef>) {
        let words = std::mem::take(&mut self.words);
        self.next = 0;
        // SAFETY: each occupied word owns its reference; the words were moved
        // out of the slots, so each is taken exactly once, here.
        let taken = words.into_iter().filter(|&w| !is_vacant(w));
        tasks.extend(taken.map(|w| unsafe { TaskRef::from_raw(w) }));
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        for word in self.occupied() {
            // SAFETY: each occupied word owns its reference, given back once
            // here as the slots go away.
            drop(unsafe { TaskRef::from_raw(word) });
        }
    }
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::new(Slots::default())))
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
            shard.lock().for_each(&mut f);
        }
    }

    /// Takes every task out.
    pub(crate) fn drain(&self) -> Vec<TaskRef> {
        let mut tasks = Vec::new();
        for shard in self.shards.iter() {
            shard.lock().drain_into(&mut tasks);
        }
        tasks
    }
}
