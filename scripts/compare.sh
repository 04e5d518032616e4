#!/usr/bin/env bash
# The comparison harness (bench/compare/README.md): ext_wasm vs Deno's native WebAssembly vs raw Wasmtime, in one
# run on this machine. Prints machine info, the tables and the JSON; the JSON is also written to
# target/compare/compare.json.
#   1. cargo build --release (the cdylib Deno loads, the `ext-wasm` CLI), --example raw_start (the raw floor) and
#      --example raw_ffi (the same floor as a C library, called through Deno's FFI),
#      and `cc` bench/compare/callback_floor.c (Deno's own FFI callback: the floor of a wasm -> JS host call),
#   2. install Deno from the npm registry into .deno/ (scripts/install-deno.sh),
#   3. deno run -A bench/compare/harness.ts "$@"        (--quick: fewer rounds; --runs N; --out FILE)
# About 2 minutes on a 2-core VM after the builds.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

echo "compare: cargo build --release && cargo build --release --example raw_start --example raw_ffi" >&2
cargo build --release
cargo build --release --example raw_start --example raw_ffi

# The floor of a wasm -> JS host call (Deno's own FFI callback, C -> JS), when a C compiler is at hand.
mkdir -p target/compare
if command -v cc >/dev/null; then
  cc -O2 -shared -fPIC -o target/compare/libcallback_floor.so bench/compare/callback_floor.c
else
  echo "compare: no C compiler; the host-call floor row is skipped" >&2
  rm -f target/compare/libcallback_floor.so
fi

deno="$(bash scripts/install-deno.sh)"

export DENO_DIR="$repo/.deno/cache"           # Deno's own cache stays inside the repo
export DENO_NO_UPDATE_CHECK=1
unset EXT_WASM_LIB                            # the harness measures this checkout's library
exec "$deno" run -A --no-prompt bench/compare/harness.ts "$@"
