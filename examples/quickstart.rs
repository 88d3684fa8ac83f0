//! Quickstart: an LLM client over real HTTP, its calls retried by `#[retry]`.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! No network and no API key: the example starts three embedded OpenAI-compatible servers
//! (`mock-llm`) on 127.0.0.1 — a primary provider, a backup and a rate-limited one — and calls
//! them through `#[retry]`-annotated reqwest functions (`quickstart/client.rs`), scene by
//! scene: a 429 with a retry hint, a blip of 503/529s, an answer slower than the attempt
//! timeout, an auth error, a burst into a capacity limit, an outage that opens the circuit
//! breaker and falls back to the backup, and a retry budget that runs dry. Each scene prints a
//! few lines: the attempts as the client saw them, and what the runtime and the server counted.
//!
//! The runtime's own log (`tracing`) is off unless asked for with `RUST_LOG`: a level
//! (`RUST_LOG=info`) or `target=level` pairs (`RUST_LOG=retry_runtime=debug`); it goes to
//! stderr.
//!
//! Against a real endpoint: with `OPENAI_API_KEY` set (and optionally `OPENAI_BASE_URL`,
//! `OPENAI_MODEL`), the same functions call that endpoint. A call falls back only to a backup
//! named by `OPENAI_BACKUP_BASE_URL` (with `OPENAI_BACKUP_API_KEY` and `OPENAI_BACKUP_MODEL`,
//! which default to the primary's); without one, nothing falls back.

#[path = "quickstart/client.rs"]
mod client;
#[path = "quickstart/journal.rs"]
mod journal;
#[path = "quickstart/report.rs"]
mod report;
#[path = "quickstart/scenes.rs"]
mod scenes;

use std::error::Error;
use std::time::Duration;

use retry_runtime::http::reqwest;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use client::{Llm, Provider, COMPLETE_ON_BACKUP, COMPLETE_ON_PRIMARY};
use journal::Journal;
use report::Seen;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    show_runtime_log_if_asked();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    match std::env::var("OPENAI_API_KEY") {
        Ok(api_key) => real_endpoint(http, api_key).await,
        Err(_) => scenes::play(http).await,
    }
}

/// Writes the runtime's `tracing` events to stderr when `RUST_LOG` asks for them.
fn show_runtime_log_if_asked() {
    let asked = std::env::var("RUST_LOG")
        .ok()
        .filter(|spec| !spec.trim().is_empty());
    let Some(spec) = asked else {
        println!("The runtime's own log is off: RUST_LOG=info shows it on stderr.");
        return;
    };
    match spec.parse::<Targets>() {
        Ok(filter) => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .finish()
                .with(filter)
                .init();
            println!("The runtime's own log goes to stderr (RUST_LOG={spec}).");
        }
        // The parser's own message is long and names no fix: say what is expected instead.
        Err(_) => eprintln!(
            "RUST_LOG={spec:?} is not a level or a list of target=level (e.g. info, \
             retry_runtime=debug): the runtime's log stays off."
        ),
    }
}

/// The same functions against a real endpoint, and its backup if one is named.
async fn real_endpoint(http: reqwest::Client, api_key: String) -> Result<(), Box<dyn Error>> {
    let env = |name: &str| std::env::var(name).ok();
    let primary = Provider {
        name: "primary",
        base_url: env("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".to_owned()),
        api_key: Some(api_key),
        model: env("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".to_owned()),
    };
    let backup = env("OPENAI_BACKUP_BASE_URL").map(|base_url| Provider {
        name: "backup",
        base_url,
        api_key: env("OPENAI_BACKUP_API_KEY").or_else(|| primary.api_key.clone()),
        model: env("OPENAI_BACKUP_MODEL").unwrap_or_else(|| primary.model.clone()),
    });
    println!("Primary: {} with model {}", primary.base_url, primary.model);
    match &backup {
        Some(backup) => println!("Backup: {} with model {}", backup.base_url, backup.model),
        None => println!("No backup (OPENAI_BACKUP_BASE_URL names one): nothing falls back."),
    }
    let llm = Llm {
        http,
        primary,
        backup,
        journal: Journal::default(),
    };
    let complete = (COMPLETE_ON_PRIMARY, Some(COMPLETE_ON_BACKUP));
    for prompt in ["Say hello in five words.", "Name one prime number."] {
        println!("\n{prompt:?}");
        let seen = Seen::watch(&llm.journal, complete, llm.complete(prompt)).await;
        for line in report::attempt_lines(&seen.attempts) {
            println!("{line}");
        }
        println!("   => {}", seen.verdict(llm.primary.name));
        match &seen.result {
            Ok(reply) => println!("   {}", first_line(reply)),
            Err(error) => println!("   {}", first_line(&error.to_string())),
        }
    }
    Ok(())
}

/// The first line of `text`, cut to fit the screen.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}
