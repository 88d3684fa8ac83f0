//! An error as the per-attempt log line shows it: one line, trimmed, never headers or bodies.

use std::fmt::{self, Write};

use crate::Classify;

/// The most characters of an error the per-attempt line shows.
const LIMIT: usize = 160;

/// Displays [`Classify::message`] (else the error's `Debug` form) on one line, at most
/// [`LIMIT`] characters, ending in `…` when cut. Formatted only when a log line is written.
pub(crate) struct ErrorSummary<'a, E: ?Sized>(pub(crate) &'a E);

impl<E: Classify + ?Sized> fmt::Display for ErrorSummary<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = OneLine {
            out: f,
            written: 0,
            previous: ' ',
            cut: false,
        };
        match self.0.message() {
            Some(message) => line.write_str(message.trim())?,
            None => write!(line, "{:?}", self.0)?,
        }
        if line.cut {
            line.out.write_char('…')?;
        }
        Ok(())
    }
}

/// Writes through to `out`, control characters (newlines included) as spaces, runs of spaces
/// as one, and nothing past [`LIMIT`] characters.
struct OneLine<'a, 'f> {
    out: &'a mut fmt::Formatter<'f>,
    written: usize,
    /// The last character written (a space at the start, so leading spaces go).
    previous: char,
    cut: bool,
}

impl Write for OneLine<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.written == LIMIT {
                // Swallowed rather than an error: `Display` must not fail for a long message.
                self.cut = true;
                return Ok(());
            }
            let c = if c.is_control() { ' ' } else { c };
            if c == ' ' && self.previous == ' ' {
                continue;
            }
            self.out.write_char(c)?;
            self.written += 1;
            self.previous = c;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::ErrorClass;

    #[derive(Debug)]
    struct Failure {
        message: Option<&'static str>,
        /// Read only through `Debug`: what the summary must not show when there is a message.
        #[allow(dead_code)]
        headers: &'static str,
    }

    impl Classify for Failure {
        fn class(&self) -> ErrorClass {
            ErrorClass::Server
        }
        fn message(&self) -> Option<Cow<'_, str>> {
            self.message.map(Cow::Borrowed)
        }
    }

    fn summary(failure: &Failure) -> String {
        ErrorSummary(failure).to_string()
    }

    #[test]
    fn the_message_on_one_line_without_the_rest() {
        let failure = Failure {
            message: Some("  The server is\n overloaded.\r\n\tTry again. "),
            headers: "x-secret: 1",
        };
        assert_eq!(summary(&failure), "The server is overloaded. Try again.");
    }

    #[test]
    fn without_a_message_the_debug_form_trimmed() {
        let failure = Failure {
            message: None,
            headers: "x",
        };
        assert_eq!(
            summary(&failure),
            r#"Failure { message: None, headers: "x" }"#
        );
    }

    #[test]
    fn a_long_message_is_cut_with_an_ellipsis() {
        let long: &'static str = "é".repeat(500).leak();
        let failure = Failure {
            message: Some(long),
            headers: "",
        };
        let shown = summary(&failure);
        assert_eq!(shown.chars().count(), LIMIT + 1);
        assert!(shown.ends_with("é…"));
        let exact: &'static str = "a".repeat(LIMIT).leak();
        let failure = Failure {
            message: Some(exact),
            headers: "",
        };
        assert_eq!(summary(&failure), exact, "exactly the limit is not cut");
    }
}
