#![cfg(gort_loom)]
//! loom models of the channel protocol: the waiter list (park, unlink on
//! drop, handoff), the unbuffered handoff, and the select commit.
//!
//! Run: `RUSTFLAGS="--cfg gort_loom" CARGO_TARGET_DIR=target/loom cargo test --release --test loom_chan`

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use gort::chan::{self, TryRecvError};
use loom::thread;

mod loom_support;
use loom_support::block_on;

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A sender and a receiver meet on an unbuffered channel, whichever parks first.
#[test]
fn unbuffered_handoff() {
    loom::model(|| {
        let (tx, rx) = chan::unbuffered::<u32>();
        let sender = thread::spawn(move || block_on(tx.send(7)));
        assert_eq!(block_on(rx.recv()), Some(7));
        assert_eq!(sender.join().unwrap(), Ok(()));
    });
}

/// A parked receive dropped while a sender hands it a value: the value is
/// either returned by the receive or back in the channel, exactly once.
#[test]
fn dropped_recv_races_handoff() {
    loom::model(|| {
        let (tx, rx) = chan::unbuffered::<u32>();
        let mut recv = Box::pin(rx.recv());
        assert!(poll_once(recv.as_mut()).is_pending());
        let sender = thread::spawn(move || {
            let sent = tx.try_send(1).is_ok();
            (sent, tx)
        });
        let got = match poll_once(recv.as_mut()) {
            Poll::Ready(v) => v,
            Poll::Pending => None,
        };
        drop(recv);
        let (sent, _tx) = sender.join().unwrap();
        let left = rx.try_recv().ok();
        let delivered = usize::from(got.is_some()) + usize::from(left.is_some());
        assert_eq!(delivered, usize::from(sent));
    });
}

/// A parked send dropped while a receiver takes from it: the send either
/// happened (the receiver has the value) or gave nothing.
#[test]
fn dropped_send_races_receiver() {
    loom::model(|| {
        let (tx, rx) = chan::unbuffered::<u32>();
        let mut send = Box::pin(tx.send(5));
        assert!(poll_once(send.as_mut()).is_pending());
        let receiver = thread::spawn(move || rx.try_recv());
        let outcome = poll_once(send.as_mut());
        drop(send);
        let got = receiver.join().unwrap();
        match outcome {
            Poll::Ready(r) => {
                assert_eq!(r, Ok(()));
                assert_eq!(got, Ok(5));
            }
            Poll::Pending => assert!(got == Ok(5) || got == Err(TryRecvError::Empty)),
        }
    });
}

/// A select parked on two receives, raced by two senders and by its owner
/// polling and dropping it: at most one send succeeds, and its value is
/// received by the select or left in its channel, exactly once.
#[test]
fn select_commits_once() {
    loom::model(|| {
        let (tx1, rx1) = chan::unbuffered::<u32>();
        let (tx2, rx2) = chan::unbuffered::<u32>();
        let mut select = Box::pin(async {
            gort::select! {
                recv(rx1) -> v => v,
                recv(rx2) -> v => v,
            }
        });
        assert!(poll_once(select.as_mut()).is_pending());
        let t1 = thread::spawn(move || (tx1.try_send(1).is_ok(), tx1));
        let t2 = thread::spawn(move || (tx2.try_send(2).is_ok(), tx2));
        let got = match poll_once(select.as_mut()) {
            Poll::Ready(v) => v,
            Poll::Pending => None,
        };
        drop(select);
        let (ok1, _tx1) = t1.join().unwrap();
        let (ok2, _tx2) = t2.join().unwrap();
        assert!(!(ok1 && ok2), "a select took two values");
        let left = [rx1.try_recv().ok(), rx2.try_recv().ok()];
        let delivered = usize::from(got.is_some()) + left.iter().flatten().count();
        assert_eq!(delivered, usize::from(ok1) + usize::from(ok2));
    });
}

/// A select parked on two sends, raced by two receivers: exactly one value
/// moves if any, and the select reports the case that moved it.
#[test]
fn select_send_cases_commit_once() {
    loom::model(|| {
        let (tx1, rx1) = chan::unbuffered::<u32>();
        let (tx2, rx2) = chan::unbuffered::<u32>();
        let mut select = Box::pin(async {
            gort::select! {
                send(tx1, 1) -> r => r.map(|()| 1),
                send(tx2, 2) -> r => r.map(|()| 2),
            }
        });
        assert!(poll_once(select.as_mut()).is_pending());
        let t1 = thread::spawn(move || rx1.try_recv().ok());
        let t2 = thread::spawn(move || rx2.try_recv().ok());
        let (g1, g2) = (t1.join().unwrap(), t2.join().unwrap());
        assert!(g1.is_none() || g2.is_none(), "two send cases committed");
        if let Some(v) = g1.or(g2) {
            assert_eq!(poll_once(select.as_mut()), Poll::Ready(Ok(v)));
        } else {
            assert!(poll_once(select.as_mut()).is_pending());
        }
    });
}

/// close racing a receiver that takes from a parked sender: the sender gets
/// its value back exactly when nobody received it.
#[test]
fn close_races_parked_sender() {
    loom::model(|| {
        let (tx, rx) = chan::unbuffered::<u32>();
        let closer = tx.clone();
        let mut send = Box::pin(tx.send(3));
        assert!(poll_once(send.as_mut()).is_pending());
        let t = thread::spawn(move || closer.close());
        let got = rx.try_recv();
        assert!(t.join().unwrap());
        match block_on(send.as_mut()) {
            Ok(()) => assert_eq!(got, Ok(3)),
            Err(e) => {
                assert_eq!(e.0, 3);
                assert_ne!(got, Ok(3));
            }
        }
    });
}

/// Two parked receives; a sender hands a value to the first while the first
/// is dropped: the put-back goes to the second receive or to the buffer,
/// exactly once (the waiter list's unlink racing the handoff).
#[test]
fn put_back_reaches_the_next_receiver() {
    loom::model(|| {
        let (tx, rx) = chan::unbuffered::<u32>();
        let mut first = Box::pin(rx.recv());
        let mut second = Box::pin(rx.recv());
        assert!(poll_once(first.as_mut()).is_pending());
        assert!(poll_once(second.as_mut()).is_pending());
        let sender = thread::spawn(move || (tx.try_send(9).is_ok(), tx));
        drop(first);
        let got = match poll_once(second.as_mut()) {
            Poll::Ready(v) => v,
            Poll::Pending => None,
        };
        let (sent, _tx) = sender.join().unwrap();
        drop(second);
        let left = rx.try_recv().ok();
        let delivered = usize::from(got.is_some()) + usize::from(left.is_some());
        assert_eq!(delivered, usize::from(sent));
    });
}

/// A parked receive polled again through a *different* waker while a sender
/// hands it a value: the new waker is the one woken (a select re-registers
/// rather than swap the waker a committer may be reading).
#[test]
fn repoll_with_a_new_waker_is_woken() {
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(loom::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    loom::model(|| {
        let (tx, rx) = chan::unbuffered::<u32>();
        let mut recv = Box::pin(rx.recv());
        assert!(poll_once(recv.as_mut()).is_pending());
        let sender = thread::spawn(move || (tx.try_send(1).is_ok(), tx));
        let flag = Arc::new(Flag(loom::sync::atomic::AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let polled = recv.as_mut().poll(&mut Context::from_waker(&waker));
        let (sent, _tx) = sender.join().unwrap();
        match polled {
            Poll::Ready(v) => assert_eq!(v, Some(1)),
            Poll::Pending if sent => {
                assert!(
                    flag.0.load(std::sync::atomic::Ordering::SeqCst),
                    "new waker not woken"
                );
                assert_eq!(poll_once(recv.as_mut()), Poll::Ready(Some(1)));
            }
            Poll::Pending => assert!(poll_once(recv.as_mut()).is_pending()),
        }
    });
}

/// Two parked receives on two threads, each dropped while a sender hands a
/// value to one of them: unlinking neighbours in the intrusive list never
/// corrupts it, and the value ends up received or back in the channel,
/// exactly once.
#[test]
fn neighbouring_waiters_unlink_concurrently() {
    loom::model(|| {
        let (tx, rx) = chan::unbuffered::<u32>();
        let parkers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || {
                    let mut recv = Box::pin(rx.recv());
                    let got = match poll_once(recv.as_mut()) {
                        Poll::Ready(v) => v,
                        Poll::Pending => None,
                    };
                    drop(recv);
                    (got, rx)
                })
            })
            .collect();
        let sent = tx.try_send(4).is_ok();
        let got: usize = parkers
            .into_iter()
            .map(|p| usize::from(p.join().unwrap().0.is_some()))
            .sum();
        let left = usize::from(rx.try_recv().is_ok());
        assert_eq!(got + left, usize::from(sent));
    });
}
