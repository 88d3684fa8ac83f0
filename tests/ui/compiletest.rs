//! The compile errors of `#[retry]`: one rule per file in `cases/`, with the expected output
//! beside it. Regenerate with `TRYBUILD=overwrite` and review the `.stderr` diff like code.

#[rustversion::attr(not(stable), ignore = "UI output tracks the stable toolchain")]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("cases/*.rs");
}
