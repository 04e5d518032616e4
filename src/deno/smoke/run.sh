#!/usr/bin/env bash
# Smoke test of the deno_core extension's JavaScript (V8 cannot be linked here, so the Rust ops cannot run):
#   1. `DOCS_RS=1 cargo check --features deno` type-checks the extension and makes build.rs generate
#      ext:runtime_wasm/*.js from ts/;
#   2. those generated modules run on real Deno, with `Deno.core.ops` replaced by stand-ins that have the
#      extension's op names and signatures (implemented over the Deno.dlopen backend, throwing errors shaped
#      like the Rust ops': `Error` + `code` + `wasmErrorName`), so init.js must pick the ops backend and
#      ops_backend.ts must turn the frames and errors into the API's values and `WasmError`s.
# Needs the cdylib (`cargo build --release --lib`) and Deno (scripts/install-deno.sh).
set -euo pipefail
cd "$(dirname "$0")/../../.."
repo="$PWD"

out_dir="$(DOCS_RS=1 cargo check --features deno --message-format=json 2>/dev/null \
  | grep '"reason":"build-script-executed"' \
  | grep -o '"out_dir":"[^"]*/build/ext_wasm-[^"/]*/out"' | tail -1 | sed 's/"out_dir":"\(.*\)"/\1/')"
[ -n "$out_dir" ] && [ -f "$out_dir/runtime_wasm/init.js" ] || { echo "deno-ext-smoke: no generated modules" >&2; exit 1; }

[ -n "${EXT_WASM_LIB:-}" ] || cargo build --release --lib
deno="$(bash scripts/install-deno.sh)"

work="$repo/target/deno-ext-smoke"
rm -rf "$work" && mkdir -p "$work/gen"
for f in "$out_dir"/runtime_wasm/*.js; do
  sed 's#"ext:runtime_wasm/#"./#g' "$f" > "$work/gen/$(basename "$f")"
done
sed "s#@REPO@#file://$repo#g" src/deno/smoke/prelude.js > "$work/prelude.js"
cp src/deno/smoke/smoke_test.js "$work/"

export DENO_DIR="$repo/.deno/cache" DENO_NO_UPDATE_CHECK=1
export EXT_WASM_CACHE_DIR="${EXT_WASM_CACHE_DIR:-$repo/target/ts-test-cache}"
cd "$work" && exec "$deno" test -A --no-check smoke_test.js
