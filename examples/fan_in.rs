//! Fan-in: merge two producers into one stream with `select!`, disabling a
//! case once its channel is closed (Go's nil-channel idiom, here `never()`),
//! and give up if nothing arrives for a while.
//!
//! `cargo run --release --example fan_in`

use std::time::Duration;

use gort::chan::{self, Receiver};

fn talker(name: &'static str, every: Duration, count: usize) -> Receiver<String> {
    let (tx, rx) = chan::unbuffered();
    drop(gort::go(async move {
        for i in 0..count {
            gort::time::sleep(every).await;
            tx.send(format!("{name} {i}")).await.unwrap();
        }
    }));
    rx
}

fn main() {
    gort::run(async {
        let joe = talker("joe", Duration::from_millis(10), 5);
        let ann = talker("ann", Duration::from_millis(15), 4);
        let never = chan::never::<String>();
        let (mut joe_open, mut ann_open) = (true, true);
        let mut heard = 0;
        while joe_open || ann_open {
            let (j, a) = (
                if joe_open { &joe } else { &never },
                if ann_open { &ann } else { &never },
            );
            gort::select! {
                recv(j) -> msg => match msg {
                    Some(msg) => { println!("{msg}"); heard += 1; },
                    None => joe_open = false,
                },
                recv(a) -> msg => match msg {
                    Some(msg) => { println!("{msg}"); heard += 1; },
                    None => ann_open = false,
                },
                recv(gort::time::after(Duration::from_secs(1))) -> _ => {
                    println!("you're both too slow");
                    break;
                },
            }
        }
        println!("heard {heard} messages");
        assert_eq!(heard, 9);
    });
}
