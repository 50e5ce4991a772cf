#!/usr/bin/env bash
# Installs what the tests need outside Python: Debian's chromium and the npm packages in
# package-lock.json. Run by ./run-tests; safe to run again (does nothing when present).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        echo "followup: installing Debian's chromium for the browser tests"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    else
        echo "followup: /usr/bin/chromium is missing; install it: sudo apt-get install chromium" >&2
    fi
fi
if command -v npm >/dev/null; then
    lock_hash="$(sha256sum package-lock.json | cut -c1-16)"
    if [ "$(cat node_modules/.followup-installed 2>/dev/null || true)" != "$lock_hash" ]; then
        echo "followup: installing npm packages (npm ci)"
        npm ci --no-audit --no-fund --loglevel=error
        echo "$lock_hash" > node_modules/.followup-installed
    fi
else
    echo "followup: npm is missing; the accessibility checks need Node 20 and npm" >&2
fi
