//! The shapes of function that `#[retry]` accepts, and that each runs its body
//! once per attempt: receivers, generics, lifetimes, `impl Trait` and pattern
//! arguments, trait impls, `crate = ...`, other attributes, `?` and `return`.

use retry_runtime::{attempt, retry, testing, Classify, ErrorClass};
use std::cell::Cell;
use std::future::Future;
use std::num::ParseIntError;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
enum TestError {
    Transient,
    Fatal,
    TimedOut,
}

impl Classify for TestError {
    fn class(&self) -> ErrorClass {
        match self {
            TestError::Transient => ErrorClass::Server,
            TestError::Fatal => ErrorClass::Client,
            TestError::TimedOut => ErrorClass::Timeout,
        }
    }
}

impl From<retry_runtime::Elapsed> for TestError {
    fn from(_: retry_runtime::Elapsed) -> Self {
        TestError::TimedOut
    }
}

impl From<ParseIntError> for TestError {
    fn from(_: ParseIntError) -> Self {
        TestError::Transient
    }
}

// Fails with a transient error until the `n`th call.
fn flaky(calls: &Cell<u32>, n: u32) -> Result<u32, TestError> {
    calls.set(calls.get() + 1);
    if calls.get() < n {
        Err(TestError::Transient)
    } else {
        Ok(calls.get())
    }
}

// ----- `?` and `return` end the attempt, not the call -----

#[retry(max_attempts = 5)]
fn question_mark(calls: &Cell<u32>) -> Result<u32, TestError> {
    let n = flaky(calls, 3)?;
    Ok(n * 10)
}

#[retry(max_attempts = 5)]
fn early_return(calls: &Cell<u32>) -> Result<u32, TestError> {
    calls.set(calls.get() + 1);
    if calls.get() < 4 {
        return Err(TestError::Transient);
    }
    Ok(calls.get())
}

#[retry(max_attempts = 5)]
fn parse_error_converted(calls: &Cell<u32>, text: &str) -> Result<u32, TestError> {
    calls.set(calls.get() + 1);
    // `?` converts through `From` into the declared error type.
    let n: u32 = text.parse()?;
    Ok(n)
}

#[test]
fn question_mark_retries_the_attempt() {
    let _clock = testing::record_sleeps();
    let calls = Cell::new(0);
    assert_eq!(question_mark(&calls), Ok(30));
    assert_eq!(calls.get(), 3);
}

#[test]
fn return_retries_the_attempt() {
    let _clock = testing::record_sleeps();
    let calls = Cell::new(0);
    assert_eq!(early_return(&calls), Ok(4));
    assert_eq!(calls.get(), 4);
}

#[test]
fn question_mark_converts_errors() {
    let clock = testing::record_sleeps();
    let calls = Cell::new(0);
    assert_eq!(
        parse_error_converted(&calls, "x"),
        Err(TestError::Transient)
    );
    assert_eq!(calls.get(), 5);
    assert_eq!(clock.sleeps().len(), 4);
    calls.set(0);
    assert_eq!(parse_error_converted(&calls, "7"), Ok(7));
    assert_eq!(calls.get(), 1);
}

// ----- closures and async blocks in the body keep their own `?` and `return` -----

#[retry(max_attempts = 3)]
fn inner_closure(calls: &Cell<u32>) -> Result<u32, TestError> {
    calls.set(calls.get() + 1);
    let parse = |text: &str| -> Result<u32, ParseIntError> {
        let n = text.parse::<u32>()?;
        Ok(n)
    };
    let early = || {
        if calls.get() > 0 {
            return 5;
        }
        6
    };
    // The closure's `?` fails inside the closure only: no retry.
    assert!(parse("not a number").is_err());
    Ok(parse("2").unwrap_or(0) + early())
}

#[retry(max_attempts = 3)]
async fn inner_async_block(calls: &AtomicU32) -> Result<u32, TestError> {
    calls.fetch_add(1, Ordering::SeqCst);
    let parsed: Result<u32, ParseIntError> = async {
        let n = "x".parse::<u32>()?;
        Ok(n)
    }
    .await;
    assert!(parsed.is_err());
    let fallback = async {
        if parsed.is_err() {
            return 7;
        }
        8
    }
    .await;
    Ok(fallback)
}

#[test]
fn closures_keep_their_own_question_mark() {
    let _clock = testing::record_sleeps();
    let calls = Cell::new(0);
    assert_eq!(inner_closure(&calls), Ok(7));
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn async_blocks_keep_their_own_question_mark() {
    let _clock = testing::record_sleeps();
    let calls = AtomicU32::new(0);
    assert_eq!(inner_async_block(&calls).await, Ok(7));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// ----- receivers -----

#[derive(Clone)]
struct Service {
    name: String,
    calls: Arc<AtomicU32>,
    fail_until: u32,
    log: Vec<u32>,
}

impl Service {
    fn new(fail_until: u32) -> Self {
        Service {
            name: "svc".to_owned(),
            calls: Arc::new(AtomicU32::new(0)),
            fail_until,
            log: Vec::new(),
        }
    }

    fn attempt(&self) -> Result<u32, TestError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n < self.fail_until {
            Err(TestError::Transient)
        } else {
            Ok(n)
        }
    }

    #[retry(max_attempts = 5)]
    fn by_ref(&self) -> Result<u32, TestError> {
        self.attempt()
    }

    #[retry(max_attempts = 5)]
    fn by_mut(&mut self) -> Result<usize, TestError> {
        let n = self.attempt();
        self.log.push(n.clone().unwrap_or(0));
        // Moving the `&mut Self` out must not consume the method's `self`.
        let this = self;
        n.map(|_| this.log.len())
    }

    #[retry(max_attempts = 5)]
    fn by_value(self) -> Result<String, TestError> {
        let n = self.attempt()?;
        // `self` inside macro arguments is the attempt's copy too.
        let described = format!("{}#{}", self.name, n);
        let owned: Service = self;
        Ok(format!("{described}/{}", owned.log.len()))
    }

    #[retry(max_attempts = 5)]
    fn by_mut_value(mut self) -> Result<usize, TestError> {
        self.log.push(0);
        self.attempt()?;
        Ok(self.log.len())
    }

    #[retry(max_attempts = 5)]
    fn boxed(self: Box<Self>) -> Result<u32, TestError> {
        // A nested item keeps its own `self`.
        struct Helper(u32);
        impl Helper {
            fn get(&self) -> u32 {
                self.0
            }
        }
        self.attempt().map(|n| Helper(n).get())
    }

    #[retry(max_attempts = 5)]
    async fn by_mut_async(&mut self) -> Result<usize, TestError> {
        tokio::task::yield_now().await;
        self.attempt()?;
        self.log.push(1);
        Ok(self.log.len())
    }
}

impl Service {
    #[retry]
    fn connect(calls: &Cell<u32>) -> Result<Self, TestError> {
        flaky(calls, 2)?;
        Ok(Service::new(0))
    }
}

#[test]
fn receivers() {
    let _clock = testing::record_sleeps();
    assert_eq!(Service::new(3).by_ref(), Ok(3));

    let mut service = Service::new(3);
    assert_eq!(service.by_mut(), Ok(3));
    assert_eq!(service.log, vec![0, 0, 3]);

    let service = Service::new(2);
    let calls = Arc::clone(&service.calls);
    assert_eq!(service.by_value(), Ok("svc#2/0".to_owned()));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Each attempt starts from a fresh copy of `self`.
    assert_eq!(Service::new(3).by_mut_value(), Ok(1));
    assert_eq!(Box::new(Service::new(2)).boxed(), Ok(2));
    let calls = Cell::new(0);
    assert_eq!(
        Service::connect(&calls).map(|s| s.name),
        Ok("svc".to_owned())
    );
}

#[tokio::test]
async fn async_mut_receiver() {
    let _clock = testing::record_sleeps();
    let mut service = Service::new(3);
    assert_eq!(service.by_mut_async().await, Ok(1));
    assert_eq!(service.calls.load(Ordering::SeqCst), 3);
}

// ----- generics, where clauses, lifetimes -----

#[retry(max_attempts = 4)]
fn first_item<T, I>(items: I, calls: &Cell<u32>) -> Result<T, TestError>
where
    I: IntoIterator<Item = T> + Clone,
{
    flaky(calls, 2)?;
    items.into_iter().next().ok_or(TestError::Fatal)
}

#[retry]
fn longest<'a, 'b: 'a>(a: &'a str, b: &'b str, calls: &Cell<u32>) -> Result<&'a str, TestError> {
    flaky(calls, 2)?;
    Ok(if a.len() >= b.len() { a } else { b })
}

#[retry]
fn elided(text: &str) -> Result<&str, TestError> {
    Ok(text.trim())
}

#[test]
fn generics_and_lifetimes() {
    let _clock = testing::record_sleeps();
    let calls = Cell::new(0);
    assert_eq!(
        first_item(vec![String::from("a")], &calls),
        Ok("a".to_owned())
    );
    assert_eq!(calls.get(), 2);
    calls.set(0);
    assert_eq!(longest("abc", "de", &calls), Ok("abc"));
    assert_eq!(elided("  x "), Ok("x"));
}

// ----- `impl Trait` arguments, pattern arguments, `mut` arguments -----

#[retry]
fn impl_trait_args(
    make: impl Fn() -> u32 + Clone,
    check: &impl Fn(u32) -> bool,
    calls: &Cell<u32>,
) -> Result<u32, TestError> {
    flaky(calls, 2)?;
    let n = make();
    if check(n) {
        Ok(n)
    } else {
        Err(TestError::Fatal)
    }
}

#[derive(Clone)]
struct Pair {
    x: u32,
    y: u32,
}

#[retry]
fn patterns(
    (a, b): (u32, u32),
    Pair { x, y }: Pair,
    &c: &u32,
    [d, _]: [u32; 2],
    _: String,
    mut total: u32,
    calls: &Cell<u32>,
) -> Result<u32, TestError> {
    // Each attempt starts again from the caller's `total`.
    total += a + b + x + y + c + d;
    flaky(calls, 3)?;
    Ok(total)
}

#[retry]
fn mutable_reference(out: &mut Vec<u32>, calls: &Cell<u32>) -> Result<usize, TestError> {
    out.push(calls.get());
    flaky(calls, 2)?;
    let moved = out;
    Ok(moved.len())
}

#[test]
fn argument_shapes() {
    let _clock = testing::record_sleeps();
    let calls = Cell::new(0);
    let offset = 1;
    assert_eq!(
        impl_trait_args(move || 41 + offset, &|n| n == 42, &calls),
        Ok(42)
    );

    calls.set(0);
    let pair = Pair { x: 3, y: 4 };
    assert_eq!(
        patterns((1, 2), pair, &5, [6, 0], String::new(), 100, &calls),
        Ok(121)
    );
    assert_eq!(calls.get(), 3);

    calls.set(0);
    let mut out = Vec::new();
    assert_eq!(mutable_reference(&mut out, &calls), Ok(2));
    assert_eq!(out, vec![0, 1]);
}

// ----- clones and panics -----

/// Counts the clones made of it.
struct Counted<'a>(&'a Cell<u32>);

impl Clone for Counted<'_> {
    fn clone(&self) -> Self {
        self.0.set(self.0.get() + 1);
        Counted(self.0)
    }
}

#[retry]
fn takes_owned(arg: Counted<'_>, calls: &Cell<u32>) -> Result<u32, TestError> {
    let _owned: Counted<'_> = arg;
    flaky(calls, 3)
}

#[test]
fn owned_arguments_are_cloned_once_per_attempt() {
    let _clock = testing::record_sleeps();
    let (clones, calls) = (Cell::new(0), Cell::new(0));
    assert!(takes_owned(Counted(&clones), &calls).is_ok());
    assert_eq!((calls.get(), clones.get()), (3, 3));
}

#[retry]
fn panics() -> Result<u32, TestError> {
    assert!(attempt().is_some());
    panic!("the body panicked");
}

#[test]
fn a_panicking_body_leaves_no_context_behind() {
    // The first call of a function starts out of line (it registers); later ones inline.
    for _ in 0..2 {
        assert!(std::panic::catch_unwind(panics).is_err());
        assert!(attempt().is_none());
    }
}

#[retry]
fn remaining_seen_inside() -> Result<bool, TestError> {
    Ok(attempt().and_then(|a| a.remaining()).is_some())
}

#[retry(deadline = 10s)]
fn with_deadline() -> Result<(bool, bool), TestError> {
    let own = attempt().and_then(|a| a.remaining()).is_some();
    Ok((own, remaining_seen_inside()?))
}

#[test]
fn deadlines_hold_on_every_call_not_only_the_first() {
    // Later calls take the plain start when they may: a deadline, own or inherited, forbids it.
    for _ in 0..3 {
        assert_eq!(with_deadline(), Ok((true, true)));
        assert_eq!(remaining_seen_inside(), Ok(false));
    }
}

// ----- trait impls, sync and async -----

trait Fetch {
    fn fetch_sync(&self, id: u32) -> Result<String, TestError>;
    async fn fetch(&self, id: u32) -> Result<String, TestError>;
}

struct Backend {
    calls: AtomicU32,
}

impl Fetch for Backend {
    #[retry(max_attempts = 3)]
    fn fetch_sync(&self, id: u32) -> Result<String, TestError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(TestError::Transient);
        }
        Ok(format!("item {id}"))
    }

    #[retry(max_attempts = 3, attempt_timeout = 5s)]
    async fn fetch(&self, id: u32) -> Result<String, TestError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(TestError::Transient);
        }
        tokio::task::yield_now().await;
        Ok(format!("item {id}"))
    }
}

#[test]
fn trait_impl_sync() {
    let _clock = testing::record_sleeps();
    let backend = Backend {
        calls: AtomicU32::new(0),
    };
    assert_eq!(backend.fetch_sync(7), Ok("item 7".to_owned()));
    assert_eq!(backend.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn trait_impl_async() {
    let backend = Backend {
        calls: AtomicU32::new(0),
    };
    assert_eq!(backend.fetch(7).await, Ok("item 7".to_owned()));
    assert_eq!(backend.calls.load(Ordering::SeqCst), 2);
}

// ----- attempt_timeout cuts a running async attempt -----

#[retry(max_attempts = 3, attempt_timeout = 1s, on = [Timeout(max_attempts = 3)])]
async fn hangs_first(calls: &AtomicU32) -> Result<u32, TestError> {
    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    Ok(calls.load(Ordering::SeqCst))
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_cuts_an_attempt() {
    let calls = AtomicU32::new(0);
    assert_eq!(hangs_first(&calls).await, Ok(2));
}

// ----- `crate = path`, other attributes kept -----

mod reexport {
    pub use ::retry_runtime;
}

#[retry(crate = crate::reexport::retry_runtime, max_attempts = 2)]
fn through_reexport(calls: &Cell<u32>) -> Result<u32, TestError> {
    flaky(calls, 2)
}

// A `macro_rules!` that writes retried functions names the runtime through
// `$crate`.
macro_rules! retried_getter {
    ($name:ident, $value:expr) => {
        #[retry(crate = $crate::reexport::retry_runtime, max_attempts = 2)]
        fn $name(calls: &Cell<u32>) -> Result<u32, TestError> {
            flaky(calls, 2)?;
            Ok($value)
        }
    };
}

retried_getter!(from_macro, 9);

/// Documented, instrumented, and retried.
#[retry(max_attempts = 2)]
#[tracing::instrument(skip(calls), err(Debug))]
fn instrumented(label: &str, calls: &Cell<u32>) -> Result<u32, TestError> {
    tracing::info!(label, "attempt");
    flaky(calls, 2)
}

#[retry(max_attempts = 2)]
#[tracing::instrument(skip(calls))]
async fn instrumented_async(calls: &AtomicU32) -> Result<u32, TestError> {
    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(TestError::Transient);
    }
    Ok(2)
}

#[test]
fn crate_override_and_attributes() {
    let _clock = testing::record_sleeps();
    let calls = Cell::new(0);
    assert_eq!(through_reexport(&calls), Ok(2));
    calls.set(0);
    assert_eq!(from_macro(&calls), Ok(9));
    calls.set(0);
    assert_eq!(instrumented("x", &calls), Ok(2));
}

#[tokio::test]
async fn instrumented_async_retries() {
    let _clock = testing::record_sleeps();
    let calls = AtomicU32::new(0);
    assert_eq!(instrumented_async(&calls).await, Ok(2));
}

// ----- io::Result aliases, raw identifiers, the attempt context -----

#[retry(max_attempts = 2, on = [Network])]
fn io_alias(calls: &Cell<u32>) -> std::io::Result<u32> {
    calls.set(calls.get() + 1);
    if calls.get() == 1 {
        return Err(std::io::ErrorKind::ConnectionReset.into());
    }
    Ok(calls.get())
}

#[retry]
fn r#match(calls: &Cell<u32>) -> Result<u32, TestError> {
    flaky(calls, 2)
}

#[retry(max_attempts = 4)]
fn numbered(seen: &Cell<u32>) -> Result<u32, TestError> {
    let attempt = retry_runtime::attempt().ok_or(TestError::Fatal)?;
    seen.set(attempt.number());
    if attempt.number() < 3 {
        return Err(TestError::Transient);
    }
    Ok(attempt.max_attempts())
}

// `impl Trait` in the return type cannot be named in the expansion: it is
// left to inference.
#[retry]
fn opaque(calls: &Cell<u32>) -> Result<impl std::fmt::Display, TestError> {
    flaky(calls, 2)
}

#[test]
fn aliases_raw_names_and_context() {
    let _clock = testing::record_sleeps();
    let calls = Cell::new(0);
    assert_eq!(io_alias(&calls).unwrap(), 2);
    calls.set(0);
    assert_eq!(r#match(&calls), Ok(2));
    let seen = Cell::new(0);
    assert_eq!(numbered(&seen), Ok(4));
    assert_eq!(seen.get(), 3);
    calls.set(0);
    assert_eq!(opaque(&calls).map(|n| n.to_string()), Ok("2".to_owned()));
}

// ----- the future is `Send` when the body's is -----

#[derive(Clone)]
struct Request {
    body: String,
}

#[retry(max_attempts = 3, deadline = 10s)]
async fn send_owned(request: Request, client: &Arc<AtomicU32>) -> Result<usize, TestError> {
    tokio::task::yield_now().await;
    client.fetch_add(1, Ordering::SeqCst);
    Ok(request.body.len())
}

impl Service {
    #[retry]
    async fn send_self(self, request: Request) -> Result<usize, TestError> {
        tokio::task::yield_now().await;
        Ok(self.name.len() + request.body.len())
    }
}

// `Cell` is `Send` but not `Sync`: the attempt owns its clone, so the future
// is `Send` as the original body's was.
#[retry]
async fn owns_a_cell(counter: Cell<u32>) -> Result<u32, TestError> {
    tokio::task::yield_now().await;
    counter.set(counter.get() + 1);
    Ok(counter.get())
}

fn assert_send<F: Future + Send>(future: F) -> F {
    future
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_are_send() {
    let client = Arc::new(AtomicU32::new(0));
    let request = Request {
        body: "abc".to_owned(),
    };
    let owned = assert_send(send_owned(request.clone(), &client));
    assert_eq!(owned.await, Ok(3));
    let cell = tokio::spawn(assert_send(owns_a_cell(Cell::new(1))));
    assert_eq!(cell.await.unwrap(), Ok(2));
    let spawned = tokio::spawn(assert_send(Service::new(0).send_self(request)));
    assert_eq!(spawned.await.unwrap(), Ok(6));
    let backend = Arc::new(Backend {
        calls: AtomicU32::new(1),
    });
    let fetched = tokio::spawn(async move { backend.fetch(1).await });
    assert_eq!(fetched.await.unwrap(), Ok("item 1".to_owned()));
}
