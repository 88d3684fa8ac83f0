//! End to end: `#[retry]` reqwest clients, written as a user writes them, against mock-llm, a
//! fake OpenAI-compatible provider with fault injection, over real loopback sockets and in real
//! time. Every hint and wait is a few tens of milliseconds, and the assertions are on what the
//! server saw: how many requests, their arrival instants per idempotency key, what it billed,
//! and the retries that came sooner than it allowed.

mod support;

mod breaker;
mod deadline;
mod hints;
mod load;
mod lost_responses;
mod statistics;
mod statuses;
