//! The quickstart's screen stays one a person reads: `cargo run --quiet --example quickstart`,
//! the README's first command, prints at most 80 lines in all (stdout and stderr), none over
//! 200 characters, and exits 0 (the runtime's log, off without `RUST_LOG`, would not fit); an
//! unparsable `RUST_LOG` is said in one line.
//!
//! The example runs as a newcomer runs it, through cargo, in this build's target directory and
//! profile, so that a warm run only checks that the example is fresh.

use std::path::Path;
use std::process::{Command, Output};

const MAX_LINES: usize = 80;
const MAX_LINE_CHARS: usize = 200;

/// Runs the quickstart with `RUST_LOG` set to `rust_log`, or unset.
fn run_quickstart(rust_log: Option<&str>) -> Output {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    // This test's target directory, even when chosen with `--target-dir`: the parent of
    // the directory cargo gives integration tests for their files.
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory holds tmp/");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args([
            "run",
            "--quiet",
            "--example",
            "quickstart",
            "--manifest-path",
        ])
        .arg(manifest)
        .env("CARGO_TARGET_DIR", target_dir)
        // Against the embedded providers, as on a fresh machine.
        .env_remove("OPENAI_API_KEY")
        .env_remove("RUST_LOG");
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    if let Some(rust_log) = rust_log {
        cargo.env("RUST_LOG", rust_log);
    }
    cargo.output().expect("cargo runs")
}

/// Checks the screen targets, and returns stderr's lines.
fn assert_screen_fits(output: &Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let screen = format!("{stdout}\n--- stderr ---\n{stderr}");
    assert!(output.status.success(), "the quickstart failed:\n{screen}");
    let lines: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
    assert!(
        lines.len() <= MAX_LINES,
        "{} lines, more than {MAX_LINES}:\n{screen}",
        lines.len()
    );
    for line in &lines {
        let chars = line.chars().count();
        assert!(
            chars <= MAX_LINE_CHARS,
            "a line of {chars} characters, more than {MAX_LINE_CHARS}:\n{line}"
        );
    }
    stderr.lines().map(str::to_owned).collect()
}

#[test]
fn the_quickstart_screen_fits_a_terminal() {
    assert_screen_fits(&run_quickstart(None));
}

#[test]
fn an_unparsable_rust_log_is_said_in_one_line() {
    let stderr = assert_screen_fits(&run_quickstart(Some("info,retry_runtime=loud")));
    let about_rust_log = stderr.iter().filter(|l| l.contains("RUST_LOG")).count();
    assert_eq!(
        about_rust_log,
        1,
        "one line about RUST_LOG:\n{}",
        stderr.join("\n")
    );
}
