use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use retry_runtime::{Classify, Elapsed, ErrorClass};

/// An API failure as a client library would report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    Status {
        status: u16,
        retry_after: Option<Duration>,
        request_id: Option<String>,
    },
    TimedOut(Elapsed),
}

impl ApiError {
    pub fn status(status: u16) -> Self {
        ApiError::Status {
            status,
            retry_after: None,
            request_id: None,
        }
    }

    pub fn hinted(status: u16, retry_after: Duration) -> Self {
        ApiError::Status {
            status,
            retry_after: Some(retry_after),
            request_id: None,
        }
    }

    pub fn with_request_id(status: u16, id: &str) -> Self {
        ApiError::Status {
            status,
            retry_after: None,
            request_id: Some(id.to_owned()),
        }
    }
}

impl Classify for ApiError {
    fn class(&self) -> ErrorClass {
        match self {
            ApiError::Status { status, .. } => ErrorClass::from_status(*status),
            ApiError::TimedOut(elapsed) => elapsed.class(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Status { retry_after, .. } => *retry_after,
            ApiError::TimedOut(_) => None,
        }
    }

    fn request_id(&self) -> Option<&str> {
        match self {
            ApiError::Status { request_id, .. } => request_id.as_deref(),
            ApiError::TimedOut(_) => None,
        }
    }

    fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::TimedOut(_) => None,
        }
    }
}

impl From<Elapsed> for ApiError {
    fn from(elapsed: Elapsed) -> Self {
        ApiError::TimedOut(elapsed)
    }
}

/// Counts the attempts a test's retried function makes.
#[derive(Debug, Default)]
pub struct Counter(AtomicU32);

impl Counter {
    pub const fn new() -> Self {
        Counter(AtomicU32::new(0))
    }

    /// Counts one more attempt and returns its number (1-based).
    pub fn next(&self) -> u32 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn get(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

pub const MS: Duration = Duration::from_millis(1);
pub const S: Duration = Duration::from_secs(1);
