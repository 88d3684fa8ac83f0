//! Behaviour 1: Classification drives what is retried.

use std::io;

use retry_runtime::{retry, testing};

use crate::support::Counter;

#[test]
fn io_network_errors_are_retried_and_other_io_errors_are_not() {
    let _clock = testing::record_sleeps();
    let refused = Counter::new();
    #[retry(max_attempts = 3)]
    fn connect(counter: &Counter) -> io::Result<u32> {
        let n = counter.next();
        if n < 3 {
            return Err(io::Error::from(io::ErrorKind::ConnectionRefused));
        }
        Ok(n)
    }
    assert_eq!(connect(&refused).unwrap(), 3);

    let missing = Counter::new();
    #[retry(max_attempts = 3)]
    fn open(counter: &Counter) -> io::Result<()> {
        counter.next();
        Err(io::Error::from(io::ErrorKind::NotFound))
    }
    assert_eq!(open(&missing).unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(
        missing.get(),
        1,
        "an `Other` error is not retried unless named"
    );
}

#[test]
fn other_is_retried_when_named() {
    let _clock = testing::record_sleeps();
    let counter = Counter::new();
    #[retry(max_attempts = 3, on = [Other])]
    fn open(counter: &Counter) -> io::Result<()> {
        counter.next();
        Err(io::Error::from(io::ErrorKind::NotFound))
    }
    assert!(open(&counter).is_err());
    assert_eq!(counter.get(), 3);
}

#[test]
fn timed_out_io_error_counts_as_timeout_with_its_own_cap() {
    let _clock = testing::record_sleeps();
    let counter = Counter::new();
    #[retry(max_attempts = 5)]
    fn read(counter: &Counter) -> io::Result<()> {
        counter.next();
        Err(io::Error::from(io::ErrorKind::TimedOut))
    }
    assert!(read(&counter).is_err());
    assert_eq!(
        counter.get(),
        2,
        "Timeout is capped at 2 attempts by default"
    );
}
