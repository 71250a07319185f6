#!/usr/bin/env bash
# Runs every test: formatting, lints, unit + integration tests (real PostgreSQL, Node-based
# cross-checks against Baileys/libsignal), then the Playwright end-to-end suite in Debian Chromium
# against the real server binary with its embedded PostgreSQL.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup-test.sh"
cd "$ROOT"

# Store and server tests create throwaway databases on a local PostgreSQL server.
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! pg_isready -q -d "$TEST_DATABASE_URL" 2>/dev/null; then
  say "starting the local PostgreSQL server for tests"
  if [ -d /etc/postgresql ]; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -d "$TEST_DATABASE_URL" && break; sleep 1; done
  pg_isready -q -d "$TEST_DATABASE_URL" || { echo "[test] PostgreSQL at $TEST_DATABASE_URL is not reachable" >&2; exit 1; }
fi

say "cargo fmt --check"
cargo fmt --all -- --check

say "clippy (server side and libraries, then the WASM front end)"
cargo clippy --workspace --exclude frontend --all-targets --locked -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown --locked -- -D warnings

say "unit and integration tests"
cargo test --workspace --exclude frontend --locked

say "building the site (server binary + WASM + CSS) and the offline WhatsApp binary"
# The steps of `cargo leptos build` (debug), without cargo-leptos: the same script start.sh uses.
./scripts/build-site.sh --dev >/dev/null
cargo build --locked -p fake-whatsapp --bin fake-whatsapp

say "end-to-end tests (Playwright, Debian Chromium)"
(cd "$ROOT/end2end" && npx playwright test)

say "dashboard benchmark, small (20 messages on the debug build; ./scripts/bench-dashboard.sh for the real numbers)"
(cd "$ROOT/end2end" && BENCH_MESSAGES=20 npx playwright test -c bench.config.ts)
