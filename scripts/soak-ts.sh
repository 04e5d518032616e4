#!/usr/bin/env bash
# The TypeScript soak (bench/soak.ts) on Deno from the npm registry, over this checkout's library.
#   bash scripts/soak-ts.sh [--cycles N] [--host-calls N] [--sync-only]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --lib
deno="$(bash scripts/install-deno.sh)"
export DENO_DIR="$PWD/.deno/cache" DENO_NO_UPDATE_CHECK=1
export EXT_WASM_CACHE_DIR="${EXT_WASM_CACHE_DIR:-$PWD/target/soak-cache}"
unset EXT_WASM_LIB
exec "$deno" run -A --no-prompt bench/soak.ts "$@"
