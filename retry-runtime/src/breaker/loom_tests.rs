//! Model checks (loom) of the half-open probe permits: every interleaving of a few threads
//! acquiring and resolving probes on one state word, through the same decisions and the same
//! compare-and-swap loops as the breaker.
//!
//! ```text
//! RUSTFLAGS="--cfg retry_loom" cargo test -p retry-runtime --lib --release breaker::loom_tests
//! ```
//!
//! (`retry_loom`, not `loom`: tokio switches to loom types of its own under `cfg(loom)`.)

use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::decide::{
    self, acquire_in, Acquired, PermitKind, Phase, ProbeOutcome, Settings, State, StateCell,
};
use crate::ClassSet;

impl StateCell for AtomicU64 {
    fn load(&self) -> u64 {
        self.load(Ordering::Acquire)
    }

    fn compare_exchange(&self, current: u64, new: u64) -> Result<u64, u64> {
        self.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
    }
}

const fn settings(probes: u32) -> Settings {
    Settings {
        ratio_ppm: 500_000,
        minimum_calls: 1,
        consecutive: 1,
        window_ms: 1_000,
        break_ms: 100,
        max_break_ms: 1_000,
        probes,
        counts: ClassSet::EMPTY,
    }
}

/// A breaker whose break ended: its next call is a probe.
fn open_and_due() -> Arc<AtomicU64> {
    let open = State {
        phase: Phase::Open { until_ms: 10 },
        gen: 7,
        streak: 1,
    };
    Arc::new(AtomicU64::new(open.encode()))
}

fn probe(cell: &AtomicU64, settings: &Settings, now: u64) -> Option<u32> {
    match acquire_in(cell, settings, now) {
        Acquired::Granted {
            permit: PermitKind::Probe { gen },
            ..
        } => Some(gen),
        Acquired::Granted { .. } => panic!("not a probe"),
        Acquired::Refused { .. } => None,
    }
}

fn resolve(cell: &AtomicU64, settings: &Settings, gen: u32, outcome: ProbeOutcome) -> bool {
    decide::transition(cell, |state| {
        decide::resolve_probe(settings, state, gen, outcome, 20)
    })
    .is_some_and(|(before, after)| {
        std::mem::discriminant(&before.phase) != std::mem::discriminant(&after.phase)
    })
}

/// Three threads race for two probe slots, each giving its slot back (a cancelled call):
/// never more than two are held at once, and every slot comes back. (Three threads: explored
/// up to three preemptions, which keeps the run to seconds.)
#[test]
fn probes_held_never_exceed_the_limit() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        const SETTINGS: Settings = settings(2);
        let cell = open_and_due();
        let held = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (cell, held) = (Arc::clone(&cell), Arc::clone(&held));
                thread::spawn(move || {
                    if let Some(gen) = probe(&cell, &SETTINGS, 20) {
                        let now_held = held.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now_held <= 2, "{now_held} probes held");
                        held.fetch_sub(1, Ordering::SeqCst);
                        resolve(&cell, &SETTINGS, gen, ProbeOutcome::Abandoned);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let end = State::decode(StateCell::load(&*cell));
        assert_eq!(
            end.phase,
            Phase::HalfOpen {
                in_flight: 0,
                succeeded: 0
            }
        );
        assert_eq!(end.gen, 8, "one move to half-open");
    });
}

/// Two probes of a two-probe phase: one succeeds, one fails. Whatever the order (the one to
/// succeed may also be refused, if the other already failed), the breaker ends open, with a
/// longer break, and exactly one thread made that move.
#[test]
fn a_failed_probe_reopens_exactly_once() {
    loom::model(|| {
        const SETTINGS: Settings = settings(2);
        let cell = open_and_due();
        let moves = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = [ProbeOutcome::Success, ProbeOutcome::Failure]
            .into_iter()
            .map(|outcome| {
                let (cell, moves) = (Arc::clone(&cell), Arc::clone(&moves));
                thread::spawn(move || {
                    // Refused if the other probe already failed and reopened the breaker.
                    let Some(gen) = probe(&cell, &SETTINGS, 20) else {
                        assert_eq!(outcome, ProbeOutcome::Success);
                        return;
                    };
                    if resolve(&cell, &SETTINGS, gen, outcome) {
                        moves.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let end = State::decode(StateCell::load(&*cell));
        assert_eq!(end.phase, Phase::Open { until_ms: 220 });
        assert_eq!(end.streak, 2);
        assert_eq!(moves.load(Ordering::SeqCst), 1);
    });
}

/// Two probes that both succeed close the breaker, once.
#[test]
fn successful_probes_close_exactly_once() {
    loom::model(|| {
        const SETTINGS: Settings = settings(2);
        let cell = open_and_due();
        let moves = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (cell, moves) = (Arc::clone(&cell), Arc::clone(&moves));
                thread::spawn(move || {
                    let gen = probe(&cell, &SETTINGS, 20).expect("a slot is free");
                    if resolve(&cell, &SETTINGS, gen, ProbeOutcome::Success) {
                        moves.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let end = State::decode(StateCell::load(&*cell));
        assert_eq!((end.phase, end.streak), (Phase::Closed, 0));
        assert_eq!(moves.load(Ordering::SeqCst), 1);
    });
}

/// A probe that ends after the breaker was tripped by hand changes nothing, and a trip racing
/// a probe's success leaves the breaker open or closed, never half-open with a lost slot.
#[test]
fn a_probe_of_an_earlier_phase_is_ignored() {
    loom::model(|| {
        const SETTINGS: Settings = settings(1);
        let cell = open_and_due();
        let gen = probe(&cell, &SETTINGS, 20).expect("the break is over");
        let prober = {
            let cell = Arc::clone(&cell);
            thread::spawn(move || resolve(&cell, &SETTINGS, gen, ProbeOutcome::Success))
        };
        let tripper = {
            let cell = Arc::clone(&cell);
            thread::spawn(move || {
                decide::transition(&*cell, |state| Some(decide::trip(&SETTINGS, state, 30)))
            })
        };
        let closed_by_probe = prober.join().unwrap();
        tripper.join().unwrap();
        let end = State::decode(StateCell::load(&*cell));
        // The trip always lands last or first: open in the end either way, and the probe
        // closed the breaker only if it came first.
        assert!(matches!(end.phase, Phase::Open { .. }), "{end:?}");
        assert_eq!(end.streak, if closed_by_probe { 1 } else { 2 });
    });
}
