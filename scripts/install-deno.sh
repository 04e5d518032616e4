#!/usr/bin/env bash
# Install a pinned Deno 2.x from the npm registry into <repo>/.deno (git-ignored; no global install, no other
# network than npm) and print the path of the `deno` binary on stdout. Idempotent: a second run only checks the
# installed version. Logs go to stderr, so `DENO="$(bash scripts/install-deno.sh)"` works.
#
#   DENO_VERSION=2.9.6  the version to install (default below)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
version="${DENO_VERSION:-2.9.6}"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg="@deno/linux-x64-glibc" ;;
  Linux-aarch64 | Linux-arm64) pkg="@deno/linux-arm64-glibc" ;;
  Darwin-x86_64) pkg="@deno/darwin-x64" ;;
  Darwin-arm64) pkg="@deno/darwin-arm64" ;;
  *) echo "install-deno: no Deno npm package for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

prefix="$repo/.deno"
bin="$prefix/node_modules/$pkg/deno"

installed_version() {
  [ -x "$bin" ] || return 1
  "$bin" --version 2>/dev/null | awk 'NR == 1 { print $2 }'
}

if [ "$(installed_version || true)" != "$version" ]; then
  command -v npm >/dev/null || { echo "install-deno: npm is needed to fetch $pkg from the npm registry" >&2; exit 1; }
  echo "install-deno: installing $pkg@$version into $prefix" >&2
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "$pkg@$version" >&2
  chmod +x "$bin" 2>/dev/null || true
  got="$(installed_version || true)"
  if [ "$got" != "$version" ]; then
    echo "install-deno: expected deno $version at $bin, found '${got:-nothing}'" >&2
    exit 1
  fi
fi
echo "install-deno: $("$bin" --version | head -1)" >&2
echo "$bin"
