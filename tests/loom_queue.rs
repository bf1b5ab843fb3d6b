//! loom models of the local run queue: owner push/pop, thieves stealing half,
//! and overflow to the global queue. Every item is taken exactly once.
#![cfg(gort_loom)]

use gort::__loom::{CAP, LocalQueue};
use loom::sync::{Arc, Mutex};
use loom::thread;

type Queue = LocalQueue<Box<usize>>;

/// Drains a queue the calling thread owns.
fn drain(q: &Queue, into: &mut Vec<usize>) {
    while let Some(v) = q.pop() {
        into.push(*v);
    }
}

/// A thief thread: steals half of `victim` into a queue of its own and
/// returns everything it took.
fn spawn_thief(victim: &Arc<Queue>) -> thread::JoinHandle<Vec<usize>> {
    let victim = victim.clone();
    thread::spawn(move || {
        let mine = Queue::new();
        let mut got = Vec::new();
        if let Some(first) = victim.steal_half_into(&mine) {
            got.push(*first);
        }
        drain(&mine, &mut got);
        got
    })
}

fn assert_each_once(mut seen: Vec<usize>, n: usize) {
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..n).collect::<Vec<_>>(),
        "every item taken exactly once"
    );
}

#[test]
fn steal_races_pop() {
    loom::model(|| {
        let victim = Arc::new(Queue::new());
        for i in 0..3 {
            victim.push_back(Box::new(i), |_| unreachable!("no overflow below CAP"));
        }
        let thief = spawn_thief(&victim);
        let mut seen = Vec::new();
        drain(&victim, &mut seen);
        seen.extend(thief.join().unwrap());
        assert_each_once(seen, 3);
    });
}

#[test]
fn overflow_races_steal() {
    loom::model(|| {
        let n = CAP as usize + 1;
        let victim = Arc::new(Queue::new());
        let global = Arc::new(Mutex::new(Vec::new()));
        for i in 0..CAP as usize {
            victim.push_back(Box::new(i), |_| unreachable!("no overflow below CAP"));
        }
        let thief = spawn_thief(&victim);
        let g = global.clone();
        victim.push_back(Box::new(CAP as usize), move |batch| {
            g.lock().unwrap().extend(batch.into_iter().map(|b| *b));
        });
        let mut seen = Vec::new();
        drain(&victim, &mut seen);
        seen.extend(thief.join().unwrap());
        seen.extend(global.lock().unwrap().drain(..));
        assert_each_once(seen, n);
    });
}

#[test]
fn two_thieves_and_the_owner() {
    loom::model(|| {
        let victim = Arc::new(Queue::new());
        for i in 0..4 {
            victim.push_back(Box::new(i), |_| unreachable!("no overflow at CAP"));
        }
        let thieves: Vec<_> = (0..2).map(|_| spawn_thief(&victim)).collect();
        let mut seen = Vec::new();
        if let Some(v) = victim.pop() {
            seen.push(*v);
        }
        for t in thieves {
            seen.extend(t.join().unwrap());
        }
        drain(&victim, &mut seen);
        assert_each_once(seen, 4);
    });
}
