#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the browser test (tests/test_browser.py).
# Installs it with apt-get only when it is missing, we are root and apt-get exists; otherwise says why
# it cannot and exits 0 (the test then skips with a reason). Never downloads a browser any other way
# and never runs `playwright install`. Idempotent and quiet.
set -u
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure_browser: $CHROMIUM is missing and we are not root; install it with: sudo apt-get install chromium" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: $CHROMIUM is missing and apt-get is not available; install Debian's chromium package by hand" >&2
    exit 0
fi
echo "ensure_browser: installing Debian's chromium with apt-get (once)..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends chromium >/tmp/ensure_browser.log 2>&1; then
    # The package lists may be missing or stale on a fresh machine: refresh once and retry.
    apt-get update -qq >>/tmp/ensure_browser.log 2>&1 || true
    apt-get install -y -qq --no-install-recommends chromium >>/tmp/ensure_browser.log 2>&1 || true
fi
if [ -x "$CHROMIUM" ]; then
    echo "ensure_browser: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)" >&2
else
    echo "ensure_browser: could not install chromium (see /tmp/ensure_browser.log); the browser test will skip" >&2
fi
exit 0
