// Names the attribute understands, kept in one place so that parsing, the
// "expected one of" lists and the "did you mean" suggestions cannot drift
// apart (serde keeps its keywords the same way, in `symbol.rs`).

pub(crate) const MAX_ATTEMPTS: &str = "max_attempts";
pub(crate) const WAIT: &str = "wait";
pub(crate) const JITTER: &str = "jitter";
pub(crate) const ON: &str = "on";
pub(crate) const DEADLINE: &str = "deadline";
pub(crate) const ATTEMPT_TIMEOUT: &str = "attempt_timeout";
pub(crate) const MAX_RETRY_AFTER: &str = "max_retry_after";
pub(crate) const CIRCUIT_BREAKER: &str = "circuit_breaker";
pub(crate) const BUDGET: &str = "budget";
pub(crate) const ADMISSION: &str = "admission";
pub(crate) const EXPECTED_TOKENS: &str = "expected_tokens";
pub(crate) const FALLBACK: &str = "fallback";
pub(crate) const FALLBACK_ON: &str = "fallback_on";
pub(crate) const CRATE: &str = "crate";

// Every key with the shape of its value, used when a value is missing.
pub(crate) const KEYS: &[(&str, &str)] = &[
    (MAX_ATTEMPTS, "max_attempts = 5"),
    (WAIT, "wait = exponential(500ms, 8s)"),
    (JITTER, "jitter = full"),
    (ON, "on = [RateLimit, Timeout]"),
    (DEADLINE, "deadline = 10s"),
    (ATTEMPT_TIMEOUT, "attempt_timeout = 30s"),
    (MAX_RETRY_AFTER, "max_retry_after = 120s"),
    (CIRCUIT_BREAKER, "circuit_breaker = OPENAI_BREAKER"),
    (BUDGET, "budget = RETRY_BUDGET"),
    (ADMISSION, "admission = OPENAI_GATE"),
    (
        EXPECTED_TOKENS,
        "expected_tokens = prompt_tokens + max_tokens",
    ),
    (FALLBACK, "fallback = ask_claude"),
    (FALLBACK_ON, "fallback_on = [Overloaded, Server]"),
    (CRATE, "crate = ::retry_runtime"),
];

// `wait = ...` functions, with how each is called.
pub(crate) const FIXED: &str = "fixed";
pub(crate) const EXPONENTIAL: &str = "exponential";
pub(crate) const LINEAR: &str = "linear";
pub(crate) const DECORRELATED: &str = "decorrelated";

pub(crate) const WAITS: &[(&str, &str)] = &[
    (FIXED, "fixed(d)"),
    (EXPONENTIAL, "exponential(min, max)"),
    (LINEAR, "linear(step, max)"),
    (DECORRELATED, "decorrelated(min, max)"),
];

pub(crate) const FULL: &str = "full";
pub(crate) const EQUAL: &str = "equal";
pub(crate) const NONE: &str = "none";
pub(crate) const JITTERS: &[&str] = &[FULL, EQUAL, NONE];

// The classes `on = [...]` may name, in the order of `ErrorClass`.
pub(crate) const CLASSES: &[&str] = &[
    "RateLimit",
    "Overloaded",
    "Server",
    "Timeout",
    "Network",
    "Conflict",
    "Other",
];

// Every class, for `fallback_on = [...]`, which may name the never-retried
// ones on purpose (a context-length error sent to a bigger model).
pub(crate) const ALL_CLASSES: &[&str] = &[
    "RateLimit",
    "Overloaded",
    "Server",
    "Timeout",
    "Network",
    "Conflict",
    "Client",
    "Auth",
    "Other",
];

// Classes that are never retried, with why: retrying them only repeats the
// same refusal.
pub(crate) const NEVER_RETRIED: &[(&str, &str)] = &[
    (
        "Client",
        "a request the server refused as malformed fails the same way again",
    ),
    (
        "Auth",
        "a request the server refused as unauthorized fails the same way again",
    ),
];

// Duration units with their length in nanoseconds; no suffix means seconds.
pub(crate) const UNITS: &[(&str, u64)] = &[
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

// `a`, `b`, or `c` (rustc's "expected one of" form)
pub(crate) fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

// "unknown key `max_attempt`; did you mean `max_attempts`? expected ..."
pub(crate) fn unknown(what: &str, name: &str, suggestion: Option<&str>, expected: &str) -> String {
    match suggestion {
        Some(s) => format!("unknown {what} `{name}`; did you mean `{s}`? expected {expected}"),
        None => format!("unknown {what} `{name}`; expected {expected}"),
    }
}

// The closest of `candidates` to `name`, when it is close enough to be a
// typo: `max_attempt`, `maxattempts`, `ratelimit`. Case is ignored, since
// `ratelimit` for `RateLimit` is the most common slip.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|&(d, c)| d <= (c.chars().count() / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

// Levenshtein distance, with an adjacent swap counting as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j]
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, edit_distance, one_of, CLASSES, KEYS};

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("max_attempt", "max_attempts"), 1);
        assert_eq!(edit_distance("wiat", "wait"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        let keys = || KEYS.iter().map(|&(k, _)| k);
        assert_eq!(did_you_mean("max_attempt", keys()), Some("max_attempts"));
        assert_eq!(did_you_mean("maxattempts", keys()), Some("max_attempts"));
        assert_eq!(did_you_mean("wiat", keys()), Some("wait"));
        assert_eq!(did_you_mean("timeout", keys()), None);
        assert_eq!(did_you_mean("retries", keys()), None);
        assert_eq!(
            did_you_mean("ratelimit", CLASSES.iter().copied()),
            Some("RateLimit")
        );
        assert_eq!(
            did_you_mean("RateLimt", CLASSES.iter().copied()),
            Some("RateLimit")
        );
        assert_eq!(
            did_you_mean("Serve", CLASSES.iter().copied()),
            Some("Server")
        );
        assert_eq!(did_you_mean("Banana", CLASSES.iter().copied()), None);
    }

    #[test]
    fn lists() {
        assert_eq!(one_of(["a"]), "`a`");
        assert_eq!(one_of(["a", "b"]), "`a` or `b`");
        assert_eq!(one_of(["a", "b", "c"]), "`a`, `b`, or `c`");
    }
}
