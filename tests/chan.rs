//! Channel behaviour: Go's channel tests (runtime/chan_test.go) ported, close
//! semantics, the three APIs, and one test per known failure of a peer crate.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use gort::chan::{self, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::pin::Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn bounded_is_fifo_and_holds_cap_values() {
    let (tx, rx) = chan::bounded(3);
    assert_eq!(tx.capacity(), 3);
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
    assert_eq!(rx.len(), 3);
    assert_eq!(
        (0..3).map(|_| rx.try_recv().unwrap()).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(rx.is_empty());
}

#[test]
fn close_drains_then_none() {
    let (tx, rx) = chan::bounded(4);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert!(tx.close());
    assert!(!tx.close(), "closing twice reports false");
    assert!(tx.is_closed() && rx.is_closed());
    assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    assert_eq!(tx.send_blocking(4), Err(SendError(4)));
    assert_eq!(rx.recv_blocking(), Some(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(rx.recv_blocking(), None);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)),
        Err(RecvTimeoutError::Closed)
    );
}

#[test]
fn last_sender_dropped_closes() {
    let (tx, rx) = chan::bounded::<i32>(1);
    let tx2 = tx.clone();
    drop(tx);
    assert!(!rx.is_closed());
    tx2.try_send(7).unwrap();
    drop(tx2);
    assert!(rx.is_closed());
    assert_eq!(rx.iter().collect::<Vec<_>>(), [7]);
}

#[test]
fn last_receiver_dropped_fails_sends_and_wakes_parked_senders() {
    let (tx, rx) = chan::unbuffered::<i32>();
    let rx2 = rx.clone();
    drop(rx);
    let parked = thread::spawn(move || tx.send_blocking(5));
    thread::sleep(Duration::from_millis(20));
    drop(rx2);
    assert_eq!(parked.join().unwrap(), Err(SendError(5)));
}

#[test]
fn close_wakes_parked_receivers_and_senders() {
    // More parked parties than the close's inline wake list holds (4).
    let (tx, rx) = chan::unbuffered::<i32>();
    let receivers: Vec<_> = (0..9)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.recv_blocking())
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    tx.close();
    for r in receivers {
        assert_eq!(r.join().unwrap(), None);
    }
    let (tx, rx) = chan::unbuffered::<i32>();
    let senders: Vec<_> = (0..6)
        .map(|i| {
            let tx = tx.clone();
            thread::spawn(move || tx.send_blocking(i))
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    tx.close();
    for (i, s) in senders.into_iter().enumerate() {
        assert_eq!(s.join().unwrap(), Err(SendError(i as i32)));
    }
    drop(rx);
}

#[test]
fn unbuffered_send_returns_only_once_received() {
    let (tx, rx) = chan::unbuffered();
    let received = Arc::new(AtomicBool::new(false));
    let flag = received.clone();
    let receiver = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        flag.store(true, Ordering::SeqCst);
        rx.recv_blocking()
    });
    tx.send_blocking(1).unwrap();
    assert!(
        received.load(Ordering::SeqCst),
        "send returned before any receive began"
    );
    assert_eq!(receiver.join().unwrap(), Some(1));
    assert_eq!(tx.capacity(), 0);
}

#[test]
fn unbuffered_try_ops_pair_with_parked_parties() {
    let (tx, rx) = chan::unbuffered();
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    let mut recv = Box::pin(rx.recv());
    assert!(poll_once(&mut recv).is_pending());
    tx.try_send(2).unwrap();
    assert_eq!(poll_once(&mut recv), Poll::Ready(Some(2)));

    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let mut send = Box::pin(tx.send(3));
    assert!(poll_once(&mut send).is_pending());
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(poll_once(&mut send), Poll::Ready(Ok(())));
}

#[test]
fn timeouts() {
    let (tx, rx) = chan::bounded(1);
    let start = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(20)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    tx.send_timeout(1, Duration::from_millis(20)).unwrap();
    assert_eq!(
        tx.send_timeout(2, Duration::from_millis(20)),
        Err(SendTimeoutError::Timeout(2))
    );
    assert_eq!(rx.recv_timeout(Duration::from_millis(20)), Ok(1));
    // A zero timeout still completes what is ready at once.
    assert_eq!(tx.send_timeout(3, Duration::ZERO), Ok(()));
    assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(3));
    tx.close();
    assert_eq!(
        rx.recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Closed)
    );
    assert_eq!(
        tx.send_timeout(4, Duration::ZERO),
        Err(SendTimeoutError::Closed(4))
    );
    let (tx, rx) = chan::unbuffered::<i32>();
    assert_eq!(
        tx.send_timeout(5, Duration::from_millis(10)),
        Err(SendTimeoutError::Timeout(5))
    );
    drop(rx);
    assert_eq!(
        tx.send_timeout(6, Duration::from_millis(10)),
        Err(SendTimeoutError::Closed(6))
    );
}

#[test]
fn never_is_never_ready() {
    let rx = chan::never::<u8>();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
    let mut recv = Box::pin(rx.recv());
    assert!(poll_once(&mut recv).is_pending());
}

/// Go's TestChan / TestMultiConsumer: several producers and consumers, every
/// capacity, every value received exactly once.
#[test]
fn mpmc_threads_every_capacity() {
    for cap in [0, 1, 2, 7, 100] {
        let (tx, rx) = chan::bounded::<u64>(cap);
        let per = 2000u64;
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || {
                    for i in 0..per {
                        tx.send_blocking(p * per + i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || rx.iter().collect::<Vec<u64>>())
            })
            .collect();
        producers.into_iter().for_each(|p| p.join().unwrap());
        let mut all: Vec<u64> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..3 * per).collect::<Vec<_>>(), "cap {cap}");
    }
}

/// Per-producer FIFO holds through a channel (Go's TestChanSendRecv order check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fifo_per_producer() {
    for cap in [0, 1, 16] {
        let (tx, rx) = chan::bounded::<u32>(cap);
        let producer = tokio::spawn(async move {
            for i in 0..10_000 {
                tx.send(i).await.unwrap();
            }
        });
        let mut expect = 0;
        while let Some(v) = rx.recv().await {
            assert_eq!(v, expect);
            expect += 1;
        }
        assert_eq!(expect, 10_000);
        producer.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_is_a_stream() {
    let (tx, rx) = chan::bounded(0);
    tokio::spawn(async move {
        for i in 0..100 {
            tx.send(i).await.unwrap();
        }
    });
    let mut rx = pin!(rx);
    let mut sum = 0;
    while let Some(v) =
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(rx.as_mut(), cx)).await
    {
        sum += v;
    }
    assert_eq!(sum, 4950);
}

/// kanal loses the value when a receive future on a capacity-0 channel is
/// dropped after a sender handed it over. Here it goes back to the channel.
#[test]
fn dropped_unbuffered_recv_future_gives_the_value_back() {
    let (tx, rx) = chan::unbuffered();
    let mut recv = Box::pin(rx.recv());
    assert!(poll_once(&mut recv).is_pending());
    tx.try_send(42).unwrap(); // handed to the parked receive
    drop(recv);
    assert_eq!(rx.try_recv(), Ok(42));

    // Same with a second receiver parked: the value goes to it.
    let mut first = Box::pin(rx.recv());
    let mut second = Box::pin(rx.recv());
    assert!(poll_once(&mut first).is_pending());
    assert!(poll_once(&mut second).is_pending());
    tx.try_send(7).unwrap();
    drop(first);
    assert_eq!(poll_once(&mut second), Poll::Ready(Some(7)));
}

/// tokio drops the value of a cancelled send. Here a dropped send either sent
/// its value (a receiver took it) or gave it to nobody.
#[test]
fn dropped_send_future_sent_it_or_gave_nothing() {
    let (tx, rx) = chan::bounded(1);
    tx.try_send(1).unwrap();
    let mut send = Box::pin(tx.send(2));
    assert!(poll_once(&mut send).is_pending());
    assert_eq!(rx.try_recv(), Ok(1)); // frees the slot: the parked 2 moves in
    drop(send);
    assert_eq!(rx.try_recv(), Ok(2));

    tx.try_send(3).unwrap();
    let mut send = Box::pin(tx.send(4));
    assert!(poll_once(&mut send).is_pending());
    drop(send); // never taken: nothing was sent
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

/// crossbeam pairs only waiters of different OS threads. Here two operations
/// of one thread pair like any others.
#[test]
fn waiters_of_one_thread_pair() {
    let (tx, rx) = chan::unbuffered();
    let mut send = Box::pin(tx.send("hi"));
    let mut recv = Box::pin(rx.recv());
    assert!(poll_once(&mut send).is_pending());
    assert_eq!(poll_once(&mut recv), Poll::Ready(Some("hi")));
    assert_eq!(poll_once(&mut send), Poll::Ready(Ok(())));
}

/// Two tasks ping-ponging over unbuffered channels on a single-threaded
/// executor: nobody may wait for a parked party to wake (crossbeam's
/// zero-capacity select spins there).
#[test]
fn ping_pong_on_one_thread() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (ping_tx, ping_rx) = chan::unbuffered::<u32>();
        let (pong_tx, pong_rx) = chan::unbuffered::<u32>();
        let echo = tokio::spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                pong_tx.send(v + 1).await.unwrap();
            }
        });
        for i in 0..10_000 {
            ping_tx.send(i).await.unwrap();
            assert_eq!(pong_rx.recv().await, Some(i + 1));
        }
        drop(ping_tx);
        echo.await.unwrap();
    });
}

/// Removing a parked receive is O(1): many parked receives dropped quickly.
#[test]
fn dropping_many_parked_receivers_is_fast() {
    let (tx, rx) = chan::unbuffered::<u64>();
    let n = 1_000_000;
    let mut futures: Vec<_> = (0..n).map(|_| Box::pin(rx.recv())).collect();
    for f in &mut futures {
        assert!(poll_once(f).is_pending());
    }
    let start = Instant::now();
    // Drop from the middle outwards, the worst order for a list scan.
    let tail = futures.split_off(n / 2);
    drop(tail);
    drop(futures);
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(900),
        "dropping {n} parked receives took {took:?}"
    );
    assert_eq!(
        tx.try_send(1),
        Err(TrySendError::Full(1)),
        "no receiver left parked"
    );
}

/// Values stay with the channel when nobody receives them; they are dropped
/// with it, exactly once.
#[test]
fn buffered_values_are_dropped_with_the_channel() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = chan::bounded(4);
    for _ in 0..3 {
        tx.try_send(Counted(drops.clone())).unwrap();
    }
    drop(rx);
    assert!(matches!(
        tx.try_send(Counted(drops.clone())),
        Err(TrySendError::Closed(_))
    ));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(tx);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

/// A `send`/`recv` future polled again after it returned `Ready` panics
/// rather than sending or receiving a second time, whether it completed on
/// its first poll (the fast path) or after parking.
#[test]
fn polling_a_completed_operation_panics() {
    fn panics_after_completion<F: Future>(fut: F, what: &str) {
        let mut fut = Box::pin(fut);
        assert!(poll_once(&mut fut).is_ready(), "{what}: completes");
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut fut)));
        let Err(msg) = again else {
            panic!("{what}: a second poll panics")
        };
        let msg = msg.downcast_ref::<String>().map_or("", String::as_str);
        assert!(msg.contains("polled after it completed"), "{what}: {msg}");
    }
    let (tx, rx) = chan::bounded(1);
    panics_after_completion(tx.send(1), "send, fast path");
    panics_after_completion(rx.recv(), "recv, fast path");

    // Parked first, then completed by a counterpart.
    let (tx, rx) = chan::bounded::<i32>(1);
    let mut recv = Box::pin(rx.recv());
    assert!(poll_once(&mut recv).is_pending());
    tx.try_send(7).unwrap();
    assert_eq!(poll_once(&mut recv), Poll::Ready(Some(7)));
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut recv)));
    assert!(again.is_err(), "recv, after parking: a second poll panics");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "and took nothing");

    tx.try_send(1).unwrap();
    let mut send = Box::pin(tx.send(2));
    assert!(poll_once(&mut send).is_pending());
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(poll_once(&mut send), Poll::Ready(Ok(())));
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut send)));
    assert!(again.is_err(), "send, after parking: a second poll panics");
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "sent once");
}

/// DESIGN §2's cooperative budget: on one proc with sysmon off (so nothing
/// preempts), a task whose channel operations always complete at once must
/// still let the other task of its P run. Without the budget it would loop
/// forever and the other task would never run.
#[test]
fn a_task_whose_channel_is_always_ready_still_yields() {
    let rt = gort::Runtime::builder()
        .procs(1)
        .without_sysmon()
        .build()
        .unwrap();
    let (ran_tx, ran_rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let (s, busy_stop) = (stop.clone(), stop.clone());
    let busy = rt.go(async move {
        let (tx, rx) = chan::bounded(1);
        let mut n = 0u64;
        while !busy_stop.load(Ordering::Relaxed) {
            tx.send(n).await.unwrap();
            n += rx.recv().await.unwrap();
        }
        n
    });
    let other = rt.go(async move { ran_tx.send(()).unwrap() });
    let ran = ran_rx.recv_timeout(Duration::from_secs(10));
    s.store(true, Ordering::Relaxed);
    assert!(ran.is_ok(), "the busy task starved the other task of its P");
    other.join().unwrap();
    busy.join().unwrap();
}

/// A waker whose `wake` reads the channel it was parked on, as an executor
/// that polls the woken task inline would.
struct ReadsChannel(chan::Sender<u32>);

impl std::task::Wake for ReadsChannel {
    fn wake(self: Arc<Self>) {
        let _ = self.0.len();
    }
}

/// Wakers run after the channel's lock is released: a `send`/`recv` that
/// completes against a parked counterpart, whose waker touches the same
/// channel, must not deadlock.
#[test]
fn wakers_run_outside_the_channel_lock() {
    for cap in [0, 1] {
        let (tx, rx) = chan::bounded::<u32>(cap);
        let waker = Waker::from(Arc::new(ReadsChannel(tx.clone())));
        let mut cx = Context::from_waker(&waker);
        // A parked receiver, then an async send that hands it a value.
        let mut recv = Box::pin(rx.recv());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
        let sender = {
            let tx = tx.clone();
            thread::spawn(move || poll_once(&mut Box::pin(tx.send(1))).is_ready())
        };
        assert!(join_within(sender, "send"), "cap {cap}");
        assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(1)));
        drop(recv);
        // A parked sender (the buffer full, if any), then an async receive
        // that takes from it.
        for v in 0..cap as u32 {
            tx.try_send(v).unwrap();
        }
        let mut send = Box::pin(tx.send(2));
        assert!(send.as_mut().poll(&mut cx).is_pending());
        let receiver = thread::spawn(move || {
            let mut got = Vec::new();
            while let Poll::Ready(Some(v)) = poll_once(&mut Box::pin(rx.recv())) {
                got.push(v);
                if v == 2 {
                    break;
                }
            }
            got.last() == Some(&2)
        });
        assert!(join_within(receiver, "recv"), "cap {cap}");
        assert!(send.as_mut().poll(&mut cx).is_ready());
    }
}

/// Joins `t`. If it takes more than ten seconds it is deadlocked on a
/// channel lock, and so would the unwinding of a panic here be (dropping a
/// parked future takes that lock): the process aborts instead.
fn join_within(t: thread::JoinHandle<bool>, what: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !t.is_finished() {
        if Instant::now() > deadline {
            // Straight to stderr: the harness's capture dies with the process.
            let msg =
                format!("{what} deadlocked: the parked party's waker ran under the channel lock\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
            std::process::abort();
        }
        thread::sleep(Duration::from_millis(1));
    }
    t.join().unwrap()
}
