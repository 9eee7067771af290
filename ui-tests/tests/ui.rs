//! Compile-time behaviour of `#[producer]` and `#[consumer]` (trybuild).
//!
//! Regenerate the `.stderr` snapshots with `TRYBUILD=overwrite cargo test -p deimos-ui-tests`,
//! then review each one: the caret must be under the token at fault.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*/fail/*.rs");
    t.pass("tests/ui/*/pass/*.rs");
}
