//! The functions more than one bench measures: the same body with and without `#[retry]`, and
//! one that fails a given number of times first.
#![allow(dead_code)] // each bench uses some of them

use std::cell::Cell;

use retry_runtime::retry;

use super::Unavailable;

#[inline(never)]
#[allow(clippy::unnecessary_wraps)] // the same signature as the retried one
pub(crate) fn direct_sync(x: u64) -> Result<u64, Unavailable> {
    Ok(x.wrapping_mul(31).wrapping_add(7))
}

#[retry(max_attempts = 3, wait = exponential(100ms, 2s))]
#[inline(never)]
pub(crate) fn retried_sync(x: u64) -> Result<u64, Unavailable> {
    Ok(x.wrapping_mul(31).wrapping_add(7))
}

#[inline(never)]
#[allow(clippy::unused_async)] // the same signature as the retried one
pub(crate) async fn direct_async(x: u64) -> Result<u64, Unavailable> {
    Ok(x.wrapping_mul(31).wrapping_add(7))
}

#[retry(max_attempts = 3, wait = exponential(100ms, 2s))]
#[inline(never)]
pub(crate) async fn retried_async(x: u64) -> Result<u64, Unavailable> {
    Ok(x.wrapping_mul(31).wrapping_add(7))
}

/// Fails while `failures` is above zero, counting it down.
#[retry(max_attempts = 3, wait = fixed(0), jitter = none)]
#[inline(never)]
pub(crate) fn retried_flaky(failures: &Cell<u32>, x: u64) -> Result<u64, Unavailable> {
    flaky_body(failures, x)
}

#[inline]
pub(crate) fn flaky_body(failures: &Cell<u32>, x: u64) -> Result<u64, Unavailable> {
    match failures.get() {
        0 => Ok(x.wrapping_mul(31).wrapping_add(7)),
        n => {
            failures.set(n - 1);
            Err(Unavailable)
        }
    }
}
