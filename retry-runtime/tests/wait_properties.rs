//! Properties of the wait schedules, for any configuration, attempt number and seed: no wait
//! exceeds its cap, none panics, and the same seed gives the same waits.

use std::time::Duration;

use proptest::prelude::*;
use rand::SeedableRng;
use retry_runtime::{Jitter, Wait};

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..=10_000_000_000).prop_map(Duration::from_nanos),
        (0u64..=u64::MAX, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        Just(Duration::ZERO),
        Just(Duration::MAX),
    ]
}

fn any_wait() -> impl Strategy<Value = Wait> {
    (0u8..4, any_duration(), any_duration()).prop_map(|(kind, a, b)| match kind {
        0 => Wait::fixed(a),
        1 => Wait::exponential(a, b),
        2 => Wait::linear(a, b),
        _ => Wait::decorrelated(a, b),
    })
}

fn any_jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::None)]
}

proptest! {
    #[test]
    fn no_wait_exceeds_its_cap(
        wait in any_wait(),
        jitter in any_jitter(),
        retry in any::<u32>(),
        previous in any_duration(),
        seed in any::<u64>(),
    ) {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let delay = wait.delay(jitter, retry, previous, &mut rng);
        prop_assert!(delay <= wait.cap(), "{delay:?} over the cap {:?} of {wait:?}", wait.cap());
        prop_assert!(wait.base_delay(retry) <= wait.cap());
    }

    #[test]
    fn a_backoff_sequence_stays_under_its_cap_and_is_reproducible(
        wait in any_wait(),
        jitter in any_jitter(),
        seed in any::<u64>(),
    ) {
        let first: Vec<_> = wait.backoff(jitter, seed).take(70).collect();
        let again: Vec<_> = wait.backoff(jitter, seed).take(70).collect();
        prop_assert_eq!(&first, &again);
        prop_assert!(first.iter().all(|d| *d <= wait.cap()));
    }
}
