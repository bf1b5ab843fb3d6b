//! One place that picks std's or loom's synchronisation primitives, so that the
//! lock-free protocols can be model-checked with `RUSTFLAGS="--cfg loom"`.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic;

#[cfg(loom)]
pub(crate) use loom::sync::atomic;
