//! Test helpers, in the spirit of Uber's goleak.
//!
//! ```
//! gort::run(async {
//!     let h = gort::go(async { 1 });
//!     h.await.unwrap();
//! });
//! gort::testing::verify_none(); // passes: no task is left behind
//! ```

use std::time::{Duration, Instant};

/// How long [`verify_none`] waits for tasks to finish before failing.
const GRACE: Duration = Duration::from_secs(1);

/// Panics with a goroutine dump if tasks other than the caller are still
/// alive on the current runtime (the default one outside any) after a grace
/// period of one second. Call it at the end of a test.
#[track_caller]
pub fn verify_none() {
    let me = usize::from(crate::runtime::in_task());
    let deadline = Instant::now() + GRACE;
    loop {
        let live = crate::num_goroutines();
        if live <= me {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "gort::testing::verify_none: found {} unexpected live task(s)\n\n{}",
                live - me,
                crate::runtime::dump()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
