#!/usr/bin/env bash
# Builds and starts the dashboard + API on $PORT (default 3001): a release build of the site and the
# server by default, `--dev` for the faster-building debug build, `--demo` for demo mode (DEMO=true: the
# offline WhatsApp inside the server and a demo phone panel; see the README). Any other arguments go to
# the server.
# Without DATABASE_URL the server runs its own PostgreSQL under $DATA_DIR (default ./data).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) MODE=(--dev); shift ;;
    --demo) export DEMO=true; shift ;;
    *) break ;;
  esac
done
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
SERVER="$("$ROOT/scripts/build-site.sh" "${MODE[@]}" | tail -n1)"
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$ROOT/target/site}"
exec "$SERVER" "$@"
