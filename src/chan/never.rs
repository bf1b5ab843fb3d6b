//! [`never`]: Go's nil channel. Receiving from it waits forever, so as a select
//! case it disables the case.
//!
//! It is an ordinary unbuffered channel that has no `Sender` and yet is not
//! closed: nothing can ever be sent on it nor close it.

use super::Receiver;
use super::hchan::Chan;
use crate::loom::Arc;

/// A receiver that is never ready (`try_recv` → `Empty`, `recv` waits forever).
///
/// ```
/// use gort::chan;
/// let rx = chan::never::<i32>();
/// assert_eq!(rx.try_recv(), Err(chan::TryRecvError::Empty));
/// assert!(!rx.is_closed());
/// ```
pub fn never<T>() -> Receiver<T> {
    Receiver::from_chan(Arc::new(Chan::new(0, 0)))
}
