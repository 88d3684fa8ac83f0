//! Behaviour of `#[retry]` and the runtime together, one module per numbered behaviour of the
//! core contract. Waiting logic runs on the runtime's test clock (sync) or tokio's paused clock
//! (async): nothing here sleeps for real.

mod support;

mod admission;
mod classification;
mod context;
mod deadline;
mod hints;
mod nesting;
mod observability;
mod shared_state;
mod strategy;
mod testing_aids;
mod waits;
