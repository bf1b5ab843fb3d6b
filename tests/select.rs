//! `select!`, `select_blocking!` and `Select`: Go's select semantics, made
//! safe against dropped futures.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use gort::chan::{self, SendError, TryRecvError};
use gort::{Select, select, select_blocking};

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn takes_the_ready_case() {
    let (tx1, rx1) = chan::bounded::<i32>(1);
    let (_tx2, rx2) = chan::bounded::<&str>(1);
    tx1.try_send(5).unwrap();
    let got = select_blocking! {
        recv(rx1) -> v => v,
        recv(rx2) -> _ => unreachable!(),
    };
    assert_eq!(got, Some(5));
}

/// Two always-ready cases are each chosen within 50% ± 3% of 100k selects.
#[test]
fn fairness_between_ready_cases() {
    let (tx1, rx1) = chan::bounded::<()>(0);
    let (tx2, rx2) = chan::bounded::<()>(0);
    tx1.close();
    tx2.close();
    let mut first = 0u32;
    let n = 100_000;
    for _ in 0..n {
        select_blocking! {
            recv(rx1) -> _ => first += 1,
            recv(rx2) -> _ => {},
        }
    }
    let share = f64::from(first) / f64::from(n);
    assert!(
        (0.47..=0.53).contains(&share),
        "first case chosen {share:.3} of the time"
    );
}

#[test]
fn fairness_async_send_cases() {
    gort::run(async {
        let (tx1, rx1) = chan::bounded::<u8>(1);
        let (tx2, rx2) = chan::bounded::<u8>(1);
        let mut first = 0u32;
        let n = 100_000;
        for _ in 0..n {
            select! {
                send(tx1, 1) -> r => { r.unwrap(); first += 1; },
                send(tx2, 2) -> r => r.unwrap(),
            }
            let _ = rx1.try_recv();
            let _ = rx2.try_recv();
        }
        let share = f64::from(first) / f64::from(n);
        assert!(
            (0.47..=0.53).contains(&share),
            "first case chosen {share:.3} of the time"
        );
    });
}

/// Past two cases the poll order is a general shuffle, and past 32 it lives
/// on the heap: with `n` ready cases (closed channels) of `n + 1`, each
/// ready one is chosen within 10% of `1/n` of the time, and the case that is
/// never ready never is.
#[test]
fn fairness_among_many_ready_cases() {
    for n in [3usize, 5, 40] {
        let closed: Vec<_> = (0..n)
            .map(|_| {
                let (tx, rx) = chan::bounded::<()>(1);
                tx.close();
                rx
            })
            .collect();
        let (_tx, idle) = chan::bounded::<()>(1);
        let selects = 2_500 * n;
        let mut chosen = vec![0usize; n + 1];
        for _ in 0..selects {
            let mut sel = Select::new();
            sel.recv(&idle);
            for rx in &closed {
                sel.recv(rx);
            }
            chosen[sel.try_select().expect("a closed case is ready").index()] += 1;
        }
        assert_eq!(chosen[0], 0, "the idle case was chosen");
        for (i, &c) in chosen.iter().enumerate().skip(1) {
            assert!(
                (2_250..=2_750).contains(&c),
                "{n} ready cases: case {i} chosen {c} times of {selects}"
            );
        }
    }
}
/// Go's evaluation rule: every send value expression is evaluated exactly
/// once per select, also when its case cannot proceed and when default wins.
#[test]
fn send_values_are_evaluated_exactly_once() {
    let evaluated = AtomicUsize::new(0);
    let value = |v: i32| {
        evaluated.fetch_add(1, Ordering::SeqCst);
        v
    };
    let (tx_full, _rx_full) = chan::bounded::<i32>(0);
    let (tx, rx) = chan::bounded::<i32>(1);
    let which = select_blocking! {
        send(tx_full, value(1)) -> _ => 1,
        send(tx, value(2)) -> r => { r.unwrap(); 2 },
    };
    assert_eq!(which, 2);
    assert_eq!(evaluated.load(Ordering::SeqCst), 2);
    assert_eq!(rx.try_recv(), Ok(2));

    tx.try_send(0).unwrap();
    let which = select_blocking! {
        send(tx_full, value(3)) -> _ => 1,
        send(tx, value(4)) -> _ => 2,
        default => 0,
    };
    assert_eq!(which, 0);
    assert_eq!(evaluated.load(Ordering::SeqCst), 4);
    assert_eq!(rx.try_recv(), Ok(0), "a case not chosen sent nothing");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn default_and_parked_counterparts() {
    let (tx, rx) = chan::unbuffered::<i32>();
    let got = select_blocking! {
        recv(rx) -> v => v,
        default => Some(-1),
    };
    assert_eq!(got, Some(-1));
    assert_eq!(select_blocking! { default => 3, }, 3);

    // A select with default succeeds against a receiver parked on an unbuffered channel.
    let mut recv = Box::pin(rx.recv());
    assert!(poll_once(recv.as_mut()).is_pending());
    let sent = select_blocking! {
        send(tx, 9) -> r => r.is_ok(),
        default => false,
    };
    assert!(sent);
    assert_eq!(poll_once(recv.as_mut()), Poll::Ready(Some(9)));
}

#[test]
fn closed_channels_and_never() {
    let (tx, rx) = chan::bounded::<i32>(1);
    tx.close();
    let r = select_blocking! {
        send(tx, 1) -> r => r,
        recv(chan::never::<i32>()) -> _ => unreachable!(),
    };
    assert_eq!(r, Err(SendError(1)));
    let v = select_blocking! {
        recv(rx) -> v => v,
        recv(chan::never::<i32>()) -> _ => unreachable!(),
    };
    assert_eq!(v, None);
    let got = select_blocking! {
        recv(chan::never::<i32>()) -> _ => 1,
        default => 2,
    };
    assert_eq!(got, 2);
}

/// Arm bodies are the enclosing function's code: break, continue, return, `?`.
#[test]
fn control_flow_in_arms() {
    fn first_even(rx: &chan::Receiver<i32>) -> Result<i32, &'static str> {
        loop {
            select_blocking! {
                recv(rx) -> v => {
                    let v = v.ok_or("closed")?;
                    if v % 2 == 1 {
                        continue;
                    }
                    return Ok(v);
                },
            }
        }
    }
    let (tx, rx) = chan::bounded(4);
    for v in [1, 3, 4] {
        tx.try_send(v).unwrap();
    }
    assert_eq!(first_even(&rx), Ok(4));
    tx.close();
    assert_eq!(first_even(&rx), Err("closed"));

    let mut n = 0;
    let (_tx, rx) = chan::bounded::<()>(0);
    loop {
        n += 1;
        select_blocking! {
            recv(rx) -> _ => {},
            default => if n == 3 { break } else { continue },
        }
    }
    assert_eq!(n, 3);
}

/// flume's Selector can commit two send arms. Here, with both receivers
/// parked, exactly one send case takes effect.
#[test]
fn exactly_one_send_case_commits() {
    for _ in 0..1000 {
        let (tx1, rx1) = chan::unbuffered::<i32>();
        let (tx2, rx2) = chan::unbuffered::<i32>();
        let mut r1 = Box::pin(rx1.recv());
        let mut r2 = Box::pin(rx2.recv());
        assert!(poll_once(r1.as_mut()).is_pending());
        assert!(poll_once(r2.as_mut()).is_pending());
        let which = select_blocking! {
            send(tx1, 1) -> r => { r.unwrap(); 1 },
            send(tx2, 2) -> r => { r.unwrap(); 2 },
        };
        let got1 = poll_once(r1.as_mut());
        let got2 = poll_once(r2.as_mut());
        match which {
            1 => assert!(got1 == Poll::Ready(Some(1)) && got2.is_pending()),
            _ => assert!(got2 == Poll::Ready(Some(2)) && got1.is_pending()),
        }
    }
}

/// Many selects racing receivers on threads: the number of values received
/// equals the number of selects, each value once.
#[test]
fn racing_selects_commit_once() {
    let (tx1, rx1) = chan::unbuffered::<u32>();
    let (tx2, rx2) = chan::unbuffered::<u32>();
    let received = Arc::new(AtomicUsize::new(0));
    let receivers: Vec<_> = [rx1, rx2]
        .into_iter()
        .map(|rx| {
            let received = received.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(v) = rx.recv_blocking() {
                    received.fetch_add(1, Ordering::SeqCst);
                    got.push(v);
                }
                got
            })
        })
        .collect();
    let n = 20_000;
    for i in 0..n {
        select_blocking! {
            send(tx1, i) -> r => r.unwrap(),
            send(tx2, i) -> r => r.unwrap(),
        }
    }
    drop((tx1, tx2));
    let mut all: Vec<u32> = receivers
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>());
}

/// A select future dropped after a sender handed it a value gives the value
/// back to the channel; one dropped while parked on send cases sent nothing.
#[test]
fn dropped_select_loses_nothing() {
    let (tx1, rx1) = chan::unbuffered::<i32>();
    let (_tx2, rx2) = chan::unbuffered::<i32>();
    {
        let mut fut = Box::pin(async {
            select! {
                recv(rx1) -> v => v,
                recv(rx2) -> v => v,
            }
        });
        assert!(poll_once(fut.as_mut()).is_pending());
        tx1.try_send(11).unwrap(); // handed to the parked select
    }
    assert_eq!(rx1.try_recv(), Ok(11));

    let (tx3, rx3) = chan::unbuffered::<i32>();
    {
        let mut fut = Box::pin(async {
            select! {
                send(tx1, 1) -> _ => {},
                send(tx3, 3) -> _ => {},
            }
        });
        assert!(poll_once(fut.as_mut()).is_pending());
    }
    assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rx3.try_recv(), Err(TryRecvError::Empty));
}

/// A select never pairs its send case with its own receive case.
#[test]
fn select_does_not_pair_with_itself() {
    let (tx, rx) = chan::unbuffered::<i32>();
    let got = select_blocking! {
        send(tx, 1) -> _ => "sent",
        recv(rx) -> _ => "received",
        default => "default",
    };
    assert_eq!(got, "default");
    let peer_rx = rx.clone();
    let peer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        peer_rx.recv_blocking()
    });
    let got = select_blocking! {
        send(tx, 1) -> _ => "sent",
        recv(rx) -> _ => "received",
    };
    assert_eq!(got, "sent");
    assert_eq!(peer.join().unwrap(), Some(1));
}

#[test]
fn dynamic_select() {
    let (tx1, rx1) = chan::bounded::<u8>(1);
    let (tx2, rx2) = chan::bounded::<String>(1);
    let mut sel = Select::new();
    let a = sel.recv(&rx1);
    let b = sel.send(&tx2, "x".to_string());
    let done = sel.select_blocking();
    assert_eq!(done.index(), b);
    assert_eq!(done.send_result::<String>(), Ok(()));
    assert_eq!(rx2.try_recv().unwrap(), "x");
    assert_eq!(a, 0);

    let mut sel = Select::new();
    sel.recv(&rx1);
    assert!(sel.try_select().is_none());

    gort::run(async {
        let rx1 = &rx1;
        let tx1 = tx1.clone();
        let h = gort::go(async move { tx1.send(4).await.unwrap() });
        let mut sel = Select::new();
        let i = sel.recv(rx1);
        let done = sel.select().await;
        assert_eq!(done.index(), i);
        assert_eq!(done.recv::<u8>(), Some(4));
        h.await.unwrap();
    });
}

/// Two tasks selecting against each other on one worker make progress.
#[test]
fn selects_ping_pong_in_tasks() {
    let rt = gort::Runtime::builder().procs(1).build().unwrap();
    rt.block_on(async {
        let (ping_tx, ping_rx) = chan::unbuffered::<u32>();
        let (pong_tx, pong_rx) = chan::unbuffered::<u32>();
        let (quit_tx, quit_rx) = chan::unbuffered::<()>();
        let echo = gort::go(async move {
            loop {
                select! {
                    recv(ping_rx) -> v => pong_tx.send(v.unwrap() * 2).await.unwrap(),
                    recv(quit_rx) -> _ => break,
                }
            }
        });
        for i in 0..10_000 {
            select! {
                send(ping_tx, i) -> r => r.unwrap(),
                recv(chan::never::<()>()) -> _ => unreachable!(),
            }
            assert_eq!(pong_rx.recv().await, Some(i * 2));
        }
        quit_tx.close();
        echo.await.unwrap();
    });
}

/// Go's TestSelfSelect: two tasks select on sending to and receiving from
/// the same channel; neither deadlocks, and on an unbuffered channel neither
/// ever receives its own value.
#[test]
fn self_select() {
    for cap in [0, 1] {
        gort::run(async move {
            let (tx, rx) = chan::bounded::<u32>(cap);
            let workers: Vec<_> = (0..2u32)
                .map(|p| {
                    let (tx, rx) = (tx.clone(), rx.clone());
                    gort::go(async move {
                        for i in 0..1000 {
                            if p == 0 || i % 2 == 0 {
                                select! {
                                    send(tx, p) -> r => r.unwrap(),
                                    recv(rx) -> v => {
                                        if cap == 0 && v == Some(p) {
                                            panic!("task {p} received its own value");
                                        }
                                    },
                                }
                            } else {
                                select! {
                                    recv(rx) -> v => {
                                        if cap == 0 && v == Some(p) {
                                            panic!("task {p} received its own value");
                                        }
                                    },
                                    send(tx, p) -> r => r.unwrap(),
                                }
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.unwrap();
            }
        });
    }
}

/// Go's TestSelectStress: on four channels, senders and receivers that are
/// all selects (over every channel still open to them) move N values per
/// channel; every channel delivers exactly its N values, once each. This is
/// where a select meets another select on both sides of a handoff.
#[test]
fn select_stress() {
    const N: u32 = 3000;
    for cap in [0, 1, 10] {
        let chans: Vec<_> = (0..4).map(|_| chan::bounded::<u32>(cap)).collect();
        let txs: Vec<_> = chans.iter().map(|(tx, _)| tx.clone()).collect();
        let rxs: Vec<_> = chans.iter().map(|(_, rx)| rx.clone()).collect();
        drop(chans);
        // Two threads each send half the values on all four channels through one select.
        let senders: Vec<_> = (0..2u32)
            .map(|k| {
                let txs = txs.clone();
                thread::spawn(move || {
                    let mut next = [k; 4];
                    // A channel without receivers: its send case is ready at
                    // once with an error, so a finished channel costs a retry.
                    let dead = chan::bounded::<u32>(0).0;
                    while next.iter().any(|&n| n < N) {
                        let t: Vec<&chan::Sender<u32>> = (0..4)
                            .map(|i| if next[i] < N { &txs[i] } else { &dead })
                            .collect();
                        let sent = select_blocking! {
                            send(t[0], next[0]) -> r => r.ok().map(|()| 0),
                            send(t[1], next[1]) -> r => r.ok().map(|()| 1),
                            send(t[2], next[2]) -> r => r.ok().map(|()| 2),
                            send(t[3], next[3]) -> r => r.ok().map(|()| 3),
                        };
                        if let Some(i) = sent {
                            next[i] += 2;
                        }
                    }
                })
            })
            .collect();
        drop(txs); // the sender threads' clones close each channel when both end
        let got = gort::run(async move {
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let rxs = rxs.clone();
                    gort::go(async move {
                        let mut got: Vec<Vec<u32>> = vec![Vec::new(); 4];
                        let never = chan::never::<u32>();
                        let mut open = [true; 4];
                        while open.iter().any(|&o| o) {
                            let r: Vec<&chan::Receiver<u32>> = (0..4)
                                .map(|i| if open[i] { &rxs[i] } else { &never })
                                .collect();
                            let (i, v) = select! {
                                recv(r[0]) -> v => (0, v),
                                recv(r[1]) -> v => (1, v),
                                recv(r[2]) -> v => (2, v),
                                recv(r[3]) -> v => (3, v),
                            };
                            match v {
                                Some(v) => got[i].push(v),
                                None => open[i] = false,
                            }
                        }
                        got
                    })
                })
                .collect();
            drop(rxs);
            let mut all: Vec<Vec<u32>> = vec![Vec::new(); 4];
            for r in receivers {
                for (i, vals) in r.await.unwrap().into_iter().enumerate() {
                    all[i].extend(vals);
                }
            }
            all
        });
        senders.into_iter().for_each(|s| s.join().unwrap());
        for (i, mut vals) in got.into_iter().enumerate() {
            vals.sort_unstable();
            assert_eq!(vals, (0..N).collect::<Vec<_>>(), "cap {cap}, channel {i}");
        }
    }
}

/// A dynamic select over more cases than fit the inline poll order.
#[test]
fn dynamic_select_many_cases() {
    let chans: Vec<_> = (0..40).map(|_| chan::bounded::<usize>(1)).collect();
    let mut hits = [0u32; 40];
    for round in 0..400 {
        let ready = [round % 40, (round * 7 + 3) % 40]; // never equal: 6r + 3 is odd
        for &i in &ready {
            chans[i].0.try_send(i).unwrap();
        }
        for _ in 0..ready.len() {
            let mut sel = Select::new();
            for (_, rx) in &chans {
                sel.recv(rx);
            }
            let done = sel.select_blocking();
            let i = done.index();
            assert!(ready.contains(&i), "case {i} was not ready");
            assert_eq!(done.recv::<usize>(), Some(i));
            hits[i] += 1;
        }
    }
    assert!(
        hits.iter().all(|&h| h > 0),
        "every case was chosen at some point"
    );
}

/// A parked task names its wait in Go's words in the runtime's dump.
#[test]
fn dump_names_channel_waits() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let (tx, rx) = chan::unbuffered::<u8>();
    let (tx2, rx2) = chan::unbuffered::<u8>();
    let receiver = {
        let rx = rx.clone();
        rt.go(async move { rx.recv().await })
    };
    let sender = {
        let tx2 = tx2.clone();
        rt.go(async move { tx2.send(1).await })
    };
    let selecting = {
        let never = chan::never::<u8>();
        rt.go(async move {
            select! {
                recv(never) -> _ => {},
                recv(chan::never::<u8>()) -> _ => {},
                default => {},
            }
            let (_keep, rx3) = chan::bounded::<u8>(1);
            select! {
                recv(rx3) -> _ => {},
                recv(chan::never::<u8>()) -> _ => {},
            }
        })
    };
    thread::sleep(Duration::from_millis(50));
    let dump = rt.dump();
    assert!(dump.contains("[chan receive, "), "{dump}");
    assert!(dump.contains("[chan send, "), "{dump}");
    assert!(dump.contains("[select, "), "{dump}");
    tx.try_send(7).unwrap();
    assert_eq!(rx2.try_recv(), Ok(1));
    assert_eq!(receiver.join().unwrap(), Some(7));
    assert_eq!(sender.join().unwrap(), Ok(()));
    selecting.abort();
}

/// A task aborted while parked in `select!` (its future dropped in place by
/// the runtime) loses nothing: a value handed to it goes back to its channel.
#[test]
fn aborted_select_task_loses_nothing() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    for round in 0..200u32 {
        let (tx, rx) = chan::unbuffered::<u32>();
        let task = {
            let rx = rx.clone();
            rt.go(async move {
                select! {
                    recv(rx) -> v => v,
                    recv(chan::never::<u32>()) -> _ => None,
                }
            })
        };
        while tx.try_send(round).is_err() {
            thread::yield_now(); // until the task is parked in its select
        }
        task.abort();
        let received = match task.join() {
            Ok(v) => v,
            Err(e) => {
                assert!(e.is_aborted());
                None
            }
        };
        let left = rx.try_recv().ok();
        assert_eq!(
            usize::from(received.is_some()) + usize::from(left.is_some()),
            1
        );
        assert_eq!(received.or(left), Some(round));
    }
    // A runtime dropped with a task parked in a select drops it cleanly too.
    let (_keep, rx) = chan::bounded::<u8>(1);
    drop(rt.go(async move {
        select! {
            recv(rx) -> _ => {},
            recv(chan::never::<u8>()) -> _ => {},
        }
    }));
    thread::sleep(Duration::from_millis(10));
    drop(rt);
}

/// `select!` takes values that are not `Send` (Go has no such bound): the
/// select future is then `!Send` and runs where such futures run, e.g.
/// `gort::run`. With `Send` values the same select can be spawned with `go`.
#[test]
fn select_over_values_that_are_not_send() {
    use std::rc::Rc;
    let got = gort::run(async {
        let (tx, rx) = chan::bounded::<Rc<i32>>(1);
        let (_tx2, rx2) = chan::bounded::<Rc<&str>>(1);
        let sent = select! {
            send(tx, Rc::new(7)) -> res => res.is_ok(),
            recv(rx2) -> _ => false,
        };
        assert!(sent);
        select! {
            recv(rx) -> v => v.map(|v| *v),
            recv(rx2) -> _ => None,
        }
    });
    assert_eq!(got, Some(7));

    fn spawnable<F: Future + Send + 'static>(f: F) -> F {
        f
    }
    let (tx, rx) = chan::bounded::<i32>(1);
    let task = gort::run(async move {
        gort::go(spawnable(async move {
            select! {
                send(tx, 1) -> res => res.unwrap(),
            }
            select! {
                recv(rx) -> v => v,
            }
        }))
        .await
    });
    assert_eq!(task.unwrap(), Some(1));
}

#[test]
fn an_arm_may_disable_its_own_case_the_go_way() {
    // Go: `case v, ok := <-a: if !ok { a = nil }`, merging two channels
    // until both are closed. The arm assigns to the channel its case
    // borrowed.
    let (a_tx, mut a) = chan::bounded::<u32>(4);
    let (b_tx, mut b) = chan::bounded::<u32>(4);
    for i in 0..3 {
        a_tx.try_send(i).unwrap();
        b_tx.try_send(10 + i).unwrap();
    }
    drop((a_tx, b_tx));
    let mut got = Vec::new();
    let mut open = 2;
    while open > 0 {
        select_blocking! {
            recv(a) -> v => match v {
                Some(v) => got.push(v),
                None => { a = chan::never(); open -= 1; }
            },
            recv(b) -> v => match v {
                Some(v) => got.push(v),
                None => { b = chan::never(); open -= 1; }
            },
        }
    }
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 10, 11, 12]);

    // The same in async code, with `default` and a send arm that replaces
    // its channel.
    let (tx1, rx1) = chan::bounded::<u32>(1);
    let (tx2, rx2) = chan::bounded::<u32>(1);
    let sent = gort::run(async move {
        let mut tx = tx1;
        let mut sent = 0;
        for i in 0..4 {
            select! {
                send(tx, i) -> res => { res.unwrap(); sent += 1; tx = tx2.clone(); },
                default => {},
            }
        }
        sent
    });
    assert_eq!(sent, 2);
    assert_eq!((rx1.try_recv(), rx2.try_recv()), (Ok(0), Ok(1)));
}

#[test]
fn an_arm_ignoring_its_value_drops_it_before_the_body() {
    // `-> _` drops the received value at once, as `let _ = value;` would
    // not: a permit received and ignored is free again inside the arm.
    let sem = gort::semaphore::Weighted::new(1);
    let (tx, rx) = chan::bounded(1);
    tx.try_send(sem.try_acquire(1).unwrap()).unwrap();
    let free_in_arm = select_blocking! {
        recv(rx) -> _ => sem.try_acquire(1).is_some(),
    };
    assert!(free_in_arm);
}
