//! Model checks (loom) of the gate's two paths: every interleaving of a few threads taking
//! room lent to the lock-free path, deciding under the lock and handing off the probe, through
//! the same [`Room`] and decisions as [`AdmissionGate`](super::AdmissionGate).
//!
//! ```text
//! RUSTFLAGS="--cfg retry_loom" cargo test -p retry-runtime --lib --release admission::loom_tests
//! ```

use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;

use super::decide::{self, Admission, Published, ScopeState, Settings, Signal};
use super::lend::{lend, reclaim, Room, RoomCell, Taken};

const S: &Settings = &Settings::DEFAULT;

/// Every interleaving with up to four preemptions, which keeps the run to seconds.
fn bounded() -> loom::model::Builder {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(4);
    model
}

impl RoomCell for AtomicU64 {
    fn take(&self, n: u64) -> bool {
        self.fetch_update(SeqCst, SeqCst, |left| left.checked_sub(n))
            .is_ok()
    }

    fn take_all(&self) -> u64 {
        self.swap(0, SeqCst)
    }

    fn put(&self, n: u64) {
        self.store(n, SeqCst);
    }
}

/// The gate's state and room, as the gate holds them.
struct Gate {
    state: Mutex<ScopeState>,
    room: Room<AtomicU64>,
}

impl Gate {
    fn new(state: ScopeState) -> Arc<Gate> {
        let gate = Gate {
            state: Mutex::new(state),
            room: Room {
                requests: AtomicU64::new(0),
                tokens: AtomicU64::new(0),
            },
        };
        // The gate's first decision lends what the state allows.
        gate.observe(0, None);
        Arc::new(gate)
    }

    fn try_admit(&self, now: u64, tokens: u64) -> Admission {
        let returned = match self.room.take(tokens) {
            Taken::All => return Admission::Go { probe: false },
            Taken::RequestOnly => 1,
            Taken::Nothing => 0,
        };
        let mut decision = None;
        self.decide(now, returned, |state| {
            decision = Some(decide::admit(S, state, now, tokens));
        });
        decision.unwrap()
    }

    /// A decision on `signal`, or on none: then it only lends.
    fn observe(&self, now: u64, signal: Option<Signal>) {
        self.decide(now, 0, |state| {
            if let Some(signal) = signal {
                decide::observe(S, state, now, signal);
            }
        });
    }

    /// One decision under the lock, as the gate makes it: the room back, the decision, the
    /// room lent anew.
    fn decide(&self, now: u64, returned: u64, decide: impl FnOnce(&mut ScopeState)) {
        let mut state = self.state.lock().unwrap();
        reclaim(&mut state, self.room.take_unused(returned), now);
        decide(&mut state);
        lend(&mut state, now, true);
        self.room.lend_out(state.lent);
    }
}

fn ended(probe: bool, used_tokens: Option<u64>, charged_tokens: u64) -> Option<Signal> {
    Some(Signal::Ended {
        succeeded: true,
        probe,
        charged_tokens,
        used_tokens,
    })
}

/// After a cooldown, three attempts race: one probe goes, and no other goes before its end is
/// decided (through the lock, or through the room lent after it).
#[test]
fn one_probe_and_nobody_before_its_outcome() {
    loom::model(|| {
        let mut throttled = ScopeState::EMPTY;
        decide::observe(
            S,
            &mut throttled,
            0,
            Signal::Throttled {
                retry_after_ms: Some(10),
            },
        );
        let gate = Gate::new(throttled);
        let probe_out = Arc::new(AtomicBool::new(false));
        let probes = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (gate, probe_out, probes) = (gate.clone(), probe_out.clone(), probes.clone());
                thread::spawn(move || {
                    for _ in 0..2 {
                        match gate.try_admit(10, 0) {
                            Admission::Go { probe: true } => {
                                assert_eq!(probes.fetch_add(1, SeqCst), 0, "a second probe");
                                probe_out.store(true, SeqCst);
                                probe_out.store(false, SeqCst);
                                gate.observe(10, ended(true, None, 0));
                            }
                            Admission::Go { probe: false } => {
                                assert!(!probe_out.load(SeqCst), "went before the probe's end");
                                assert_eq!(probes.load(SeqCst), 1, "went before any probe");
                            }
                            Admission::Wait { .. } => {}
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(probes.load(SeqCst), 1);
    });
}

/// Three requests and 130 tokens published, one attempt out with 30 tokens charged: two more
/// (60 tokens each) race while the first's end settles its usage (none), so that the second
/// finds a request's room without its tokens, or both go. Never more
/// requests or tokens than published, and what was not used is back in the state.
#[test]
fn lent_room_never_exceeds_what_was_published() {
    bounded().check(|| {
        let mut published = ScopeState::EMPTY;
        decide::observe(
            S,
            &mut published,
            0,
            Signal::Published {
                requests: Some(Published {
                    limit: None,
                    remaining: 3,
                    reset_in_ms: 1_000,
                }),
                tokens: Some(Published {
                    limit: None,
                    remaining: 130,
                    reset_in_ms: 1_000,
                }),
                others_in_flight: 0,
            },
        );
        // The fourth attempt, admitted before the race, charged 30 and will use none.
        assert_eq!(
            decide::admit(S, &mut published, 0, 30),
            Admission::Go { probe: false }
        );
        let gate = Gate::new(published);
        let (admitted, tokens) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut threads: Vec<_> = [60_u64, 60]
            .into_iter()
            .map(|cost| {
                let (gate, admitted, tokens) = (gate.clone(), admitted.clone(), tokens.clone());
                thread::spawn(move || {
                    if let Admission::Go { .. } = gate.try_admit(1, cost) {
                        admitted.fetch_add(1, SeqCst);
                        tokens.fetch_add(cost, SeqCst);
                    }
                })
            })
            .collect();
        let settles = gate.clone();
        threads.push(thread::spawn(move || {
            settles.observe(1, ended(false, Some(0), 30))
        }));
        for thread in threads {
            thread.join().unwrap();
        }
        let (admitted, tokens) = (admitted.load(SeqCst), tokens.load(SeqCst));
        assert!(admitted <= 2, "{admitted} requests admitted of 2");
        assert!(tokens <= 130, "{tokens} tokens admitted of 130");
        // What is left of the room, back in the state.
        let mut state = gate.state.lock().unwrap();
        reclaim(&mut state, gate.room.take_unused(0), 1);
        assert_eq!(state.requests.remaining, 2 - admitted);
        assert_eq!(state.tokens.remaining, 130 - tokens);
    });
}
