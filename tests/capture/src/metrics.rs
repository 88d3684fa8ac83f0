//! Metrics recorded on the test's thread, through `metrics-util`'s debugging recorder.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// A recorded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter's total.
    Counter(u64),
    /// A gauge's last value.
    Gauge(f64),
    /// A histogram's samples, in order.
    Histogram(Vec<f64>),
}

/// One metric: name, labels sorted by key, value.
pub type Metric = (String, Vec<(String, String)>, Value);

/// Runs `f` with a debugging recorder installed on this thread and returns what it returned
/// with every metric recorded meanwhile, sorted by name, then labels.
///
/// ```
/// use retry_test_capture::{labels, metrics, Value};
///
/// let ((), seen) = metrics(|| metrics::counter!("calls", "outcome" => "ok").increment(2));
/// assert_eq!(seen, [("calls".to_owned(), labels(&[("outcome", "ok")]), Value::Counter(2))]);
/// ```
pub fn metrics<T>(f: impl FnOnce() -> T) -> (T, Vec<Metric>) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let out = ::metrics::with_local_recorder(&recorder, f);
    let mut all: Vec<Metric> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let value = match value {
                DebugValue::Counter(n) => Value::Counter(n),
                DebugValue::Gauge(g) => Value::Gauge(g.into_inner()),
                DebugValue::Histogram(values) => {
                    Value::Histogram(values.into_iter().map(|v| v.into_inner()).collect())
                }
            };
            let labels = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect::<Vec<_>>();
            (key.key().name().to_owned(), sorted(labels), value)
        })
        .collect();
    all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    (out, all)
}

/// Labels as [`metrics`] returns them: owned and sorted by key.
pub fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    sorted(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn sorted(mut labels: Vec<(String, String)>) -> Vec<(String, String)> {
    labels.sort();
    labels
}
