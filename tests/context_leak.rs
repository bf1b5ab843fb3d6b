//! Dropping every handle of a derived context releases its parent link and
//! its timer, even when `cancel` is never called. One test alone in its binary:
//! it counts the process-wide pending timers.

use std::time::Duration;

use gort::__internal::pending_timers;
use gort::context::{Context, Key};

#[test]
fn a_million_derived_and_dropped_contexts_leave_nothing_behind() {
    static K: Key<usize> = Key::new("i");
    let (parent, _cancel) = Context::background().with_cancel();
    let timers_before = pending_timers();
    for i in 0..1_000_000 {
        match i % 4 {
            0 => drop(parent.with_cancel()),
            1 => drop(parent.with_timeout(Duration::from_secs(3600))),
            2 => {
                let (child, cancel) = parent.with_value(&K, i).with_cancel_cause();
                let grandchild = child.with_timeout(Duration::from_secs(60));
                drop((child, cancel, grandchild));
            }
            _ => {
                // Only the CancelFunc outlives the context, then goes too.
                let (child, cancel) =
                    parent.with_deadline(std::time::Instant::now() + Duration::from_secs(3600));
                drop(child);
                assert_eq!(parent.registered_entries(), 1);
                drop(cancel);
            }
        }
        if i % 100_000 == 0 {
            assert_eq!(parent.registered_entries(), 0);
        }
    }
    assert_eq!(parent.registered_entries(), 0);
    assert_eq!(pending_timers(), timers_before);
    assert!(!parent.has_timer());
}
