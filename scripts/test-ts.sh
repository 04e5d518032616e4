#!/usr/bin/env bash
# The TypeScript suite (ts/) on real Deno through the Deno.dlopen backend:
#   1. build the cdylib (`cargo build --release --lib`, a no-op when up to date; skipped when $EXT_WASM_LIB is set),
#   1b. write the spec-suite scripts for ts/tests/spec_test.ts if missing (`cargo test --release --test spec`),
#   2. install Deno from the npm registry into .deno/ (scripts/install-deno.sh),
#   3. type-check and run `deno test -A ts/` twice: on the Deno.dlopen backend (stock Deno), then on the ops
#      backend (what Forge runs), over stand-in ops that call the same library (ts/tests/preload_ops.ts).
# Extra arguments go to `deno test` (e.g. `--filter memory`).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

if [ -z "${EXT_WASM_LIB:-}" ]; then
  echo "test-ts: cargo build --release --lib" >&2
  cargo build --release --lib
fi

# The spec scripts the TypeScript spec runner (ts/tests/spec_test.ts) runs, converted by the Rust runner.
export EXT_WASM_SPEC_JSON="${EXT_WASM_SPEC_JSON:-$repo/target/spec-json}"
if ! ls "$EXT_WASM_SPEC_JSON"/*.json "$EXT_WASM_SPEC_JSON"/spectest.wasm >/dev/null 2>&1; then
  echo "test-ts: writing the spec scripts (cargo test --release --test spec)" >&2
  cargo test --release --test spec >/dev/null
fi

deno="$(bash scripts/install-deno.sh)"

export DENO_DIR="$repo/.deno/cache"           # Deno's own cache stays inside the repo
export DENO_NO_UPDATE_CHECK=1
export EXT_WASM_CACHE_DIR="${EXT_WASM_CACHE_DIR:-$repo/target/ts-test-cache}"  # artifact cache, not ~/.cache

echo "test-ts: backend ffi (Deno.dlopen)" >&2
EXT_WASM_TS_BACKEND=ffi "$deno" test -A --no-prompt "$@" ts/
echo "test-ts: backend ops (deno_core ops, stand-ins over the same library)" >&2
EXT_WASM_TS_BACKEND=ops "$deno" test -A --no-prompt --preload ts/tests/preload_ops.ts "$@" ts/
