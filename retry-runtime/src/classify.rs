//! What kind of failure an error is, and what the server said about it.

use core::fmt;
use std::borrow::Cow;
use std::io;
use std::time::Duration;

use crate::Elapsed;

/// What kind of failure an error is: the runtime picks its strategy from this.
///
/// ```
/// use retry_runtime::ErrorClass;
///
/// assert_eq!(ErrorClass::from_status(429), ErrorClass::RateLimit);
/// assert_eq!(ErrorClass::from_status(529), ErrorClass::Overloaded);
/// assert!(!ErrorClass::Auth.is_transient());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The server asked the client to slow down (HTTP 429).
    RateLimit,
    /// The server is temporarily unable to serve (503, Anthropic's 529).
    Overloaded,
    /// The server failed (500, 502, 504 and other 5xx).
    Server,
    /// The request took too long (408, client-side timeouts, [`Elapsed`]).
    Timeout,
    /// The connection failed: refused, reset, aborted, DNS, broken pipe.
    Network,
    /// The request conflicted with another one in flight (409).
    Conflict,
    /// The server refused the request as it stands (other 4xx): sending it again fails again.
    Client,
    /// The caller is not allowed (401, 403): sending it again fails again.
    Auth,
    /// Anything else: retried only when named in `on = [...]`.
    Other,
}

impl ErrorClass {
    /// Every class, in declaration order.
    pub const ALL: [ErrorClass; 9] = [
        ErrorClass::RateLimit,
        ErrorClass::Overloaded,
        ErrorClass::Server,
        ErrorClass::Timeout,
        ErrorClass::Network,
        ErrorClass::Conflict,
        ErrorClass::Client,
        ErrorClass::Auth,
        ErrorClass::Other,
    ];

    pub(crate) const COUNT: usize = Self::ALL.len();

    /// Maps an HTTP status code: 429 → `RateLimit`; 503, 529 → `Overloaded`; other 5xx →
    /// `Server`; 408 → `Timeout`; 409 → `Conflict`; 401, 403 → `Auth`; other 4xx → `Client`;
    /// anything else (a success or redirect handed in as an error) → `Other`.
    ///
    /// ```
    /// use retry_runtime::ErrorClass;
    ///
    /// assert_eq!(ErrorClass::from_status(503), ErrorClass::Overloaded);
    /// assert_eq!(ErrorClass::from_status(502), ErrorClass::Server);
    /// assert_eq!(ErrorClass::from_status(403), ErrorClass::Auth);
    /// assert_eq!(ErrorClass::from_status(422), ErrorClass::Client);
    /// ```
    #[must_use]
    pub const fn from_status(status: u16) -> Self {
        match status {
            429 => ErrorClass::RateLimit,
            503 | 529 => ErrorClass::Overloaded,
            500..=599 => ErrorClass::Server,
            408 => ErrorClass::Timeout,
            409 => ErrorClass::Conflict,
            401 | 403 => ErrorClass::Auth,
            400..=499 => ErrorClass::Client,
            _ => ErrorClass::Other,
        }
    }

    /// Whether this class is retried by default: a failure that may not happen again.
    #[must_use]
    pub const fn is_transient(self) -> bool {
        ClassSet::TRANSIENT.contains(self)
    }

    /// Whether this class can be retried at all: `Client` and `Auth` never are, because the
    /// same request fails the same way again.
    #[must_use]
    pub const fn is_retryable(self) -> bool {
        !matches!(self, ErrorClass::Client | ErrorClass::Auth)
    }

    /// The class's name as written in `on = [...]`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ErrorClass::RateLimit => "RateLimit",
            ErrorClass::Overloaded => "Overloaded",
            ErrorClass::Server => "Server",
            ErrorClass::Timeout => "Timeout",
            ErrorClass::Network => "Network",
            ErrorClass::Conflict => "Conflict",
            ErrorClass::Client => "Client",
            ErrorClass::Auth => "Auth",
            ErrorClass::Other => "Other",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`ErrorClass`]es, buildable in a `const`.
///
/// ```
/// use retry_runtime::{ClassSet, ErrorClass};
///
/// const RATE_AND_TIMEOUT: ClassSet = ClassSet::EMPTY.with(ErrorClass::RateLimit).with(ErrorClass::Timeout);
/// assert!(RATE_AND_TIMEOUT.contains(ErrorClass::Timeout));
/// assert!(!RATE_AND_TIMEOUT.contains(ErrorClass::Server));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClassSet(u16);

impl ClassSet {
    /// No class.
    pub const EMPTY: ClassSet = ClassSet(0);
    /// The classes retried by default: `RateLimit`, `Overloaded`, `Server`, `Timeout`,
    /// `Network`, `Conflict`.
    pub const TRANSIENT: ClassSet = ClassSet::EMPTY
        .with(ErrorClass::RateLimit)
        .with(ErrorClass::Overloaded)
        .with(ErrorClass::Server)
        .with(ErrorClass::Timeout)
        .with(ErrorClass::Network)
        .with(ErrorClass::Conflict);

    /// This set with `class` added.
    #[must_use]
    pub const fn with(self, class: ErrorClass) -> Self {
        ClassSet(self.0 | (1 << class.index()))
    }

    /// This set without `class`.
    #[must_use]
    pub const fn without(self, class: ErrorClass) -> Self {
        ClassSet(self.0 & !(1 << class.index()))
    }

    /// Whether `class` is in the set.
    #[must_use]
    pub const fn contains(self, class: ErrorClass) -> bool {
        self.0 & (1 << class.index()) != 0
    }

    /// The classes in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = ErrorClass> {
        ErrorClass::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl fmt::Debug for ClassSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Implemented by the error type of a retried function: tells the runtime what kind of failure
/// an error is, what the server asked for, and what to log.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{Classify, ErrorClass};
///
/// #[derive(Debug)]
/// struct ApiError { status: u16, retry_after: Option<Duration> }
///
/// impl Classify for ApiError {
///     fn class(&self) -> ErrorClass { ErrorClass::from_status(self.status) }
///     fn retry_after(&self) -> Option<Duration> { self.retry_after }
/// }
///
/// assert_eq!(ApiError { status: 429, retry_after: None }.class(), ErrorClass::RateLimit);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `Classify`, so `#[retry]` cannot tell which of its errors to retry",
    label = "this error type needs `impl retry_runtime::Classify`",
    note = "implement `retry_runtime::Classify` for `{Self}`: `fn class(&self) -> ErrorClass` (for HTTP, `ErrorClass::from_status`)"
)]
pub trait Classify: fmt::Debug {
    /// What kind of failure this is.
    fn class(&self) -> ErrorClass;

    /// How long the server asked the client to wait (`Retry-After` and its relatives);
    /// [`crate::hint`] parses the header values. A hint is never shortened.
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// The server's id of the failed request, for logs.
    fn request_id(&self) -> Option<&str> {
        None
    }

    /// The HTTP status of the failed response, when there was one, for logs.
    fn status(&self) -> Option<u16> {
        None
    }

    /// A short human-readable reason for logs: the provider's error message, say, never its
    /// headers or whole body. The per-attempt log line shows it on one line, trimmed; without
    /// one it shows the error's `Debug` form, trimmed, and the whole error only at `DEBUG`.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use retry_runtime::{Classify, ErrorClass};
    ///
    /// #[derive(Debug)]
    /// struct ApiError { status: u16, message: String, body: String }
    ///
    /// impl Classify for ApiError {
    ///     fn class(&self) -> ErrorClass { ErrorClass::from_status(self.status) }
    ///     fn status(&self) -> Option<u16> { Some(self.status) }
    ///     fn message(&self) -> Option<Cow<'_, str>> { Some(Cow::Borrowed(&self.message)) }
    /// }
    /// ```
    fn message(&self) -> Option<Cow<'_, str>> {
        None
    }
}

impl Classify for io::Error {
    /// By [`io::ErrorKind`]: timed out → `Timeout`; refused, reset, aborted, not connected,
    /// broken pipe → `Network`; the rest → `Other`.
    fn class(&self) -> ErrorClass {
        match self.kind() {
            io::ErrorKind::TimedOut => ErrorClass::Timeout,
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::BrokenPipe => ErrorClass::Network,
            _ => ErrorClass::Other,
        }
    }

    fn message(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.to_string()))
    }
}

impl Classify for Elapsed {
    fn class(&self) -> ErrorClass {
        ErrorClass::Timeout
    }

    fn message(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.to_string()))
    }
}

#[cfg(feature = "tokio")]
impl Classify for tokio::time::error::Elapsed {
    fn class(&self) -> ErrorClass {
        ErrorClass::Timeout
    }

    fn message(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed("timed out"))
    }
}

impl<E: Classify + ?Sized> Classify for Box<E> {
    fn class(&self) -> ErrorClass {
        (**self).class()
    }
    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
    fn request_id(&self) -> Option<&str> {
        (**self).request_id()
    }
    fn status(&self) -> Option<u16> {
        (**self).status()
    }
    fn message(&self) -> Option<Cow<'_, str>> {
        (**self).message()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_as_documented() {
        let cases = [
            (429, ErrorClass::RateLimit),
            (503, ErrorClass::Overloaded),
            (529, ErrorClass::Overloaded),
            (500, ErrorClass::Server),
            (502, ErrorClass::Server),
            (504, ErrorClass::Server),
            (599, ErrorClass::Server),
            (408, ErrorClass::Timeout),
            (409, ErrorClass::Conflict),
            (401, ErrorClass::Auth),
            (403, ErrorClass::Auth),
            (400, ErrorClass::Client),
            (404, ErrorClass::Client),
            (200, ErrorClass::Other),
            (302, ErrorClass::Other),
            (0, ErrorClass::Other),
        ];
        for (status, class) in cases {
            assert_eq!(ErrorClass::from_status(status), class, "status {status}");
        }
    }

    #[test]
    fn io_errors_classify_by_kind() {
        let class = |kind| io::Error::from(kind).class();
        assert_eq!(class(io::ErrorKind::TimedOut), ErrorClass::Timeout);
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::NotConnected,
            io::ErrorKind::BrokenPipe,
        ] {
            assert_eq!(class(kind), ErrorClass::Network, "{kind:?}");
        }
        assert_eq!(class(io::ErrorKind::NotFound), ErrorClass::Other);
        assert_eq!(class(io::ErrorKind::PermissionDenied), ErrorClass::Other);
    }

    #[test]
    fn transient_set_is_the_documented_default() {
        let transient: Vec<_> = ClassSet::TRANSIENT.iter().collect();
        assert_eq!(
            transient,
            [
                ErrorClass::RateLimit,
                ErrorClass::Overloaded,
                ErrorClass::Server,
                ErrorClass::Timeout,
                ErrorClass::Network,
                ErrorClass::Conflict
            ]
        );
        assert!(!ErrorClass::Client.is_retryable() && !ErrorClass::Auth.is_retryable());
        assert!(ErrorClass::Other.is_retryable() && !ErrorClass::Other.is_transient());
    }

    #[test]
    fn class_set_adds_and_removes() {
        let set = ClassSet::EMPTY
            .with(ErrorClass::Other)
            .with(ErrorClass::Server);
        assert!(set.contains(ErrorClass::Other));
        assert!(!set.without(ErrorClass::Other).contains(ErrorClass::Other));
        assert_eq!(format!("{set:?}"), "{Server, Other}");
    }
}
