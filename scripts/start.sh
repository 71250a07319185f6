#!/usr/bin/env bash
# Builds and starts the dashboard + API on $PORT (default 3001).
# Without DATABASE_URL the server runs its own PostgreSQL under $DATA_DIR (default ./data).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
cargo leptos build
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$ROOT/target/site}"
exec "$ROOT/target/debug/server" "$@"
