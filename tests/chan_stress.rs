//! Accounting under cancellation: producers and consumers on bounded and
//! unbuffered channels, in tasks and on threads, with sends and receives
//! (plain and inside selects) given up at random await points. At the end,
//! the values whose send returned `Ok` are exactly the values received plus
//! those left in the buffer, as multisets — except that a send *future*
//! dropped mid-wait may have sent its value without anyone learning it (its
//! output was never observed): such values may be received, at most once.
//! A send that lost its select or timed out (`send_timeout`) sent nothing.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use gort::chan::{self, Receiver, Sender, TryRecvError};
use gort::select;
use gort::time::{after, timeout};

const PER_PRODUCER: u64 = 20_000;
const TASK_PRODUCERS: u64 = 3;
const TASK_CONSUMERS: u64 = 3;
const US: Duration = Duration::from_micros(1);

/// Polls `fut`, yielding in between, at most `polls` times; then drops it.
async fn give_up_after<F: Future>(fut: F, polls: u32) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut left = polls;
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending if left == 0 => Poll::Ready(None),
        Poll::Pending => {
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// What became of one send.
enum Sent {
    Ok,
    /// Not sent: the value came back, or the select took another case.
    No,
    /// The send future was dropped mid-wait: sent or not, nobody knows.
    Unknown,
}

/// Returns (values sent Ok, values whose send future was dropped).
async fn produce(tx: Sender<u64>, id: u64) -> (Vec<u64>, Vec<u64>) {
    let (mut sent, mut unknown) = (Vec::new(), Vec::new());
    for seq in 0..PER_PRODUCER {
        let v = id << 32 | seq;
        let outcome = match seq % 4 {
            0 => select! {
                send(tx, v) -> r => if r.is_ok() { Sent::Ok } else { Sent::No },
                recv(after(50 * US)) -> _ => Sent::No,
            },
            1 => match give_up_after(tx.send(v), (seq % 5) as u32).await {
                Some(Ok(())) => Sent::Ok,
                Some(Err(_)) => Sent::No,
                None => Sent::Unknown,
            },
            2 => {
                if tx.send(v).await.is_ok() {
                    Sent::Ok
                } else {
                    Sent::No
                }
            }
            _ => match timeout(30 * US, tx.send(v)).await {
                Ok(Ok(())) => Sent::Ok,
                Ok(Err(_)) => Sent::No,
                Err(_) => Sent::Unknown,
            },
        };
        match outcome {
            Sent::Ok => sent.push(v),
            Sent::No => {}
            Sent::Unknown => unknown.push(v),
        }
    }
    (sent, unknown)
}

async fn consume(rx: Receiver<u64>, quit: Receiver<()>, id: u64) -> Vec<u64> {
    let mut got = Vec::new();
    let mut round = id;
    while quit.try_recv() != Err(TryRecvError::Closed) {
        round += 1;
        let v = match round % 4 {
            0 => select! {
                recv(rx) -> v => v,
                recv(quit) -> _ => None,
            },
            1 => give_up_after(rx.recv(), (round % 3) as u32).await.flatten(),
            2 => select! {
                recv(rx) -> v => v,
                recv(quit) -> _ => None,
                recv(after(40 * US)) -> _ => None,
            },
            _ => timeout(20 * US, rx.recv()).await.ok().flatten(),
        };
        got.extend(v);
    }
    got
}

fn accounting(cap: usize) {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let (tx, rx) = chan::bounded::<u64>(cap);
    let (quit_tx, quit_rx) = chan::bounded::<()>(0);

    // One producer and one consumer on plain threads.
    let thread_producer = {
        let tx = tx.clone();
        thread::spawn(move || {
            let id = TASK_PRODUCERS;
            let mut sent = Vec::new();
            for seq in 0..PER_PRODUCER {
                let v = id << 32 | seq;
                let ok = if seq % 2 == 0 {
                    tx.send_timeout(v, 40 * US).is_ok()
                } else {
                    gort::select_blocking! {
                        send(tx, v) -> r => r.is_ok(),
                        recv(after(40 * US)) -> _ => false,
                    }
                };
                if ok {
                    sent.push(v);
                }
            }
            sent
        })
    };
    let thread_consumer = {
        let (rx, quit) = (rx.clone(), quit_rx.clone());
        thread::spawn(move || {
            let mut got = Vec::new();
            while quit.try_recv() != Err(TryRecvError::Closed) {
                if let Ok(v) = rx.recv_timeout(30 * US) {
                    got.push(v);
                }
            }
            got
        })
    };

    let (mut sent, mut received, mut unknown) = rt.block_on(async {
        let producers: Vec<_> = (0..TASK_PRODUCERS)
            .map(|id| gort::go(produce(tx.clone(), id)))
            .collect();
        let consumers: Vec<_> = (0..TASK_CONSUMERS)
            .map(|id| gort::go(consume(rx.clone(), quit_rx.clone(), id)))
            .collect();
        let (mut sent, mut unknown) = (Vec::new(), Vec::new());
        for p in producers {
            let (ok, maybe) = p.await.unwrap();
            sent.extend(ok);
            unknown.extend(maybe);
        }
        sent.extend(gort::blocking(|| thread_producer.join().unwrap()));
        quit_tx.close();
        let mut received = Vec::new();
        for c in consumers {
            received.extend(c.await.unwrap());
        }
        (sent, received, unknown)
    });
    received.extend(thread_consumer.join().unwrap());
    let left: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(
        left.len() <= cap.max(1),
        "cap {cap}: {} left over",
        left.len()
    );
    received.extend(left);

    assert!(!sent.is_empty() && !received.is_empty());
    sent.sort_unstable();
    received.sort_unstable();
    unknown.sort_unstable();
    let mut distinct = received.clone();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        received.len(),
        "cap {cap}: a value was received twice"
    );
    // Values received beyond those sent Ok must come from dropped send futures.
    let mut extra = Vec::new();
    let mut sent_iter = sent.iter().peekable();
    for v in &received {
        if sent_iter.peek() == Some(&v) {
            sent_iter.next();
        } else {
            extra.push(*v);
        }
    }
    let lost: Vec<_> = sent_iter.collect();
    assert!(
        lost.is_empty(),
        "cap {cap}: sent Ok but never received: {lost:x?}"
    );
    let bogus: Vec<_> = extra
        .iter()
        .filter(|v| unknown.binary_search(v).is_err())
        .collect();
    assert!(
        bogus.is_empty(),
        "cap {cap}: received but not sent: {bogus:x?}"
    );
}

#[test]
fn accounting_unbuffered() {
    accounting(0);
}

#[test]
fn accounting_bounded_1() {
    accounting(1);
}

#[test]
fn accounting_bounded_16() {
    accounting(16);
}
