//! What the circuit breaker and the retry budget share: a sliding window of counts
//! ([`ring`]), and time as whole milliseconds on the runtime's clock, in which their state
//! keeps its instants and buckets.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub(crate) mod ring;

use self::ring::BUCKETS;

/// Milliseconds from a process-wide epoch to `now`, an instant of the runtime's clock.
///
/// The epoch is a day (or less, if the clock does not reach back that far) before the first
/// call, so that instants of test clocks made earlier in the process still count forward from
/// it; an instant before it counts as 0.
pub(crate) fn millis(now: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| {
        let real = Instant::now();
        [86_400, 3_600, 60]
            .into_iter()
            .find_map(|secs| real.checked_sub(Duration::from_secs(secs)))
            .unwrap_or(real)
    });
    let since = now.saturating_duration_since(epoch);
    since
        .as_secs()
        .saturating_mul(1_000)
        .saturating_add(u64::from(since.subsec_millis()))
}

/// Milliseconds in `duration`, rounded up, saturating.
pub(crate) const fn ceil_millis(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    let millis = nanos / 1_000_000 + if nanos % 1_000_000 == 0 { 0 } else { 1 };
    if millis > u64::MAX as u128 {
        u64::MAX
    } else {
        millis as u64
    }
}

/// The shortest window: one millisecond a bucket.
pub(crate) const MIN_WINDOW_MS: u64 = BUCKETS;
/// The longest window: a day.
pub(crate) const MAX_WINDOW_MS: u64 = 86_400_000;

/// A window brought into range: 10 ms ..= 1 day, rounded down to a whole number of
/// milliseconds per bucket. The bucket width in milliseconds.
pub(crate) const fn bucket_ms(window: Duration) -> u64 {
    let ms = window.as_millis();
    let ms = if ms < MIN_WINDOW_MS as u128 {
        MIN_WINDOW_MS
    } else if ms > MAX_WINDOW_MS as u128 {
        MAX_WINDOW_MS
    } else {
        ms as u64
    };
    ms / BUCKETS
}

/// A ratio in parts per million, clamped into `0.0..=max`; NaN is `nan`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) const fn ratio_ppm(ratio: f64, max: f64, nan: f64) -> u32 {
    let ratio = if ratio.is_nan() {
        nan
    } else if ratio < 0.0 {
        0.0
    } else if ratio > max {
        max
    } else {
        ratio
    };
    // In range and rounded: below u32::MAX for any max up to 4000.
    (ratio * 1_000_000.0 + 0.5) as u32
}
