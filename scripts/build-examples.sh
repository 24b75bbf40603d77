#!/usr/bin/env bash
# Builds every example package under Examples/ (each has its own Package.swift depending on the root by path),
# among them Examples/DocSamples: the Swift samples of README.md, docs/*.md and the DocC articles, generated first by
# scripts/doc-samples.py (which lists the blocks marked partial, not compiled). Each package has its own build
# folder: SwiftPM does not notice that a folder shared by several root packages was built for another one, and reports
# the next package built without building it.
# Usage: scripts/build-examples.sh [extra swift build flags]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/doc-samples.py
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
