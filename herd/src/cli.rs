//! The command line of `cargo run -p herd`: read here, where it is unit-tested, so the
//! example stays a thin `main`.

use std::fmt;
use std::path::PathBuf;

use crate::sim::Setup;

/// The text of `--help`.
pub const USAGE: &str = "\
usage: herd [--clients N] [--capacity R] [--seed S] [--out DIR]

Simulates N clients calling one provider of capacity R requests per second, all at once, in
three scenarios (burst, outage, rate limit) with each retry strategy, through the real
retry-runtime in virtual time. Prints a table and writes a chart of the provider's load per
scenario (herd-<scenario>.svg and .png) to DIR.

options:
  --clients N    clients, each making one call (1..=100000; default 1000)
  --capacity R   provider capacity in requests per second (1..=100000; default 100)
  --seed S       seed of the jitter: the same seed gives the same results (default 1)
  --out DIR      where the charts go (default target/herd)
  -h, --help     this text";

/// The most clients or capacity the command line takes: beyond it a run would take minutes.
pub const LIMIT: u32 = 100_000;

/// What the command line asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Simulate `setup` and write the charts to `out`.
    Run {
        /// The herd, the provider, the seed.
        setup: Setup,
        /// The directory for the charts.
        out: PathBuf,
    },
    /// Print [`USAGE`].
    Help,
}

/// A command line that could not be read: the message says which argument and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Reads the arguments after the program's name: `--flag value` or `--flag=value`.
///
/// # Errors
/// On an unknown argument, a missing value, or a value that is not a number in range.
pub fn parse<I, S>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut setup = Setup::default();
    let mut out = PathBuf::from("target/herd");
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(Command::Help);
        }
        if !matches!(
            flag.as_str(),
            "--clients" | "--capacity" | "--seed" | "--out"
        ) {
            return Err(UsageError(format!("unknown argument `{flag}`")));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(value) if !value.is_empty() => value,
            _ => return Err(UsageError(format!("`{flag}` needs a value"))),
        };
        match flag.as_str() {
            "--clients" => setup.clients = number(&flag, &value, 1, LIMIT)? as usize,
            "--capacity" => setup.capacity = number(&flag, &value, 1, LIMIT)?,
            "--seed" => setup.seed = number(&flag, &value, 0, u64::MAX)?,
            _ => out = PathBuf::from(value),
        }
    }
    Ok(Command::Run { setup, out })
}

/// A whole number in `min..=max`, or an error that names the flag and the range.
fn number<T>(flag: &str, value: &str, min: T, max: T) -> Result<T, UsageError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    match value.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(UsageError(format!(
            "`{flag}` must be a whole number from {min} to {max}, not `{value}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (Setup, PathBuf) {
        match parse(args.iter().copied()) {
            Ok(Command::Run { setup, out }) => (setup, out),
            other => panic!("{other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        parse(args.iter().copied()).unwrap_err().to_string()
    }

    #[test]
    fn no_arguments_is_the_default_run() {
        assert_eq!(run(&[]), (Setup::default(), PathBuf::from("target/herd")));
    }

    #[test]
    fn every_option_both_spellings() {
        let (setup, out) = run(&[
            "--clients",
            "500",
            "--capacity=50",
            "--seed",
            "9",
            "--out=x/y",
        ]);
        assert_eq!(
            setup,
            Setup {
                clients: 500,
                capacity: 50,
                seed: 9
            }
        );
        assert_eq!(out, PathBuf::from("x/y"));
    }

    #[test]
    fn help_wins() {
        assert_eq!(parse(["--clients", "3", "-h"]), Ok(Command::Help));
        assert_eq!(parse(["--help"]), Ok(Command::Help));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        assert_eq!(error(&["--clients"]), "`--clients` needs a value");
        assert_eq!(error(&["--out="]), "`--out` needs a value");
        assert_eq!(
            error(&["--clients", "0"]),
            "`--clients` must be a whole number from 1 to 100000, not `0`"
        );
        assert_eq!(
            error(&["--capacity", "1e3"]),
            "`--capacity` must be a whole number from 1 to 100000, not `1e3`"
        );
        assert!(error(&["--seed", "-1"]).starts_with("`--seed` must be a whole number"));
        assert_eq!(error(&["--verbose"]), "unknown argument `--verbose`");
        assert_eq!(error(&["1000"]), "unknown argument `1000`");
    }
}
