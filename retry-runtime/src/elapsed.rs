//! The error value of an attempt or a deadline that ran out.

use core::fmt;
use std::io;
use std::time::Duration;

/// An attempt (`attempt_timeout`) or a whole call (`deadline`) ran out of time.
///
/// A retried async function with `attempt_timeout` or `deadline` returns an error type that is
/// `From<Elapsed>`: the runtime builds its error from this value when it cuts an attempt short.
/// `std::io::Error` already is.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{Classify, Elapsed, ErrorClass};
///
/// let cut = Elapsed::attempt_timeout(Duration::from_secs(30));
/// assert_eq!(cut.class(), ErrorClass::Timeout);
/// assert_eq!(cut.to_string(), "attempt timed out after 30s");
/// let io: std::io::Error = cut.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    limit: Duration,
    deadline: bool,
}

impl Elapsed {
    /// One attempt ran longer than `limit`.
    #[must_use]
    pub const fn attempt_timeout(limit: Duration) -> Self {
        Elapsed {
            limit,
            deadline: false,
        }
    }

    /// The whole call reached its deadline, `limit` after it began.
    #[must_use]
    pub const fn deadline(limit: Duration) -> Self {
        Elapsed {
            limit,
            deadline: true,
        }
    }

    /// Whether the call's deadline (rather than one attempt's timeout) ran out.
    #[must_use]
    pub const fn is_deadline(&self) -> bool {
        self.deadline
    }

    /// How long the attempt or the call was allowed.
    #[must_use]
    pub const fn limit(&self) -> Duration {
        self.limit
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.deadline {
            write!(f, "deadline reached: the call had {:?}", self.limit)
        } else {
            write!(f, "attempt timed out after {:?}", self.limit)
        }
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(elapsed: Elapsed) -> Self {
        io::Error::new(io::ErrorKind::TimedOut, elapsed)
    }
}
