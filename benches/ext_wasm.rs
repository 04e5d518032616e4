//! Criterion suites. Each suite measures ext_wasm next to its floor (raw wasmtime doing the same work the
//! fastest way it can) in the same run, so ratios stay meaningful on a noisy shared machine.
//!
//! `cargo bench` runs everything; `cargo bench -- churn` runs one suite. Reports land in target/criterion.

mod suites;

criterion::criterion_main!(
    suites::compile::group,
    suites::cache_hit::group,
    suites::churn::group,
    suites::call::group,
    suites::host_call::group,
    suites::linking::group,
    suites::memory::group,
    suites::interruption::group,
    suites::threads::group,
);
