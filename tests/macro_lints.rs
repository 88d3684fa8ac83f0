//! Expansions are lint-clean in a crate that denies warnings and runs clippy's
//! pedantic group, and name everything by absolute path: the `core`, `std`,
//! `retry_runtime` and `Result` shadows below would break a relative path.
//! Compiled by `cargo test`; `cargo clippy --tests` runs the lint half.

#![deny(warnings)]
#![warn(clippy::pedantic)]
#![allow(dead_code)]

// Dummy modules to check that the expansion refers to the real crates.
mod core {}
mod std {}
mod retry_runtime {}
#[allow(non_camel_case_types)]
struct __private;
#[allow(non_camel_case_types)]
type Option = ();

use ::retry_runtime::{retry, testing, Classify, ErrorClass};
use ::std::fmt;
use ::std::time::Duration;

/// An error of the remote API.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: u16,
}

impl Classify for ApiError {
    fn class(&self) -> ErrorClass {
        ErrorClass::from_status(self.status)
    }

    fn retry_after(&self) -> ::core::option::Option<Duration> {
        None
    }
}

impl From<::retry_runtime::Elapsed> for ApiError {
    fn from(_: ::retry_runtime::Elapsed) -> Self {
        ApiError { status: 408 }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status {}", self.status)
    }
}

mod reexport {
    pub use ::retry_runtime;
}

#[derive(Clone, Default)]
struct Client {
    base: String,
    sent: Vec<String>,
}

impl Client {
    #[retry(
        max_attempts = 5,
        wait = exponential(1, 60),
        jitter = equal,
        on = [RateLimit, Timeout(max_attempts = 2), Server],
        deadline = 10s,
        max_retry_after = 2m,
    )]
    fn get(&self, path: &str) -> Result<String, ApiError> {
        if path.is_empty() {
            return Err(ApiError { status: 404 });
        }
        Ok(format!("{}/{path}", self.base))
    }

    #[retry(wait = fixed(250ms))]
    fn post(&mut self, body: String) -> Result<usize, ApiError> {
        self.sent.push(body);
        Ok(self.sent.len())
    }

    #[retry(wait = linear(0.5, 2.5s))]
    fn into_base(self) -> Result<String, ApiError> {
        Ok(self.base)
    }

    #[retry(wait = decorrelated(100ms, 1h), attempt_timeout = 30s)]
    async fn fetch(&mut self, id: u64, tags: Vec<String>) -> Result<String, ApiError> {
        ::tokio::task::yield_now().await;
        self.sent.extend(tags);
        Ok(format!("{}/{id}", self.base))
    }

    #[retry(crate = crate::reexport::retry_runtime)]
    async fn consume(mut self, (a, b): (u8, u8)) -> Result<u16, ApiError> {
        self.sent.clear();
        Ok(u16::from(a) + u16::from(b) + u16::try_from(self.sent.len()).unwrap_or(0))
    }
}

#[retry]
fn generic<T, const N: usize>(
    items: [T; N],
    extra: impl Into<String> + Clone,
) -> Result<String, ApiError>
where
    T: Clone + fmt::Debug + PartialEq,
{
    let extra: String = extra.into();
    let first = items.first().ok_or(ApiError { status: 500 })?;
    Ok(format!("{first:?}{extra}"))
}

#[retry(max_attempts = 2)]
fn copied(n: u32, mut flag: bool) -> Result<u32, ApiError> {
    flag = !flag;
    if flag {
        Ok(n)
    } else {
        Err(ApiError { status: 503 })
    }
}

#[retry(max_attempts = 2)]
async fn unit_ok(label: &str) -> Result<(), ApiError> {
    let _ = label;
    Ok(())
}

// A body that is a lone expression, sync and async: as the tail of an attempt, wrapped in
// braces, it would draw `unused_braces`.
#[rustfmt::skip]
#[retry]
fn one_expression(n: u32) -> Result<u32, ApiError> { Ok(n + 1) }

#[rustfmt::skip]
#[retry]
async fn one_expression_async(n: u32) -> Result<u32, ApiError> { Ok(n + 1) }

#[test]
fn lint_clean_expansions_run() {
    let _clock = testing::record_sleeps();
    assert_eq!(one_expression(1).unwrap(), 2);
    let mut client = Client {
        base: "https://api".to_owned(),
        sent: Vec::new(),
    };
    assert_eq!(client.get("a").unwrap(), "https://api/a");
    assert_eq!(client.post("b".to_owned()).unwrap(), 1);
    assert_eq!(generic([1, 2], "x").unwrap(), "1x");
    assert_eq!(copied(3, false).unwrap(), 3);
    assert_eq!(client.clone().into_base().unwrap(), "https://api");
    let runtime = ::tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(
            client.fetch(1, vec!["t".to_owned()]).await.unwrap(),
            "https://api/1"
        );
        assert_eq!(client.clone().consume((1, 2)).await.unwrap(), 3);
        unit_ok("x").await.unwrap();
        assert_eq!(one_expression_async(1).await.unwrap(), 2);
    });
}
