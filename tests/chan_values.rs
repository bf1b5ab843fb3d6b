//! Every value put into a channel operation is dropped exactly once, or
//! returned, or received, whichever way the operation ends: the waiters keep
//! values in uninitialised slots, and these tests pin down who drops them.
//!
//! Small and runtime-free (futures polled by hand, plain threads), so that
//! they also run under Miri: `cargo +nightly miri test --test chan_values`.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use gort::chan::{self, SendError};

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A value whose live copies are counted by the `Arc` it clones.
type Tracked = Arc<()>;

fn live(t: &Tracked) -> usize {
    Arc::strong_count(t) - 1
}

#[test]
fn a_dropped_parked_send_drops_its_value_once() {
    let t = Tracked::default();
    let (tx, _rx) = chan::unbuffered::<Tracked>();
    let mut send = Box::pin(tx.send(t.clone()));
    assert!(poll_once(send.as_mut()).is_pending());
    assert_eq!(live(&t), 1);
    drop(send);
    assert_eq!(live(&t), 0);
}

#[test]
fn a_send_that_completes_moves_its_value_once() {
    let t = Tracked::default();
    let (tx, rx) = chan::unbuffered::<Tracked>();
    let mut send = Box::pin(tx.send(t.clone()));
    assert!(poll_once(send.as_mut()).is_pending());
    let got = rx.try_recv().unwrap();
    assert_eq!(poll_once(send.as_mut()), Poll::Ready(Ok(())));
    drop(send);
    assert_eq!(live(&t), 1);
    drop(got);
    assert_eq!(live(&t), 0);
}

#[test]
fn closing_returns_a_parked_sends_value() {
    let t = Tracked::default();
    let (tx, _rx) = chan::unbuffered::<Tracked>();
    let mut send = Box::pin(tx.send(t.clone()));
    assert!(poll_once(send.as_mut()).is_pending());
    tx.close();
    match poll_once(send.as_mut()) {
        Poll::Ready(Err(SendError(v))) => assert!(Arc::ptr_eq(&v, &t)),
        other => panic!("expected the value back, got {other:?}"),
    }
    drop(send);
    assert_eq!(live(&t), 0);
}

#[test]
fn a_send_on_a_closed_channel_returns_the_value() {
    let t = Tracked::default();
    let (tx, rx) = chan::bounded::<Tracked>(1);
    drop(rx);
    let mut send = pin!(tx.send(t.clone()));
    assert!(matches!(poll_once(send.as_mut()), Poll::Ready(Err(_))));
    assert_eq!(live(&t), 0);
}

#[test]
fn a_send_timeout_returns_the_value() {
    let t = Tracked::default();
    let (tx, _rx) = chan::unbuffered::<Tracked>();
    let err = tx
        .send_timeout(t.clone(), std::time::Duration::from_millis(1))
        .unwrap_err();
    assert_eq!(live(&t), 1);
    drop(err);
    assert_eq!(live(&t), 0);
}

#[test]
fn a_select_drops_the_value_of_the_send_case_not_chosen() {
    let t = Tracked::default();
    let (tx1, rx1) = chan::unbuffered::<Tracked>();
    let (tx2, rx2) = chan::unbuffered::<Tracked>();
    let (a, b) = (t.clone(), t.clone());
    let mut select = pin!(async {
        gort::select! {
            send(tx1, a) -> r => r.map(|()| 1),
            send(tx2, b) -> r => r.map(|()| 2),
        }
    });
    assert!(poll_once(select.as_mut()).is_pending());
    assert_eq!(live(&t), 2);
    let got = rx2.try_recv().unwrap();
    assert_eq!(poll_once(select.as_mut()), Poll::Ready(Ok(2)));
    assert_eq!(
        live(&t),
        1,
        "the unsent value is dropped once, the sent one lives"
    );
    assert!(rx1.try_recv().is_err());
    drop(got);
    assert_eq!(live(&t), 0);
}

#[test]
fn a_dropped_parked_select_drops_both_send_values() {
    let t = Tracked::default();
    let (tx1, _rx1) = chan::unbuffered::<Tracked>();
    let (tx2, _rx2) = chan::unbuffered::<Tracked>();
    let (a, b) = (t.clone(), t.clone());
    let mut select = Box::pin(async {
        gort::select! {
            send(tx1, a) -> _ => 1,
            send(tx2, b) -> _ => 2,
        }
    });
    assert!(poll_once(select.as_mut()).is_pending());
    drop(select);
    assert_eq!(live(&t), 0);
}

#[test]
fn a_dropped_receive_that_was_handed_a_value_puts_it_back() {
    let t = Tracked::default();
    let (tx, rx) = chan::unbuffered::<Tracked>();
    let mut recv = Box::pin(rx.recv());
    assert!(poll_once(recv.as_mut()).is_pending());
    tx.try_send(t.clone()).unwrap(); // handed to the parked receive
    drop(recv);
    let back = rx.try_recv().expect("the value went back to the channel");
    assert!(Arc::ptr_eq(&back, &t));
    drop(back);
    assert_eq!(live(&t), 0);
}

#[test]
fn buffered_values_are_dropped_with_the_channel() {
    let t = Tracked::default();
    let (tx, rx) = chan::bounded::<Tracked>(4);
    for _ in 0..3 {
        tx.try_send(t.clone()).unwrap();
    }
    assert_eq!(live(&t), 3);
    drop((tx, rx));
    assert_eq!(live(&t), 0);
}

#[test]
fn threads_trade_values_through_parked_waiters() {
    let t = Tracked::default();
    let (tx, rx) = chan::unbuffered::<Tracked>();
    let n = if cfg!(miri) { 20 } else { 2_000 };
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let (tx, t) = (tx.clone(), t.clone());
            std::thread::spawn(move || {
                for _ in 0..n {
                    tx.send_blocking(t.clone()).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut got = 0;
    while let Some(v) = rx.recv_blocking() {
        drop(v);
        got += 1;
    }
    senders.into_iter().for_each(|s| s.join().unwrap());
    assert_eq!(got, 2 * n);
    assert_eq!(live(&t), 0);
}
