#!/usr/bin/env bash
# System packages the test suite uses: Debian's Chromium for the browser tests. Extra package names
# given as arguments (e.g. `wrk` for bench/serve.py) are installed the same way when missing.
# Under CI (or as root) it installs what is missing; elsewhere it only says what is missing, and the
# tests that need it skip with that reason.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation)
for pkg in "$@"; do command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif [ -n "${CI:-}" ]; then
    echo "CI needs ${missing[*]} but cannot install it (not root or no apt-get)" >&2
    exit 1
else
    echo "note: ${missing[*]} not installed; browser tests will be skipped (install: apt-get install ${missing[*]})"
fi
