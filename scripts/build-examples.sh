#!/usr/bin/env bash
# Builds every example package under Examples/ (each has its own Package.swift depending on the root by path).
# Usage: scripts/build-examples.sh [extra swift build flags]
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for example in Examples/*/; do
    [ -f "$example/Package.swift" ] || continue
    echo "==> swift build --package-path $example"
    if ! swift build --package-path "$example" "$@"; then
        echo "FAILED: $example" >&2
        status=1
    fi
done
exit $status
