//! The command-line flags of the `mock_llm` example, parsed into a [`MockLlmBuilder`].
//!
//! ```
//! use mock_llm::cli::{parse_args, Command};
//!
//! let command = parse_args(["--port", "8080", "--rate-503", "0.05", "--seed", "7"]).unwrap();
//! assert!(matches!(command, Command::Serve(_)));
//! assert!(parse_args(["--nope"]).is_err());
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::fault::{parse_script, Fault, SPEC_HELP};
use crate::server::MockLlmBuilder;

/// The text of `--help`.
pub fn usage() -> String {
    format!(
        "\
mock_llm: a fake OpenAI-compatible provider with fault injection.
Serves POST /v1/chat/completions until Ctrl-C, then prints its counters.

USAGE:
    cargo run --example mock_llm -- [FLAGS]

FLAGS (values as `--flag VALUE` or `--flag=VALUE`):
    --host IP              address to listen on (default 127.0.0.1)
    --port N               port to listen on (default 8080; 0 = any free port)
    --latency-ms N         time a successful request takes (default 0)
    --seed N               seed of the random faults (default 0)
    --capacity RPS         requests per second the server accepts; over it: 429 with an exact
                           retry-after-ms and Retry-After
    --burst N              requests the capacity limiter lets through at once (default 1)
    --rate-429 P           fraction of requests answered 429 with retry-after-ms (--hint-ms)
    --hint-ms N            the retry-after-ms of --rate-429 (default 1000)
    --rate-429-nohint P    fraction answered 429 without any hint
    --rate-500 P, --rate-502 P, --rate-503 P
                           fraction answered with that status (OpenAI error body)
    --rate-529 P           fraction answered 529 (Anthropic overloaded_error body)
    --rate-slow P          fraction answered 200 only after --slow-ms (billed at once)
    --slow-ms N            the delay of --rate-slow (default 2000)
    --rate-cut P           fraction whose body is cut after the headers (billed)
    --rate-disconnect P    fraction whose connection closes without a response (billed)
    --random SPEC@P        fraction P answered with the fault SPEC (repeatable)
    --script SPEC,SPEC,... faults for the first requests, in order (repeatable: appends)
    -h, --help             this text

Random rates add up to at most 1. A fault SPEC is one of:
{SPEC_HELP}
"
    )
}

/// What the command line asks for.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// Print [`usage`] and exit successfully.
    Help,
    /// Start a server so configured.
    Serve(Box<MockLlmBuilder>),
}

/// A command line that cannot be run: an unknown flag, a missing or bad value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliError(String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

fn error(message: String) -> CliError {
    CliError(message)
}

fn parse_rate(flag: &str, value: &str) -> Result<f64, CliError> {
    match value.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(error(format!(
            "{flag}: `{value}` is not a rate between 0 and 1"
        ))),
    }
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: &str, what: &str) -> Result<T, CliError> {
    value
        .parse()
        .map_err(|_| error(format!("{flag}: `{value}` is not {what}")))
}

/// Parses the arguments (without the program name).
///
/// # Errors
///
/// An unknown flag, a flag without its value, a value that does not parse or is out of range,
/// random rates that add up to more than 1.
pub fn parse_args<I>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let mut host = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut port: u16 = 8080;
    let mut latency_ms: u64 = 0;
    let mut seed: u64 = 0;
    let mut capacity: Option<f64> = None;
    let mut burst: u32 = 1;
    let mut hint_ms: u64 = 1_000;
    let mut slow_ms: u64 = 2_000;
    // (flag, rate) for the flags whose fault depends on other flags.
    let mut rates: Vec<(&'static str, f64)> = Vec::new();
    let mut random: Vec<(Fault, f64)> = Vec::new();
    let mut script: Vec<Fault> = Vec::new();

    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        const RATE_FLAGS: [&str; 9] = [
            "--rate-429",
            "--rate-429-nohint",
            "--rate-500",
            "--rate-502",
            "--rate-503",
            "--rate-529",
            "--rate-slow",
            "--rate-cut",
            "--rate-disconnect",
        ];
        let known = matches!(
            flag.as_str(),
            "--host"
                | "--port"
                | "--latency-ms"
                | "--seed"
                | "--capacity"
                | "--burst"
                | "--hint-ms"
                | "--slow-ms"
                | "--random"
                | "--script"
        ) || RATE_FLAGS.contains(&flag.as_str());
        if !known {
            return Err(error(format!("unknown flag `{arg}`")));
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| error(format!("{flag} needs a value")))?,
        };
        let value = value.as_str();
        match flag.as_str() {
            "--host" => host = parse_number(&flag, value, "an IP address")?,
            "--port" => port = parse_number(&flag, value, "a port number (0..=65535)")?,
            "--latency-ms" => latency_ms = parse_number(&flag, value, "a number of milliseconds")?,
            "--seed" => seed = parse_number(&flag, value, "a whole number")?,
            "--capacity" => {
                let rate: f64 = parse_number(&flag, value, "a number of requests per second")?;
                if !(0.001..=1e9).contains(&rate) {
                    return Err(error(format!(
                        "--capacity: `{value}` must be within 0.001..=1e9 requests per second"
                    )));
                }
                capacity = Some(rate);
            }
            "--burst" => {
                burst = parse_number(&flag, value, "a whole number")?;
                if !(1..=1_000_000).contains(&burst) {
                    return Err(error(format!(
                        "--burst: `{value}` must be within 1..=1000000"
                    )));
                }
            }
            "--hint-ms" => hint_ms = parse_number(&flag, value, "a number of milliseconds")?,
            "--slow-ms" => slow_ms = parse_number(&flag, value, "a number of milliseconds")?,
            "--random" => {
                let (spec, rate) = value
                    .rsplit_once('@')
                    .ok_or_else(|| error(format!("--random: expected SPEC@RATE, got `{value}`")))?;
                let fault = spec
                    .parse::<Fault>()
                    .map_err(|e| error(format!("--random: {e}")))?;
                random.push((fault, parse_rate(&flag, rate)?));
            }
            "--script" => {
                script.extend(parse_script(value).map_err(|e| error(format!("--script: {e}")))?)
            }
            _ => {
                // One of RATE_FLAGS (checked above).
                let name = RATE_FLAGS
                    .iter()
                    .find(|f| **f == flag)
                    .copied()
                    .unwrap_or("--rate-503");
                let rate = parse_rate(&flag, value)?;
                rates.retain(|(f, _)| *f != name);
                rates.push((name, rate));
            }
        }
    }

    for (flag, rate) in rates {
        let fault = match flag {
            "--rate-429" => Fault::retry_after_ms(hint_ms),
            "--rate-429-nohint" => Fault::rate_limited(),
            "--rate-500" => Fault::status(500),
            "--rate-502" => Fault::status(502),
            "--rate-529" => Fault::overloaded(),
            "--rate-slow" => Fault::slow(Duration::from_millis(slow_ms)),
            "--rate-cut" => Fault::cut_body(),
            "--rate-disconnect" => Fault::disconnect(),
            _ => Fault::status(503),
        };
        random.push((fault, rate));
    }
    let total: f64 = random.iter().map(|(_, rate)| rate).sum();
    if total > 1.0 + 1e-9 {
        return Err(error(format!(
            "the random fault rates add up to {total}, more than 1"
        )));
    }

    let mut builder = MockLlmBuilder::default()
        .bind(SocketAddr::new(host, port))
        .latency(Duration::from_millis(latency_ms))
        .seed(seed)
        .burst(burst)
        .script(script);
    if let Some(rate) = capacity {
        builder = builder.capacity(rate);
    }
    for (fault, rate) in random {
        builder = builder.random_fault(fault, rate);
    }
    Ok(Command::Serve(Box::new(builder)))
}
