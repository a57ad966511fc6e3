#!/usr/bin/env bash
# Installs anvil, Foundry's local EVM node, from the npm registry into target/anvil, at the
# version pinned in scripts/anvil/package.json (exactly; its lock records the resolved
# packages). The npm package ships the real binary
# (in a per-platform package); node_modules/.bin/anvil is only a Node wrapper around it.
#
# Usage: scripts/install-anvil.sh                 install (once; later runs reuse it)
#        scripts/install-anvil.sh --print-path    print the installed binary's path
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

home="$(pwd)/target/anvil"

binary() {
  # The platform package is @foundry-rs/anvil-<os>-<arch>; there is exactly one installed.
  local found
  found="$(ls "$home"/node_modules/@foundry-rs/anvil-*/bin/anvil 2>/dev/null | head -n 1 || true)"
  [ -n "$found" ] && [ -x "$found" ] && echo "$found"
}

if [ "${1:-}" = "--print-path" ]; then
  binary || { echo "anvil is not installed; run scripts/install-anvil.sh" >&2; exit 1; }
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "npm is required to install anvil; install Node.js 20 or later" >&2
  exit 1
fi
mkdir -p "$home"
# Reinstall whenever the pinned lock changes.
if ! cmp -s scripts/anvil/package-lock.json "$home/package-lock.json" || ! binary >/dev/null; then
  cp scripts/anvil/package.json scripts/anvil/package-lock.json "$home/"
  echo "installing anvil from npm into $home"
  # `npm install`, not `npm ci`: npm writes only this platform's optional binary package
  # into the lock, so `npm ci` refuses the lock on every platform, this one included.
  (cd "$home" && npm install --no-audit --no-fund --no-save)
fi
path="$(binary)" || { echo "npm installed @foundry-rs/anvil but no anvil binary for this platform" >&2; exit 1; }
echo "anvil is installed at $path"
