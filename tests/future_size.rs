//! What `#[retry]` adds to the size of an async fn's future, for the error types users have:
//! the README's figure (the retry state is 168 to 184 bytes, whatever the error type)
//! holds only while this passes.

use std::mem::size_of_val;

use retry_runtime::http::{reqwest, HttpError};
use retry_runtime::{retry, Classify, ErrorClass};

/// An error with no data, the smallest a user can have.
#[derive(Debug)]
struct Unit;

impl Classify for Unit {
    fn class(&self) -> ErrorClass {
        ErrorClass::Server
    }
}

async fn direct_unit(x: u64) -> Result<u64, Unit> {
    Ok(x)
}

#[retry]
async fn retried_unit(x: u64) -> Result<u64, Unit> {
    Ok(x)
}

async fn direct_io(x: u64) -> Result<u64, std::io::Error> {
    Ok(x)
}

#[retry]
async fn retried_io(x: u64) -> Result<u64, std::io::Error> {
    Ok(x)
}

async fn direct_get(client: &reqwest::Client, url: &str) -> Result<String, HttpError> {
    Ok(client.get(url).send().await?.text().await?)
}

#[retry]
async fn retried_get(client: &reqwest::Client, url: &str) -> Result<String, HttpError> {
    Ok(client.get(url).send().await?.text().await?)
}

/// The bytes the retry state adds, read as the README states it.
const ADDED: std::ops::RangeInclusive<usize> = 166..=186;

#[test]
fn the_retry_state_adds_the_same_bytes_whatever_the_error_type() {
    let client = reqwest::Client::new();
    let url = "http://127.0.0.1:9/";
    let pairs = [
        (
            "zero-sized error",
            size_of_val(&direct_unit(1)),
            size_of_val(&retried_unit(1)),
        ),
        (
            "io::Error",
            size_of_val(&direct_io(1)),
            size_of_val(&retried_io(1)),
        ),
        (
            "a reqwest GET with HttpError",
            size_of_val(&direct_get(&client, url)),
            size_of_val(&retried_get(&client, url)),
        ),
    ];
    for (what, direct, retried) in pairs {
        let added = retried - direct;
        eprintln!("{what}: {direct} -> {retried} bytes (+{added})");
        assert!(
            ADDED.contains(&added),
            "{what}: #[retry] adds {added} bytes ({direct} -> {retried}); update the README's \
             figure and ADDED if this is meant"
        );
    }
}
