#!/usr/bin/env bash
# Installs what the tests need on top of scripts/setup.sh: cargo-leptos (the test build of the site),
# every npm package (Playwright and the WhatsApp/Signal implementations our tests cross-check
# against) and Debian's Chromium for the end-to-end tests. Sourced by scripts/test.sh.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"

CARGO_LEPTOS_VERSION="0.3.10" # 0.3.11 needs rustc 1.96; see ARCHITECTURE.md
if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (one-off, ~15-20 min on 2 cores)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi

# All npm packages, test oracles included (setup.sh may have installed the build tools only).
if ! npm_fresh || [ ! -d "$ROOT/node_modules/@playwright/test" ] || [ ! -d "$ROOT/node_modules/libsignal" ]; then
  say "installing npm packages (npm ci)"; (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Browser for end-to-end tests: Debian's Chromium (Playwright's own download is unreachable).
if [ "${SETUP_SKIP_BROWSER:-}" != 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Chromium (Debian package)"; apt_install chromium
fi
