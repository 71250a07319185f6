#!/usr/bin/env bash
# The dashboard benchmark on the release build: WASM bundle size (gzip) and message-to-screen
# latency p50/p99 over BENCH_MESSAGES (default 200) messages, in Debian Chromium against the real
# server and the offline WhatsApp. Prints the numbers (see end2end/bench/dashboard.spec.ts).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup-test.sh"
cd "$ROOT"
"$ROOT/scripts/build-site.sh" >/dev/null
cargo build --locked --release -p fake-whatsapp --bin fake-whatsapp
cd "$ROOT/end2end"
E2E_PROFILE=release npx playwright test -c bench.config.ts
