//! The decision after a failed attempt, as a pure function of the policy, the failure, the
//! time left and the backoff state: retry after some wait, or give up and why.

use std::time::Duration;

use crate::wait::{uniform, Backoff};
use crate::{ErrorClass, GiveUpReason, RetryPolicy};

/// What the failed attempt was.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Failure {
    pub(crate) class: ErrorClass,
    /// The server's hint (`Retry-After` and its relatives).
    pub(crate) hint: Option<Duration>,
    /// A retried call nested in the attempt gave up on this error after retrying it.
    pub(crate) inner_gave_up: bool,
}

/// How much time the call has, when it has a deadline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeLeft {
    pub(crate) remaining: Duration,
    /// The median duration of this call's attempts so far: what the next one will likely take.
    pub(crate) typical_attempt: Duration,
}

/// Why a call waits the time it waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitReason {
    Backoff,
    RetryAfter,
}

impl WaitReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WaitReason::Backoff => "backoff",
            WaitReason::RetryAfter => "retry-after",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Retry {
        wait: Duration,
        reason: WaitReason,
        cap: u32,
    },
    GiveUp {
        reason: GiveUpReason,
        cap: u32,
    },
}

/// Decides after attempt number `attempts` failed.
pub(crate) fn judge(
    policy: &RetryPolicy,
    attempts: u32,
    failure: Failure,
    time: Option<TimeLeft>,
    backoff: &mut Backoff,
) -> Verdict {
    let cap = policy.cap_for(failure.class);
    let give_up = |reason| Verdict::GiveUp { reason, cap };
    if !policy.retries(failure.class) {
        return give_up(GiveUpReason::NotRetryable);
    }
    if failure.inner_gave_up {
        return give_up(GiveUpReason::AlreadyRetried);
    }
    if attempts >= cap {
        return give_up(GiveUpReason::Exhausted);
    }
    let (wait, reason) = match failure.hint {
        Some(hint) if hint > policy.max_retry_after_value() => {
            return give_up(GiveUpReason::HintTooLong)
        }
        // Spread clients released by the same hint over a tenth of it, never earlier.
        Some(hint) => (
            uniform(backoff.rng(), hint, hint.saturating_add(hint / 10)),
            WaitReason::RetryAfter,
        ),
        None => (backoff.delay_for(attempts), WaitReason::Backoff),
    };
    let Some(time) = time else {
        return Verdict::Retry { wait, reason, cap };
    };
    let floor = failure.hint.unwrap_or(wait);
    let budget = time.remaining.saturating_sub(time.typical_attempt);
    if floor > budget || time.remaining.is_zero() {
        return give_up(GiveUpReason::Deadline);
    }
    Verdict::Retry {
        wait: wait.min(budget),
        reason,
        cap,
    }
}

/// What stands before the judgement of a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Before {
    /// Nothing: the attempt was made and ran to its end.
    Nothing,
    /// The circuit breaker refused the attempt: it never reached the provider.
    Refused,
    /// The admission gate could not admit the attempt before the deadline: it was not made.
    NotAdmitted,
    /// The call's deadline cut the attempt.
    CutByDeadline,
}

/// The verdict after a failed attempt, by precedence: an attempt the breaker refused gives up
/// (`CircuitOpen`), as does one the admission gate could not admit in time (`NotAdmitted`);
/// then one the deadline cut (`Deadline`); then the judgement (`judged`, made
/// only when asked); then a retry the budget cannot pay for (`BudgetSpent`, `draw` asked only
/// for a retry, since drawing spends).
pub(crate) fn settle(
    before: Before,
    max_attempts: u32,
    judged: impl FnOnce() -> Verdict,
    draw: impl FnOnce() -> bool,
) -> Verdict {
    let give_up = |reason| Verdict::GiveUp {
        reason,
        cap: max_attempts,
    };
    match before {
        Before::Refused => give_up(GiveUpReason::CircuitOpen),
        Before::NotAdmitted => give_up(GiveUpReason::NotAdmitted),
        Before::CutByDeadline => give_up(GiveUpReason::Deadline),
        Before::Nothing => match judged() {
            Verdict::Retry { cap, .. } if !draw() => Verdict::GiveUp {
                reason: GiveUpReason::BudgetSpent,
                cap,
            },
            verdict => verdict,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClassSet, Jitter, Wait};

    const S: Duration = Duration::from_secs(1);

    fn policy() -> RetryPolicy {
        RetryPolicy::new()
            .max_attempts(3)
            .wait(Wait::exponential(S, 8 * S))
            .jitter(Jitter::None)
    }

    fn failure(class: ErrorClass) -> Failure {
        Failure {
            class,
            hint: None,
            inner_gave_up: false,
        }
    }

    fn backoff(policy: &RetryPolicy) -> Backoff {
        policy.wait_value().backoff(policy.jitter_value(), 1)
    }

    fn judge_once(
        policy: &RetryPolicy,
        attempts: u32,
        failure: Failure,
        time: Option<TimeLeft>,
    ) -> Verdict {
        judge(policy, attempts, failure, time, &mut backoff(policy))
    }

    #[test]
    fn refused_beats_cut_beats_judged_beats_budget() {
        let retry = Verdict::Retry {
            wait: S,
            reason: WaitReason::Backoff,
            cap: 5,
        };
        let exhausted = Verdict::GiveUp {
            reason: GiveUpReason::Exhausted,
            cap: 5,
        };
        let never = || -> Verdict { panic!("not judged") };
        let no_draw = || -> bool { panic!("not drawn") };
        let reason = |v: Verdict| match v {
            Verdict::GiveUp { reason, .. } => Some(reason),
            Verdict::Retry { .. } => None,
        };
        assert_eq!(
            reason(settle(Before::Refused, 3, never, no_draw)),
            Some(GiveUpReason::CircuitOpen)
        );
        assert_eq!(
            reason(settle(Before::NotAdmitted, 3, never, no_draw)),
            Some(GiveUpReason::NotAdmitted)
        );
        assert_eq!(
            reason(settle(Before::CutByDeadline, 3, never, no_draw)),
            Some(GiveUpReason::Deadline)
        );
        assert_eq!(settle(Before::Nothing, 3, || exhausted, no_draw), exhausted);
        assert_eq!(settle(Before::Nothing, 3, || retry, || true), retry);
        assert_eq!(
            settle(Before::Nothing, 3, || retry, || false),
            Verdict::GiveUp {
                reason: GiveUpReason::BudgetSpent,
                cap: 5
            },
            "a spent budget keeps the cap the judgement chose"
        );
    }

    #[test]
    fn transient_errors_back_off_until_the_cap() {
        let p = policy();
        let mut b = backoff(&p);
        assert_eq!(
            judge(&p, 1, failure(ErrorClass::Server), None, &mut b),
            Verdict::Retry {
                wait: S,
                reason: WaitReason::Backoff,
                cap: 3
            }
        );
        assert_eq!(
            judge(&p, 2, failure(ErrorClass::Server), None, &mut b),
            Verdict::Retry {
                wait: 2 * S,
                reason: WaitReason::Backoff,
                cap: 3
            }
        );
        assert_eq!(
            judge(&p, 3, failure(ErrorClass::Server), None, &mut b),
            Verdict::GiveUp {
                reason: GiveUpReason::Exhausted,
                cap: 3
            }
        );
    }

    #[test]
    fn client_auth_and_unnamed_other_are_never_retried() {
        let p = policy();
        for class in [ErrorClass::Client, ErrorClass::Auth, ErrorClass::Other] {
            assert!(
                matches!(
                    judge_once(&p, 1, failure(class), None),
                    Verdict::GiveUp {
                        reason: GiveUpReason::NotRetryable,
                        ..
                    }
                ),
                "{class}"
            );
        }
        let named = policy().on(ClassSet::EMPTY
            .with(ErrorClass::Other)
            .with(ErrorClass::Client));
        assert!(matches!(
            judge_once(&named, 1, failure(ErrorClass::Other), None),
            Verdict::Retry { .. }
        ));
        assert!(
            matches!(
                judge_once(&named, 1, failure(ErrorClass::Client), None),
                Verdict::GiveUp { .. }
            ),
            "Client stays unretried even when a hand-built policy names it"
        );
    }

    #[test]
    fn timeouts_are_capped_at_two_attempts_by_default() {
        let p = policy().max_attempts(5);
        assert!(matches!(
            judge_once(&p, 1, failure(ErrorClass::Timeout), None),
            Verdict::Retry { cap: 2, .. }
        ));
        assert!(matches!(
            judge_once(&p, 2, failure(ErrorClass::Timeout), None),
            Verdict::GiveUp {
                reason: GiveUpReason::Exhausted,
                cap: 2
            }
        ));
        let one = policy().max_attempts(1);
        assert!(matches!(
            judge_once(&one, 1, failure(ErrorClass::Timeout), None),
            Verdict::GiveUp { .. }
        ));
    }

    #[test]
    fn class_cap_replaces_max_attempts_for_that_class() {
        let p = policy().class_max_attempts(ErrorClass::RateLimit, 8);
        assert!(matches!(
            judge_once(&p, 7, failure(ErrorClass::RateLimit), None),
            Verdict::Retry { cap: 8, .. }
        ));
        assert!(matches!(
            judge_once(&p, 8, failure(ErrorClass::RateLimit), None),
            Verdict::GiveUp { cap: 8, .. }
        ));
        assert!(matches!(
            judge_once(&p, 3, failure(ErrorClass::Server), None),
            Verdict::GiveUp { cap: 3, .. }
        ));
    }

    #[test]
    fn hints_are_never_shortened_and_spread_by_at_most_a_tenth() {
        let p = policy();
        let mut b = backoff(&p);
        for _ in 0..500 {
            let hinted = Failure {
                hint: Some(5 * S),
                ..failure(ErrorClass::RateLimit)
            };
            let Verdict::Retry { wait, reason, .. } = judge(&p, 1, hinted, None, &mut b) else {
                panic!("a 5 s hint is retried");
            };
            assert_eq!(reason, WaitReason::RetryAfter);
            assert!(
                wait >= 5 * S && wait <= 5500 * Duration::from_millis(1),
                "{wait:?}"
            );
        }
    }

    #[test]
    fn a_hint_over_max_retry_after_gives_up() {
        let p = policy().max_retry_after(60 * S);
        let hinted = Failure {
            hint: Some(61 * S),
            ..failure(ErrorClass::RateLimit)
        };
        assert!(matches!(
            judge_once(&p, 1, hinted, None),
            Verdict::GiveUp {
                reason: GiveUpReason::HintTooLong,
                ..
            }
        ));
    }

    #[test]
    fn deadline_gives_up_when_wait_plus_typical_attempt_overruns() {
        let p = policy();
        let time = TimeLeft {
            remaining: 3 * S,
            typical_attempt: 2 * S + S / 2,
        };
        assert!(matches!(
            judge_once(&p, 1, failure(ErrorClass::Server), Some(time)),
            Verdict::GiveUp {
                reason: GiveUpReason::Deadline,
                ..
            }
        ));
        let roomy = TimeLeft {
            remaining: 10 * S,
            typical_attempt: S,
        };
        assert!(
            matches!(judge_once(&p, 1, failure(ErrorClass::Server), Some(roomy)), Verdict::Retry { wait, .. } if wait == S)
        );
    }

    #[test]
    fn a_hint_past_the_deadline_gives_up_and_one_within_is_kept_whole() {
        let p = policy();
        let hinted = Failure {
            hint: Some(4 * S),
            ..failure(ErrorClass::RateLimit)
        };
        let short = TimeLeft {
            remaining: 4 * S,
            typical_attempt: S,
        };
        assert!(matches!(
            judge_once(&p, 1, hinted, Some(short)),
            Verdict::GiveUp {
                reason: GiveUpReason::Deadline,
                ..
            }
        ));
        let exact = TimeLeft {
            remaining: 5 * S,
            typical_attempt: S,
        };
        assert!(
            matches!(judge_once(&p, 1, hinted, Some(exact)), Verdict::Retry { wait, .. } if wait == 4 * S)
        );
    }

    #[test]
    fn an_error_already_retried_inside_is_not_retried_again() {
        let p = policy();
        let nested = Failure {
            inner_gave_up: true,
            ..failure(ErrorClass::Server)
        };
        assert!(matches!(
            judge_once(&p, 1, nested, None),
            Verdict::GiveUp {
                reason: GiveUpReason::AlreadyRetried,
                ..
            }
        ));
    }
}
