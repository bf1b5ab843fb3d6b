//! A per-thread xorshift generator: the random part of `select`'s poll order
//! and of the channel lock's back-off. Not cryptographic; seeded per thread.

use std::cell::Cell;

/// A random number in `0..n` (`n > 0`).
pub(crate) fn random_below(n: usize) -> usize {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(std::thread::current().id()) | 1
        });
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        ((u128::from(x) * n as u128) >> 64) as usize
    })
}
