//! Holds retry-runtime's `metrics` feature apart from the root package: see `tests/metrics.rs`
//! (exact counts under a debugging recorder) and `examples/prometheus.rs`
//! (`cargo run -p metrics-demo --example prometheus`).
