//! Workspace root: tests, examples, benches.
