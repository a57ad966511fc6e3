#!/usr/bin/env bash
# Compiles the settlement contracts (settlement/contracts/*.sol) with the pinned solc-js and
# OpenZeppelin from settlement/package-lock.json, writing one artifact per contract.
#
# Usage: scripts/compile-contracts.sh [out-dir]
#   out-dir defaults to settlement/artifacts, the committed artifacts that `sol!` reads.
#   scripts/check-contracts.sh passes a temporary directory instead.
#
# Installs the npm packages with `npm ci` when settlement/node_modules is missing or was
# installed from a different lockfile.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
settlement="$repo/settlement"
out="${1:-$settlement/artifacts}"
# The compile script resolves a relative out-dir from its own cwd; make it absolute here.
case "$out" in
  /*) ;;
  *) out="$(pwd)/$out" ;;
esac

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "compile-contracts: Node.js 20 or later (node and npm) is required to compile the contracts" >&2
  exit 1
fi

# npm ci records nothing we can compare against the lockfile cheaply, so keep a copy of the
# lockfile the packages were installed from and reinstall whenever it differs.
stamp="$settlement/node_modules/.installed-from-package-lock.json"
if [ ! -d "$settlement/node_modules" ] || ! cmp -s "$settlement/package-lock.json" "$stamp"; then
  echo "compile-contracts: installing solc and OpenZeppelin (npm ci)" >&2
  npm ci --prefix "$settlement" --no-audit --no-fund >&2
  cp "$settlement/package-lock.json" "$stamp"
fi

node "$settlement/contracts/compile.mjs" "$out"
