//! A per-thread xorshift generator: the random part of `select`'s poll order
//! and of the channel lock's back-off. Not cryptographic; seeded per thread.
//!
//! The state is a `const`-initialised thread-local, so reading it is one
//! thread-pointer-relative load, inlined, rather than a call to a lazy
//! initialiser's accessor; `0` (which xorshift never produces) marks a
//! thread not yet seeded.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// A random number in `0..n` (`n > 0`).
#[inline]
pub(crate) fn random_below(n: usize) -> usize {
    STATE.with(|state| {
        let mut x = state.get();
        if x == 0 {
            x = seed();
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        ((u128::from(x) * n as u128) >> 64) as usize
    })
}

/// A non-zero seed, different for every thread.
#[cold]
fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::thread::current().id()) | 1
}
