//! Go's "all goroutines are asleep - deadlock!", in gort.
//!
//! Two tasks each wait to receive from the other's channel before sending, so
//! neither can ever proceed. Go's runtime stops such a program with a fatal
//! error; `gort::run` panics with the same message and a goroutine dump
//! instead of hanging.
//!
//!     cargo run --release --example deadlock

use gort::chan;

fn main() {
    gort::run(async {
        let (to_a, from_b) = chan::unbuffered::<&str>();
        let (to_b, from_a) = chan::unbuffered::<&str>();
        let a = gort::go(async move {
            let msg = from_b.recv().await; // waits for b ...
            to_b.send("hello from a").await.ok();
            msg
        });
        let b = gort::go(async move {
            let msg = from_a.recv().await; // ... which waits for a
            to_a.send("hello from b").await.ok();
            msg
        });
        println!("a got {:?}", a.await.unwrap());
        println!("b got {:?}", b.await.unwrap());
    });
}
