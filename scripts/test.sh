#!/usr/bin/env bash
# Every test, from a fresh clone, with nothing installed globally (after `cargo fmt --check` and clippy):
#   1. the Rust suites (unit, integration incl. the CLI binary, doc tests,   cargo test --release
#      the spec testsuite, which also writes its scripts for the TS runner,
#      and the differential fuzzer's CI budget: 5,000 modules against wasmi, ~20 s)
#   2. the criterion benches, compiled but not run                           cargo bench --no-run
#   3. the TypeScript suite on real Deno 2.x from the npm registry, on both  scripts/test-ts.sh
#      backends (Deno.dlopen, and deno_core ops over stand-ins)
#   4. ts/ as a Deno package: lint, doc lint, publish dry run (slow types)   deno lint, deno doc --lint, deno publish --dry-run
#   5. the deno_core extension (feature `deno`), type-checked and linted    DOCS_RS=1 cargo check/clippy --features deno
#   6. the extension's generated JavaScript on Deno with stand-in ops        src/deno/smoke/run.sh
# One cargo profile (release) serves the tests, the cdylib Deno loads and the benches.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -D warnings (release profile: the one profile everything shares)"
cargo clippy --release --all-targets -- -D warnings

step "cargo test --release (the spec suite also writes its scripts to target/spec-json for the TypeScript runner)"
EXT_WASM_SPEC_JSON="$PWD/target/spec-json" cargo test --release

step "cargo bench --no-run"
cargo bench --no-run

step "TypeScript suite on Deno (both backends)"
bash scripts/test-ts.sh

step "ts/ package: deno lint, the test worker type-checked, deno doc --lint (and publish --dry-run if it runs offline)"
deno="$(bash scripts/install-deno.sh)"
(
  export DENO_DIR="$PWD/.deno/cache" DENO_NO_UPDATE_CHECK=1
  cd ts
  "$deno" lint                               # the package and its tests
  "$deno" check tests/worker.ts              # loaded as a Worker, so `deno test` never type-checks it
  "$deno" doc --lint mod.ts                  # JSDoc on every export, no private types in public signatures
  "$deno" publish --dry-run --allow-dirty    # slow types and package contents (ts/deno.json); no network needed
)

step "deno_core extension type-check (V8 is not linked: DOCS_RS=1 skips its download)"
DOCS_RS=1 cargo check --features deno
DOCS_RS=1 cargo check --features deno --test all   # the extension's compile-only tests (tests/all/deno_extension.rs)
DOCS_RS=1 cargo clippy --features deno --lib -- -D warnings

step "deno_core extension: generated ext:runtime_wasm/*.js on Deno with stand-in ops"
bash src/deno/smoke/run.sh

step "all tests passed"
