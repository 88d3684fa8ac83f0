//! `#[retry]` in an edition-2024 crate that denies warnings, clippy's pedantic group included.
#![deny(warnings, clippy::pedantic)]

use std::time::Duration;

use retry_runtime::{Classify, Elapsed, ErrorClass, retry};

/// An error of this crate.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// An HTTP status.
    Status(u16),
    /// An attempt ran out of time.
    TimedOut,
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::Status(status) => ErrorClass::from_status(*status),
            Error::TimedOut => ErrorClass::Timeout,
        }
    }
}

impl From<Elapsed> for Error {
    fn from(_: Elapsed) -> Self {
        Error::TimedOut
    }
}

/// Fails `failures` times with a 503, then answers.
///
/// # Errors
/// The 503s, when there are more of them than attempts.
#[retry(max_attempts = 4, wait = fixed(0))]
pub fn sync_call(failures: &mut u32) -> Result<&'static str, Error> {
    if *failures > 0 {
        *failures -= 1;
        return Err(Error::Status(503));
    }
    Ok("ok")
}

/// A client whose calls are retried.
#[derive(Debug, Default)]
pub struct Client {
    /// Attempts made so far.
    pub attempts: u32,
}

impl Client {
    /// Fails once with a 500, then answers, cut after a second per attempt.
    ///
    /// # Errors
    /// A 500 or a timeout, when the attempts run out.
    #[retry(max_attempts = 3, wait = exponential(10ms, 1s), attempt_timeout = 1s, deadline = 10s)]
    pub async fn call(&mut self, prompt: String) -> Result<String, Error> {
        self.attempts += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
        if self.attempts == 1 {
            return Err(Error::Status(500));
        }
        Ok(prompt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_retries() {
        let mut failures = 2;
        assert_eq!(sync_call(&mut failures), Ok("ok"));
        assert_eq!(failures, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn async_method_retries() {
        let mut client = Client::default();
        assert_eq!(client.call("hi".to_owned()).await, Ok("hi".to_owned()));
        assert_eq!(client.attempts, 2);
    }
}
