#!/usr/bin/env bash
# Installs what *starting* the server needs, skipping whatever is already present: the wasm32
# target, the exact wasm-bindgen CLI, the WASM splitter (scripts/wasm-split), the npm build tools
# (Tailwind CLI, binaryen's wasm-opt) and the PostgreSQL binaries for the embedded database.
# Sourced by scripts/start.sh; scripts/setup-test.sh adds what only the tests need (Chromium, the
# npm test oracles). Safe to run again.
#
# Everything comes from package registries (crates.io, npm, Debian): tools that would download
# binaries from GitHub (unreachable here) are installed at exact versions and put on PATH first.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Leptos' type-erased views build much faster in debug; set for every cargo command (tests, clippy,
# the site build) so they all share one set of compiled dependencies. See Cargo.toml's leptos metadata.
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

# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
WBG_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' "$ROOT/Cargo.lock")"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WBG_VERSION" ]; then
  say "installing wasm-bindgen-cli $WBG_VERSION (one-off, a few minutes)"
  cargo install wasm-bindgen-cli --version "$WBG_VERSION" # --locked fails to resolve for this crate
fi

# The site build's WASM splitter (scripts/wasm-split: our few lines over the library that
# `cargo leptos build --split` uses, vendored with two patches, the rest pinned by its own
# Cargo.lock). Reinstalled when its version moves.
SPLIT_VERSION="$(awk -F'"' '/^version = /{print $2; exit}' "$ROOT/scripts/wasm-split/Cargo.toml")"
if [ "$(rarity-wasm-split --version 2>/dev/null | awk '{print $2}')" != "$SPLIT_VERSION" ]; then
  say "installing rarity-wasm-split $SPLIT_VERSION (one-off, a minute or two)"
  cargo install --locked --force --path "$ROOT/scripts/wasm-split"
fi

# npm build tools ("dependencies" in package.json): Tailwind CLI and binaryen's wasm-opt. The test
# oracles ("devDependencies") are installed by setup-test.sh only.
npm_fresh() { [ -f "$ROOT/node_modules/.package-lock.json" ] && [ ! "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; }
if ! npm_fresh || [ ! -x "$ROOT/node_modules/.bin/tailwindcss" ] || [ ! -x "$ROOT/node_modules/.bin/wasm-opt" ]; then
  say "installing the npm build tools (npm ci --omit=dev)"
  (cd "$ROOT" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
fi

# PostgreSQL binaries for the embedded database (initdb, pg_ctl, postgres).
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  say "installing PostgreSQL server binaries"; apt_install postgresql
fi
