#!/usr/bin/env bash
# Installs what building and testing need, skipping whatever is already present.
# Sourced by scripts/start.sh and scripts/test.sh; safe to run again at any time.
#
# Everything comes from package registries (crates.io, npm, Debian): cargo-leptos would otherwise
# download wasm-bindgen/tailwind from GitHub, which is unreachable here, so we install the exact
# versions ourselves and put them on PATH first.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_LEPTOS_VERSION="0.3.10" # 0.3.11 needs rustc 1.96; see ARCHITECTURE.md
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Leptos' type-erased views build much faster in debug; set for every cargo command (tests, clippy,
# cargo-leptos) so they all share one set of compiled dependencies. See Cargo.toml's leptos metadata.
case " ${RUSTFLAGS:-} " in *" --cfg erase_components "*) ;; *) export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg erase_components" ;; esac

say() { printf '\033[36m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "[setup] need root for: $* (run it yourself, then retry)" >&2; exit 1; fi; }
apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v cargo >/dev/null || { echo "[setup] Rust is missing: install it from https://rustup.rs" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || { say "installing Node.js and npm"; apt_install nodejs npm; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"; rustup target add wasm32-unknown-unknown
fi

if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (one-off, ~15-20 min on 2 cores)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi

# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
WBG_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' "$ROOT/Cargo.lock")"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WBG_VERSION" ]; then
  say "installing wasm-bindgen-cli $WBG_VERSION"
  cargo install wasm-bindgen-cli --version "$WBG_VERSION" # --locked fails to resolve for this crate
fi

# npm packages: Tailwind CLI, Playwright, and the independent implementations our tests compare against.
if [ ! -f "$ROOT/node_modules/.package-lock.json" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
  say "installing npm packages (npm ci)"; (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Browser for end-to-end tests: Debian's Chromium (Playwright's own download is unreachable).
if [ "${SETUP_SKIP_BROWSER:-}" != 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Chromium (Debian package)"; apt_install chromium
fi

# PostgreSQL binaries for the embedded database (initdb, pg_ctl, postgres).
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  say "installing PostgreSQL server binaries"; apt_install postgresql
fi
