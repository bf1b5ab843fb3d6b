//! One place that picks std's or loom's synchronisation primitives, so that the
//! lock-free protocols can be model-checked with `RUSTFLAGS="--cfg gort_loom"`
//! (a cfg of our own: `--cfg loom` would also switch tokio and event-listener,
//! dev-dependencies that then fail to build).

#[cfg(not(gort_loom))]
pub(crate) use std::sync::atomic;

#[cfg(gort_loom)]
pub(crate) use loom::sync::atomic;
