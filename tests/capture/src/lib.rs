//! What the workspace's tests use to read what a run emitted: its `tracing` events ([`logs`])
//! and, with the `metrics` feature, its metrics ([`metrics()`]). Both read only what the
//! test's own thread emitted, so tests running in parallel never see each other's output.
//!
//! # Why the logs are read through one global subscriber
//! `tracing` caches, per log site, whether any subscriber listens. A test that sets a scoped
//! subscriber (`tracing::subscriber::with_default`) races with parallel tests that have none:
//! when only one subscriber is alive, `tracing` asks the *registering thread's* subscriber
//! whether a new site is wanted, so a site first reached on a thread with no subscriber is
//! cached as "nobody listens" while the capturing test runs, and its events are lost (the
//! flake this crate was made for). Here there is a single subscriber for the whole test
//! binary, installed as the global default at the first capture: every log site is cached as
//! "ask each time", and the subscriber answers per event whether the current thread is
//! capturing. Nothing is cached wrongly, so nothing depends on test order or timing.
//!
//! ```
//! let ((), events) = retry_test_capture::logs(|| tracing::warn!(attempt = 2, "failed"));
//! assert_eq!(events[0].message(), "failed");
//! assert_eq!(events[0].fields["attempt"], "2");
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Once;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event as TracingEvent, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "metrics")]
pub use crate::metrics::{labels, metrics, Metric, Value};

/// One event as a test reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's level.
    pub level: Level,
    /// The module path (or `target:`) it was emitted under.
    pub target: String,
    /// Its fields, the message under `message`; values as `Display` for strings, `Debug`
    /// otherwise.
    pub fields: BTreeMap<String, String>,
    /// The fields of the spans it was emitted in, outermost first, an inner span's value
    /// winning over an outer one's.
    pub span: BTreeMap<String, String>,
}

impl Event {
    /// The event's message, or `""`.
    pub fn message(&self) -> &str {
        self.fields.get("message").map_or("", String::as_str)
    }

    /// A field's value, if the event has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Runs `f` and returns what it returned with every `tracing` event emitted on this thread
/// while it ran (at every level), in order.
///
/// The test binary must not install a global subscriber of its own: the first call installs
/// this crate's. Captures nest: an inner one takes the events emitted while it runs.
pub fn logs<T>(f: impl FnOnce() -> T) -> (T, Vec<Event>) {
    install();
    CAPTURES.with(|c| c.borrow_mut().push(Vec::new()));
    // Pops the capture even when `f` panics, so a failed test leaves its thread clean.
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            CAPTURES.with(|c| c.borrow_mut().pop());
        }
    }
    let pop = Pop;
    let out = f();
    let events = CAPTURES.with(|c| c.borrow_mut().last_mut().map(std::mem::take));
    drop(pop);
    (out, events.unwrap_or_default())
}

thread_local! {
    /// The captures running on this thread, innermost last.
    static CAPTURES: RefCell<Vec<Vec<Event>>> = const { RefCell::new(Vec::new()) };
}

fn capturing() -> bool {
    CAPTURES.with(|c| !c.borrow().is_empty())
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(ThreadCapture);
        tracing::subscriber::set_global_default(subscriber).expect(
            "retry-test-capture installs the global tracing subscriber: \
             this test binary must not install one of its own",
        );
    });
    // A site that a thread began registering before the install may have stored "nobody
    // listens" just after it: have every site ask again, now that the answer is known.
    tracing::callsite::rebuild_interest_cache();
}

/// The one subscriber's layer: wants every event, keeps those of capturing threads.
struct ThreadCapture;

/// A span's fields, kept in its extensions.
struct SpanFields(BTreeMap<String, String>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for ThreadCapture {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, _: &Metadata<'_>, _: Context<'_, S>) -> bool {
        capturing()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.0));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            if let Some(existing) = span.extensions_mut().get_mut::<SpanFields>() {
                existing.0.extend(fields.0);
            }
        }
    }

    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut span = BTreeMap::new();
        if let Some(scope) = ctx.event_scope(event) {
            for s in scope.from_root() {
                if let Some(f) = s.extensions().get::<SpanFields>() {
                    span.extend(f.0.clone());
                }
            }
        }
        let seen = Event {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields: fields.0,
            span,
        };
        CAPTURES.with(|c| {
            if let Some(top) = c.borrow_mut().last_mut() {
                top.push(seen);
            }
        });
    }
}

/// Collects fields as text.
#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_threads_events_inside_the_capture_are_kept() {
        tracing::warn!("before");
        let ((), events) = logs(|| {
            std::thread::spawn(|| tracing::warn!("another thread"))
                .join()
                .unwrap();
            let span = tracing::info_span!("call", function = "f", key = 1);
            let _entered = span.enter();
            tracing::error!(reason = "exhausted", "gave up");
        });
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].level, Level::ERROR);
        assert_eq!(events[0].message(), "gave up");
        assert_eq!(events[0].field("reason"), Some("exhausted"));
        assert_eq!(events[0].span["function"], "f");
        assert_eq!(events[0].span["key"], "1");
    }

    #[test]
    fn captures_nest_and_a_panic_leaves_none_behind() {
        let (inner, outer) = logs(|| {
            tracing::info!("outer");
            logs(|| tracing::info!("inner")).1
        });
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0].message(), "inner");
        assert_eq!(outer.len(), 1);
        assert_eq!(outer[0].message(), "outer");

        let panicked = std::panic::catch_unwind(|| logs(|| panic!("in the body")));
        assert!(panicked.is_err());
        assert!(!capturing());
    }
}
