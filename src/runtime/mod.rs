//! The scheduler.
pub(crate) mod coop;
pub(crate) mod timer;
