//! The deadline over a whole call: when it is, how long the running attempt may take, and how
//! much time is left for another one. Pure functions of their inputs, time passed in; the call
//! reads the clock and keeps the durations of its attempts.

use std::time::{Duration, Instant};

use crate::strategy::TimeLeft;
use crate::Elapsed;

/// A deadline past what `Instant` holds is no deadline worth the name: such a one is capped at
/// about 35,000 years.
const FAR: Duration = Duration::from_secs(1 << 40);

/// A call's deadline: the sooner of its own (`own` from `now`) and the one it inherited from
/// the call it is nested in. `None` when it has neither.
pub(crate) fn of_call(
    own: Option<Duration>,
    inherited: Option<Instant>,
    now: Instant,
) -> Option<Instant> {
    let own = own.map(|d| now.checked_add(d).unwrap_or(now + FAR));
    match (own, inherited) {
        (Some(own), Some(inherited)) => Some(own.min(inherited)),
        (own, inherited) => own.or(inherited),
    }
}

/// How long the running attempt may take, and the error it ends with if cut: the smaller of
/// `attempt_timeout` and the time left before the deadline (an exact tie goes to the deadline).
/// `whole` is the policy's own deadline, for the message (an inherited one shows as what was
/// left of it).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))] // only async attempts are cut
pub(crate) fn attempt_limit(
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    whole: Option<Duration>,
    now: Instant,
) -> Option<(Duration, Elapsed)> {
    let by_timeout = timeout.map(|timeout| (timeout, Elapsed::attempt_timeout(timeout)));
    let by_deadline = deadline.map(|deadline| {
        let left = deadline.saturating_duration_since(now);
        (left, Elapsed::deadline(whole.unwrap_or(left)))
    });
    match (by_timeout, by_deadline) {
        (Some(timeout), Some(deadline)) if timeout.0 < deadline.0 => Some(timeout),
        (_, Some(deadline)) => Some(deadline),
        (timeout, None) => timeout,
    }
}

/// The time a call has left under its deadline, with what its next attempt will likely take.
pub(crate) fn time_left(deadline: Instant, now: Instant, recent: &RecentDurations) -> TimeLeft {
    TimeLeft {
        remaining: deadline.saturating_duration_since(now),
        typical_attempt: recent.median(),
    }
}

/// Whether a call may wait `wait` before an attempt: with a deadline, only if the attempt can
/// still start before it.
pub(crate) fn allows_wait(deadline: Option<Instant>, now: Instant, wait: Duration) -> bool {
    deadline.is_none_or(|deadline| now.checked_add(wait).is_some_and(|start| start < deadline))
}

/// The durations of a call's latest attempts, for the median that predicts the next one.
#[derive(Debug, Default)]
pub(crate) struct RecentDurations {
    latest: [Duration; 8],
    len: usize,
    next: usize,
}

impl RecentDurations {
    pub(crate) fn push(&mut self, took: Duration) {
        self.latest[self.next] = took;
        self.next = (self.next + 1) % self.latest.len();
        self.len = (self.len + 1).min(self.latest.len());
    }

    pub(crate) fn median(&self) -> Duration {
        let mut sorted = self.latest;
        let sorted = &mut sorted[..self.len];
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_call_has_the_sooner_of_its_own_and_the_inherited_deadline() {
        let now = Instant::now();
        assert_eq!(of_call(None, None, now), None);
        assert_eq!(of_call(Some(10 * S), None, now), Some(now + 10 * S));
        assert_eq!(of_call(None, Some(now + S), now), Some(now + S));
        assert_eq!(of_call(Some(10 * S), Some(now + S), now), Some(now + S));
        assert_eq!(of_call(Some(S), Some(now + 10 * S), now), Some(now + S));
        assert_eq!(of_call(Some(Duration::MAX), None, now), Some(now + FAR));
    }

    #[test]
    fn an_attempt_is_cut_at_the_sooner_of_its_timeout_and_the_deadline() {
        let now = Instant::now();
        assert!(attempt_limit(None, None, None, now).is_none());
        let (limit, elapsed) = attempt_limit(Some(2 * S), None, None, now).unwrap();
        assert_eq!((limit, elapsed), (2 * S, Elapsed::attempt_timeout(2 * S)));
        // The deadline is sooner: cut there, reported as the call's deadline.
        let (limit, elapsed) =
            attempt_limit(Some(2 * S), Some(now + S), Some(10 * S), now).unwrap();
        assert_eq!((limit, elapsed), (S, Elapsed::deadline(10 * S)));
        assert!(elapsed.is_deadline());
        // The timeout is sooner.
        let (limit, elapsed) =
            attempt_limit(Some(S), Some(now + 5 * S), Some(10 * S), now).unwrap();
        assert_eq!((limit, elapsed), (S, Elapsed::attempt_timeout(S)));
        // An inherited deadline shows as what was left of it; one already past cuts at once.
        let (limit, elapsed) = attempt_limit(None, Some(now + 3 * S), None, now).unwrap();
        assert_eq!((limit, elapsed), (3 * S, Elapsed::deadline(3 * S)));
        let (limit, _) = attempt_limit(None, Some(now), None, now + S).unwrap();
        assert_eq!(limit, Duration::ZERO);
    }

    #[test]
    fn median_of_recent_durations() {
        let mut recent = RecentDurations::default();
        assert_eq!(recent.median(), Duration::ZERO);
        for ms in [30, 10, 20] {
            recent.push(Duration::from_millis(ms));
        }
        assert_eq!(recent.median(), Duration::from_millis(20));
        for _ in 0..8 {
            recent.push(Duration::from_millis(5));
        }
        assert_eq!(
            recent.median(),
            Duration::from_millis(5),
            "only the latest eight count"
        );
    }

    #[test]
    fn a_wait_is_allowed_only_if_the_attempt_can_start_before_the_deadline() {
        let now = Instant::now();
        let wait = Duration::from_secs(2);
        assert!(allows_wait(None, now, wait));
        assert!(allows_wait(Some(now + Duration::from_secs(3)), now, wait));
        assert!(!allows_wait(Some(now + wait), now, wait));
        assert!(!allows_wait(Some(now + Duration::from_secs(1)), now, wait));
        assert!(!allows_wait(Some(now), now, Duration::MAX));
    }

    #[test]
    fn time_left_counts_from_now() {
        let now = Instant::now();
        let mut recent = RecentDurations::default();
        recent.push(S);
        let left = time_left(now + 3 * S, now + S, &recent);
        assert_eq!((left.remaining, left.typical_attempt), (2 * S, S));
        assert_eq!(time_left(now, now + S, &recent).remaining, Duration::ZERO);
    }
}
