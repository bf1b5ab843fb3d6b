//! DESIGN §10's pinned paths and shapes, checked by the compiler: if a name,
//! a signature or an error variant drifts, this file stops building.

use std::time::{Duration, Instant};

use gort::chan::{
    self, Receiver, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryRecvError,
    TrySendError,
};
use gort::context::{AfterFunc, CancelCauseFunc, CancelFunc, Cause, Context, ContextError, Key};
use gort::errgroup::Group;
use gort::semaphore::{Permit, Weighted};
use gort::sync::WaitGroup;
use gort::time::{Elapsed, Ticker, Timer, after, sleep, sleep_until, tick, timeout};
use gort::{
    Builder, JoinError, JoinHandle, Runtime, Select, Selected, blocking, go, num_goroutines, run,
    spawn_blocking, yield_now,
};

static KEY: Key<u32> = Key::new("answer");

#[test]
fn pinned_paths_and_shapes() {
    // Runtime and Builder: by value, Send + Sync.
    let rt: Runtime = Runtime::builder()
        .procs(2)
        .thread_name("api")
        .stack_size(256 * 1024)
        .build()
        .unwrap();
    let _: fn() -> std::io::Result<Runtime> = Runtime::new;
    let _: fn() -> Builder = Runtime::builder;
    assert_eq!(rt.procs(), 2);
    let h: JoinHandle<u8> = rt.go(async { 1 });
    assert!(!h.is_finished() || h.is_finished());
    h.abort();
    let _: Result<u8, JoinError> = h.join();
    let _ = (JoinError::Aborted, JoinError::Panicked(Box::new(())));
    assert_eq!(rt.num_goroutines(), 0);
    let _ = num_goroutines();
    let _: fn(fn() -> u8) -> u8 = blocking::<fn() -> u8, u8>;
    let h: JoinHandle<u8> = spawn_blocking(|| 2);
    assert_eq!(h.join().unwrap(), 2);

    rt.block_on(async {
        yield_now().await;
        go(async {}).await.unwrap();

        // Channels and their errors.
        let (tx, rx): (Sender<u8>, Receiver<u8>) = chan::bounded(1);
        let (_utx, _urx): (Sender<u8>, Receiver<u8>) = chan::unbuffered();
        let _never: Receiver<u8> = chan::never();
        assert!(tx.try_send(1).is_ok());
        assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
        assert_eq!(rx.recv().await, Some(1));
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        assert!(matches!(
            tx.send_timeout(3, Duration::ZERO),
            Ok(()) | Err(SendTimeoutError::Timeout(3))
        ));
        let _ = rx.recv_timeout(Duration::ZERO);
        let _: (usize, usize, bool) = (tx.len(), tx.capacity(), tx.is_closed());
        assert!(tx.close());
        assert!(!tx.close());
        assert!(matches!(tx.send(4).await, Err(SendError(4))));
        assert_eq!(SendError(0u8).to_string(), "send on closed channel");
        let _ = (
            RecvTimeoutError::Timeout,
            RecvTimeoutError::Closed,
            TryRecvError::Closed,
        );
        let _ = (SendTimeoutError::Closed(0u8), TrySendError::Closed(0u8));

        // select! and Select at the crate root.
        let (tx, rx) = chan::bounded::<u8>(1);
        let got = gort::select! {
            send(tx, 7) -> res => { res.unwrap(); 0 },
            recv(rx) -> v => v.unwrap_or(0),
        };
        assert_eq!(got, 0);
        let mut sel: Select<'_> = Select::new();
        let i = sel.recv(&rx);
        let done: Selected = sel.select().await;
        assert_eq!(done.index(), i);
        assert_eq!(done.recv::<u8>(), Some(7));

        // Time.
        sleep(Duration::from_millis(1)).await;
        sleep_until(Instant::now()).await;
        let _: Receiver<Instant> = after(Duration::from_millis(1));
        let _: Receiver<Instant> = tick(Duration::from_secs(60));
        let t = Timer::new(Duration::from_secs(60));
        let _: &Receiver<Instant> = t.c();
        assert!(t.stop());
        let _: bool = t.reset(Duration::from_secs(60));
        let tk = Ticker::new(Duration::from_secs(60));
        let _: &Receiver<Instant> = tk.c();
        tk.reset(Duration::from_secs(60));
        tk.stop();
        let e: Result<(), Elapsed> = timeout(Duration::ZERO, std::future::pending()).await;
        assert!(e.is_err());

        // Context.
        let bg = Context::background();
        let _ = Context::todo();
        let (ctx, cancel): (Context, CancelFunc) = bg.with_cancel();
        let (_c2, cause_cancel): (Context, CancelCauseFunc) = bg.with_cancel_cause();
        let (_c3, _f3) = bg.with_deadline(Instant::now() + Duration::from_secs(60));
        let (_c4, _f4) = bg.with_timeout(Duration::from_secs(60));
        let why: Cause = std::sync::Arc::new(std::io::Error::other("why"));
        let (_c5, _f5) = bg.with_deadline_cause(Instant::now(), why.clone());
        let (_c6, _f6) = bg.with_timeout_cause(Duration::ZERO, why.clone());
        let v = ctx.with_value(&KEY, 42);
        assert_eq!(v.value(&KEY), Some(&42));
        let _ = ctx.without_cancel();
        let af: AfterFunc = ctx.after_func(|| {});
        let _: bool = af.stop();
        let _: bool = af.stop();
        let _: Receiver<()> = ctx.done();
        cancel.cancel();
        cause_cancel.cancel(Some(why));
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
        assert_eq!(ContextError::Canceled.to_string(), "context canceled");
        assert_eq!(
            ContextError::DeadlineExceeded.to_string(),
            "context deadline exceeded"
        );
        let _: Option<Cause> = ctx.cause();
        let _: Option<Instant> = ctx.deadline();

        // WaitGroup, errgroup, semaphore.
        let wg = WaitGroup::new();
        wg.add(1);
        wg.done();
        wg.wait().await;
        wg.go(async {});
        wg.wait().await;
        let g: Group<std::io::Error> = Group::new();
        let (g2, _gctx): (Group<std::io::Error>, Context) = Group::with_context(&bg);
        g.set_limit(Some(1));
        g.go(async { Ok(()) }).await;
        let _: bool = g2.try_go(async { Ok(()) });
        g.wait().await.unwrap();
        g2.wait().await.unwrap();
        let sem = Weighted::new(2);
        let p: Permit = sem.acquire(&bg, 1).await.unwrap();
        let _: Option<Permit> = sem.try_acquire(1);
        p.forget();
        sem.release(1);
    });

    let _: u8 = run(async { 3 });
}

#[test]
fn receivers_iterate_and_stream() {
    fn stream<S: futures_core::Stream<Item = u8>>(_: &S) {}
    let (tx, rx) = chan::bounded::<u8>(3);
    stream(&rx);
    for v in [1, 2, 3] {
        tx.send_blocking(v).unwrap();
    }
    drop(tx);
    let mut seen = Vec::new();
    for v in &rx {
        seen.push(v);
    }
    assert_eq!(seen, [1, 2, 3]);
    assert!(rx.iter().next().is_none());
    assert!(rx.recv_blocking().is_none());
}

#[test]
fn send_and_sync_where_design_says() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Runtime>();
    send_sync::<Sender<u8>>();
    send_sync::<Receiver<u8>>();
    send_sync::<Context>();
    send_sync::<WaitGroup>();
    send_sync::<Weighted>();
    send::<Permit>();
    send::<Group<std::io::Error>>();
}
