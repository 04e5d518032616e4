#!/usr/bin/env bash
# The TypeScript suite (ts/) on real Deno through the Deno.dlopen backend:
#   1. build the cdylib (`cargo build --release --lib`, a no-op when up to date; skipped when $EXT_WASM_LIB is set),
#   2. install Deno from the npm registry into .deno/ (scripts/install-deno.sh),
#   3. type-check and run `deno test -A ts/`.
# Extra arguments go to `deno test` (e.g. `--filter memory`).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

if [ -z "${EXT_WASM_LIB:-}" ]; then
  echo "test-ts: cargo build --release --lib" >&2
  cargo build --release --lib
fi

deno="$(bash scripts/install-deno.sh)"

export DENO_DIR="$repo/.deno/cache"           # Deno's own cache stays inside the repo
export DENO_NO_UPDATE_CHECK=1
export EXT_WASM_CACHE_DIR="${EXT_WASM_CACHE_DIR:-$repo/target/ts-test-cache}"  # artifact cache, not ~/.cache

exec "$deno" test -A --no-prompt "$@" ts/
