#!/usr/bin/env bash
# Recompiles the settlement contracts into a temporary directory and compares the result
# with the committed artifacts in settlement/artifacts, byte for byte. The Rust bindings and
# the embedded EVM run the committed bytecode, so it must be exactly what the committed
# Solidity compiles to.
#
# Usage: scripts/check-contracts.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
committed="$repo/settlement/artifacts"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
fresh="$scratch/artifacts"

"$repo/scripts/compile-contracts.sh" "$fresh"

if ! diff -ru "$committed" "$fresh" >"$scratch/diff.txt" 2>&1; then
  head -n 40 "$scratch/diff.txt" | cut -c1-200 >&2
  echo >&2
  echo "check-contracts: settlement/artifacts does not match what settlement/contracts/*.sol compiles to." >&2
  echo "check-contracts: run scripts/compile-contracts.sh and commit settlement/artifacts." >&2
  exit 1
fi
echo "check-contracts: settlement/artifacts matches the contracts' sources"
