#!/usr/bin/env bash
# Every test, from a fresh clone, with nothing installed globally (after `cargo fmt --check`):
#   1. the Rust suites (unit, integration incl. the CLI binary, doc tests)   cargo test --release
#   2. the criterion benches, compiled but not run                           cargo bench --no-run
#   3. the TypeScript suite on real Deno 2.x from the npm registry           scripts/test-ts.sh
#   4. the deno_core extension (feature `deno`), type-checked                DOCS_RS=1 cargo check --features deno
#   5. the extension's generated JavaScript on Deno with stand-in ops        src/deno/smoke/run.sh
# One cargo profile (release) serves the tests, the cdylib Deno loads and the benches.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --check

step "cargo test --release"
cargo test --release

step "cargo bench --no-run"
cargo bench --no-run

step "TypeScript suite on Deno (FFI backend)"
bash scripts/test-ts.sh

step "deno_core extension type-check (V8 is not linked: DOCS_RS=1 skips its download)"
DOCS_RS=1 cargo check --features deno
DOCS_RS=1 cargo check --features deno --lib --profile test   # the extension's compile-only unit tests

step "deno_core extension: generated ext:runtime_wasm/*.js on Deno with stand-in ops"
bash src/deno/smoke/run.sh

step "all tests passed"
