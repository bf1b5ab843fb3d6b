//! The errors of channel operations, in Go's words.
//!
//! Go panics on a send to a closed channel; gort returns the value instead, so
//! nothing is ever lost: every error of a send carries the value back.

use std::fmt;

/// A send failed because the channel is closed (or every receiver is gone).
/// The value comes back.
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("send on closed channel")]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

/// The error of [`Sender::try_send`](super::Sender::try_send).
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError<T> {
    /// No room in the buffer and no receiver waiting.
    #[error("send on full channel")]
    Full(T),
    /// The channel is closed (or every receiver is gone).
    #[error("send on closed channel")]
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// The error of [`Sender::send_timeout`](super::Sender::send_timeout).
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendTimeoutError<T> {
    /// The time ran out before a receiver or room was found.
    #[error("timed out waiting on send operation")]
    Timeout(T),
    /// The channel is closed (or every receiver is gone).
    #[error("send on closed channel")]
    Closed(T),
}

impl<T> SendTimeoutError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(v) | SendTimeoutError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SendTimeoutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// The error of [`Receiver::try_recv`](super::Receiver::try_recv).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing buffered and no sender waiting.
    #[error("receive on empty channel")]
    Empty,
    /// The channel is closed and drained.
    #[error("receive on closed channel")]
    Closed,
}

/// The error of [`Receiver::recv_timeout`](super::Receiver::recv_timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvTimeoutError {
    /// The time ran out before a value came.
    #[error("timed out waiting on receive operation")]
    Timeout,
    /// The channel is closed and drained.
    #[error("receive on closed channel")]
    Closed,
}
