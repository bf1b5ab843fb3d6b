//! `select!` and `select_blocking!`: Go's `select` statement.
//!
//! The macros are thin: they evaluate every channel and send-value expression
//! once, in source order (Go's rule), build one typed case per arm, hand the
//! cases to the engine in `chan/select.rs` (random order, exactly-once commit,
//! clean give-up when dropped) and then run the chosen arm's body inline, so
//! `break`, `continue`, `return` and `?` in a body act on the enclosing
//! function, as in a `match`.
//!
//! ```
//! use gort::chan;
//! let (tx, rx) = chan::bounded(1);
//! gort::select_blocking! {
//!     send(tx, 1) -> res => res.unwrap(),
//!     recv(rx) -> _ => unreachable!("nothing was buffered yet"),
//! }
//! assert_eq!(rx.try_recv(), Ok(1));
//! ```
//!
//! (In async code the same arms go in `gort::select!`; a `default => …` arm
//! makes either form non-blocking.)
//!
//! An arm's pattern is an identifier or `_`: a refutable one would let a case
//! commit and then fall through, losing its value, so it does not compile.
//!
//! ```compile_fail
//! let (tx, rx) = gort::chan::bounded::<u32>(1);
//! tx.try_send(5).unwrap();
//! gort::select_blocking! {
//!     recv(rx) -> Some(0) => {},
//!     default => {},
//! }
//! ```
//!
//! Expansion, roughly: `let (c0, c1, …) = match (pin!(RecvCase::new(&rx)),
//! pin!(SendCase::new(&tx, v)), …) { (mut c0, mut c1, …) => { let i =
//! Selecting::new(CaseList(c0.as_mut(), CaseList(c1.as_mut(), … End))).await;
//! (if i == 0 { Some(c0.as_mut().take()) } else { None }, …) } }; if let
//! Some(v) = c0 { body0 } else if let Some(res) = c1 { body1 } … else {
//! default }`. Binding the cases in a `match` keeps temporaries such as
//! `ctx.done()` alive for the whole select; the cases are pinned because a
//! parked select's channels point at the waiters inside them. The arms run
//! after the cases are gone, so an arm may assign to a channel variable a
//! case borrowed (`rx = chan::never()`, Go's `ch = nil`).

/// Waits on several channel operations at once; exactly one takes effect.
///
/// ```
/// # use std::time::Duration;
/// gort::run(async {
///     let (tx, rx) = gort::chan::bounded::<u32>(1);
///     tx.send(7).await.unwrap();
///     let got = gort::select! {
///         recv(rx) -> v => v,
///         recv(gort::time::after(Duration::from_secs(5))) -> _ => None,
///     };
///     assert_eq!(got, Some(7));
/// });
/// ```
///
/// Arms: `recv(rx) -> v => body,` (`v: Option<T>`, `None` once closed),
/// `send(tx, value) -> res => body,` (`res: Result<(), SendError<T>>`), and an
/// optional `default => body,` taken at once when no case is ready. Among
/// ready cases the choice is uniformly random. A send case that is not chosen
/// sends nothing; a receive case that is not chosen receives nothing; if the
/// select future is dropped, nothing was sent, or what was received goes back
/// to its channel. Every channel and value expression is evaluated exactly
/// once, in order, before the select starts.
#[macro_export]
macro_rules! select {
    ($($arms:tt)*) => {
        $crate::__select_parse!(@async [0] () () $($arms)*)
    };
}

/// [`select!`] for plain OS threads: blocks the calling thread.
///
/// ```
/// let (tx, rx) = gort::chan::unbuffered::<&str>();
/// let t = std::thread::spawn(move || tx.send_blocking("hi"));
/// let got = gort::select_blocking! {
///     recv(rx) -> v => v,
/// };
/// assert_eq!(got, Some("hi"));
/// t.join().unwrap().unwrap();
/// ```
#[macro_export]
macro_rules! select_blocking {
    ($($arms:tt)*) => {
        $crate::__select_parse!(@blocking [0] () () $($arms)*)
    };
}

/// Parses the arms one by one. Each step names its case `case`: the name is
/// hygienic per step, so every arm gets its own binding.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    (@$mode:ident [$($n:tt)*] ($($cases:tt)*) ($($default:tt)*)
        recv($rx:expr) -> $p:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_parse!(@$mode [$($n)* + 1]
            ($($cases)* [case ($($n)*) recv ($rx) () ($p) ($body)]) ($($default)*) $($($rest)*)?)
    };
    (@$mode:ident [$($n:tt)*] ($($cases:tt)*) ($($default:tt)*)
        send($tx:expr, $v:expr) -> $p:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_parse!(@$mode [$($n)* + 1]
            ($($cases)* [case ($($n)*) send ($tx) ($v) ($p) ($body)]) ($($default)*) $($($rest)*)?)
    };
    (@$mode:ident [$($n:tt)*] ($($cases:tt)*) ()
        default => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_parse!(@$mode [$($n)*] ($($cases)*) ($body) $($($rest)*)?)
    };
    (@$mode:ident [$($n:tt)*] ($($cases:tt)*) ($($default:tt)*)) => {
        $crate::__select_expand!(@$mode ($($cases)*) ($($default)*))
    };
}

/// Builds the cases, runs the engine, then the chosen arm.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_expand {
    // `select {}`: blocks forever.
    (@async () ()) => {
        loop {
            ::std::future::pending::<()>().await
        }
    };
    (@blocking () ()) => {
        loop {
            ::std::thread::park()
        }
    };
    // `default` alone: taken at once.
    (@$mode:ident () ($default:expr)) => {
        $default
    };
    (@$mode:ident ($([$case:ident ($idx:expr) $kind:ident ($ch:expr) ($($v:expr)?) ($p:pat) ($body:expr)])+)
        ($($default:expr)?)) => {{
        // The chosen case's outcome is taken out, and every case (and every
        // temporary channel) dropped, before the arm runs: the cases borrow
        // their channels, and an arm may assign to one (Go's `ch = nil`
        // idiom, here `rx = chan::never()`).
        let ($($case,)+) = match ($(::std::pin::pin!($crate::__select_case!($kind ($ch) ($($v)?))),)+) {
            ($(mut $case,)+) => {
                let __gort_index = $crate::__select_wait!(@$mode ($($default)?) $($case)+);
                ($(match __gort_index {
                    ::std::option::Option::Some(__gort_index) if __gort_index == $idx => {
                        ::std::option::Option::Some($case.as_mut().take())
                    }
                    _ => ::std::option::Option::None,
                },)+)
            }
        };
        $(if let ::std::option::Option::Some(__gort_outcome) = $case {
            // A `let`, as in a `match` arm: the pattern must be
            // irrefutable (an identifier or `_`), and `_` drops the value
            // here, before the body (the block moves it out).
            let $p = { __gort_outcome };
            $body
        } else)+ {
            $crate::__select_default!($($default)?)
        }
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_case {
    (recv ($rx:expr) ()) => {
        $crate::chan::RecvCase::new(&$rx)
    };
    (send ($tx:expr) ($v:expr)) => {
        $crate::chan::SendCase::new(&$tx, $v)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_wait {
    (@async () $($case:ident)+) => {
        ::std::option::Option::Some(
            $crate::chan::Selecting::new($crate::__select_list!($($case)+)).await,
        )
    };
    (@blocking () $($case:ident)+) => {
        ::std::option::Option::Some($crate::chan::select_blocking(
            $crate::__select_list!($($case)+),
        ))
    };
    (@$mode:ident ($default:expr) $($case:ident)+) => {
        $crate::chan::try_select(::std::pin::Pin::new(&mut $crate::__select_list!($($case)+)))
    };
}

/// The pinned cases as a `CaseList`, which keeps their types (and so whether
/// the select future is `Send`).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_list {
    () => {
        $crate::chan::End
    };
    ($case:ident $($rest:ident)*) => {
        $crate::chan::CaseList($case.as_mut(), $crate::__select_list!($($rest)*))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_default {
    () => {
        ::std::unreachable!("select: a blocking select returned no case")
    };
    ($default:expr) => {
        $default
    };
}
