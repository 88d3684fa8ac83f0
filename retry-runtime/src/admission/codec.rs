//! A scope's state as a shared store keeps it: its numbers, space-separated, in a fixed
//! order. What this process lent itself (`lent`) is its own and is not shared.

use core::fmt::Write;

use super::decide::{Probe, Rate, ScopeState, Sent};
use super::quota::Quota;

/// How many numbers a state is.
const FIELDS: usize = 22;

/// `state`'s shared part, as text.
pub(crate) fn encode(state: &ScopeState) -> String {
    let (probe, since) = match state.probe {
        Probe::None => (0, 0),
        Probe::Wanted => (1, 0),
        Probe::InFlight { since } => (2, since),
    };
    let quota = |q: &Quota| {
        [
            q.remaining,
            q.reset_at,
            q.limit,
            q.per_sec_milli,
            q.refilled_at,
        ]
    };
    let r = state.rate;
    let s = state.sent;
    let numbers: [u64; FIELDS] = {
        let [a, b, c, d, e] = quota(&state.requests);
        let [f, g, h, i, j] = quota(&state.tokens);
        [
            state.cooldown_until,
            probe,
            since,
            a,
            b,
            c,
            d,
            e,
            f,
            g,
            h,
            i,
            j,
            r.per_sec_milli,
            r.level_milli,
            r.refilled_at,
            r.lowered_at,
            r.changed_at,
            s.since,
            s.count,
            s.last_rate_milli,
            1, // the encoding's version
        ]
    };
    let mut text = String::with_capacity(FIELDS * 8);
    for (i, n) in numbers.iter().enumerate() {
        let gap = if i > 0 { " " } else { "" };
        // Writing to a `String` cannot fail.
        let _ = write!(text, "{gap}{n}");
    }
    text
}

/// The state `text` encodes (with nothing lent), or `None` when it is not one: a store that
/// holds something else is read as holding nothing.
pub(crate) fn decode(text: &str) -> Option<ScopeState> {
    let mut numbers = [0u64; FIELDS];
    let mut parts = text.split(' ');
    for slot in &mut numbers {
        *slot = parts.next()?.parse().ok()?;
    }
    if parts.next().is_some() || numbers[FIELDS - 1] != 1 {
        return None;
    }
    let n = numbers;
    let quota = |at: usize| Quota {
        remaining: n[at],
        reset_at: n[at + 1],
        limit: n[at + 2],
        per_sec_milli: n[at + 3],
        refilled_at: n[at + 4],
    };
    let probe = match n[1] {
        0 => Probe::None,
        1 => Probe::Wanted,
        2 => Probe::InFlight { since: n[2] },
        _ => return None,
    };
    Some(ScopeState {
        cooldown_until: n[0],
        probe,
        requests: quota(3),
        tokens: quota(8),
        rate: Rate {
            per_sec_milli: n[13],
            level_milli: n[14],
            refilled_at: n[15],
            lowered_at: n[16],
            changed_at: n[17],
        },
        sent: Sent {
            since: n[18],
            count: n[19],
            last_rate_milli: n[20],
        },
        ..ScopeState::EMPTY
    })
}

#[cfg(all(test, not(retry_loom)))]
mod tests {
    use super::*;
    use crate::admission::decide::{self, Published, Settings, Signal};

    #[test]
    fn a_state_goes_through_text_and_back_without_what_was_lent() {
        let s = &Settings::DEFAULT;
        let mut state = ScopeState::EMPTY;
        let published = Signal::Published {
            requests: Some(Published {
                remaining: 7,
                limit: Some(60),
                reset_in_ms: 1_500,
            }),
            tokens: Some(Published {
                remaining: 9_000,
                limit: None,
                reset_in_ms: 60_000,
            }),
            others_in_flight: 1,
        };
        decide::observe(s, &mut state, 1_000, published);
        decide::observe(
            s,
            &mut state,
            2_000,
            Signal::Throttled {
                retry_after_ms: Some(500),
            },
        );
        assert!(matches!(
            decide::admit(s, &mut state, 2_600, 10),
            decide::Admission::Go { probe: true }
        ));
        state.lent.requests = 3;
        let back = decode(&encode(&state)).expect("decodes");
        assert_eq!(
            back,
            ScopeState {
                lent: ScopeState::EMPTY.lent,
                ..state
            }
        );
        assert_eq!(decode(&encode(&ScopeState::EMPTY)), Some(ScopeState::EMPTY));
    }

    #[test]
    fn text_that_is_not_a_state_is_none() {
        for bad in [
            "",
            "1 2 3",
            "x",
            &format!("{} 9", encode(&ScopeState::EMPTY)),
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        let wrong_probe = encode(&ScopeState::EMPTY).replacen("0 0", "0 7", 1);
        assert_eq!(decode(&wrong_probe), None);
    }
}
