//! Time: [`sleep`], [`sleep_until`] and [`timeout`].
//!
//! Every future here is driven by the process-wide timer thread
//! (`runtime::timer`), so it works the same inside a gort task, inside another
//! executor and on a plain thread.
//!
//! ```
//! use std::time::Duration;
//! gort::run(async {
//!     gort::time::sleep(Duration::from_millis(1)).await;
//!     let r = gort::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
//!     assert!(r.is_err());
//! });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime::timer::{self, TimerKey};

/// Waits until `d` has passed. Go's `time.Sleep`.
pub fn sleep(d: Duration) -> Sleep {
    sleep_until(Instant::now().checked_add(d).unwrap_or_else(far_future))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        armed: None,
    }
}

/// An instant about thirty years away: what "never" means for a deadline.
pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

/// The future returned by [`sleep`] and [`sleep_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The timer that wakes the waker we were last polled with.
    armed: Option<(TimerKey, Waker)>,
}

impl Sleep {
    /// The instant this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    fn disarm(&mut self) {
        if let Some((key, _)) = self.armed.take() {
            key.cancel();
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            this.disarm();
            return Poll::Ready(());
        }
        let rearm = match &this.armed {
            Some((_, waker)) => !waker.will_wake(cx.waker()),
            None => true,
        };
        if rearm {
            this.disarm();
            let waker = cx.waker().clone();
            let fire = waker.clone();
            let key = timer::call_at(this.deadline, move || fire.wake());
            this.armed = Some((key, waker));
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// The error of [`timeout`]: the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline has elapsed")]
pub struct Elapsed(());

/// Runs `fut` for at most `d`; `Err(Elapsed)` if it did not finish in time
/// (the future is then dropped).
pub async fn timeout<F: Future>(d: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = sleep(d);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        Pin::new(&mut sleep).poll(cx).map(|()| Err(Elapsed(())))
    })
    .await
}
