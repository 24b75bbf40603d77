#!/usr/bin/env bash
# Installs what building Conveyor needs, when it is missing: the C libraries librabbitmq and libcurl with their
# headers (apt packages librabbitmq-dev, libcurl4-openssl-dev) and pkg-config. With --tests, also what the tests
# need: rabbitmq-server, bsdutils (`script`, for the CLI test that needs a terminal), python3 with venv, and
# chromium with chromium-driver (the browser test of the Hummingbird example, scripts/browser-test.sh).
#
#   scripts/install-deps.sh            # for building and running (scripts/demo.sh)
#   scripts/install-deps.sh --tests    # for the tests (scripts/test.sh)
#
# Uses apt-get, through sudo when not root. Where apt-get is missing it says what to install instead and fails.
set -euo pipefail

packages=(librabbitmq-dev libcurl4-openssl-dev pkg-config)
[ "${1:-}" = --tests ] && packages+=(rabbitmq-server bsdutils python3 python3-venv chromium chromium-driver openssl)

# Only the libraries are needed to build: where pkg-config finds both (Homebrew, another distribution, an earlier
# install), there is nothing to do for a build.
if [ "${1:-}" != --tests ] && command -v pkg-config >/dev/null 2>&1 && pkg-config --exists librabbitmq libcurl; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
  if [ "$(uname -s)" = Darwin ]; then
    echo "error: Conveyor needs librabbitmq and libcurl with their headers: brew install rabbitmq-c curl pkg-config" >&2
  else
    echo "error: Conveyor needs librabbitmq and libcurl with their headers (Debian/Ubuntu: ${packages[*]})," \
      "and this machine has no apt-get: install them with its package manager, then run this again." >&2
  fi
  exit 1
fi

need=()
for pkg in "${packages[@]}"; do
  # Installed means "install ok installed": `dpkg -s` also succeeds for a package removed with its configuration
  # files kept ("deinstall ok config-files"), whose programs are gone.
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "error: installing ${need[*]} needs root, and sudo is missing: run as root, or install them first." >&2
    exit 1
  fi
  SUDO=sudo
fi
echo "== installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
