#!/usr/bin/env bash
# The README's first command: installs what the build needs when it is missing (scripts/install-deps.sh: apt, with
# sudo when not root), then runs the demo, the whole job lifecycle on the in-memory provider (no broker).
# Arguments go to `conveyor demo` (see `swift run conveyor demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec swift run conveyor demo "$@"
