#!/usr/bin/env bash
# Builds the site into target/site (pkg/rarity.js, pkg/rarity_bg.wasm, pkg/rarity.css, fonts/) and
# the server binary: the steps of `cargo leptos build`, without cargo-leptos (which takes ~20 min to
# compile on 2 cores, so starting the server does not wait for it). Release by default: the WASM is
# built with the `wasm-release` profile (opt-level z, LTO) and shrunk by wasm-opt, the CSS minified,
# the server built with `--release`. `--dev` builds the fast debug variant instead.
# Prints the server binary's path on its last line. Expects scripts/setup.sh to have run (sourced).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE=release
[ "${1:-}" = "--dev" ] && MODE=dev
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SITE="$ROOT/target/site"
PKG="$SITE/pkg"
log() { printf '\033[36m[site]\033[0m %s\n' "$*" >&2; }

if [ "$MODE" = release ]; then WASM_PROFILE=wasm-release; SERVER_PROFILE=release; else WASM_PROFILE=dev; SERVER_PROFILE=dev; fi
WASM_DIR=$([ "$WASM_PROFILE" = dev ] && echo debug || echo "$WASM_PROFILE")
SERVER_DIR=$([ "$SERVER_PROFILE" = dev ] && echo debug || echo release)

log "WASM front end ($WASM_PROFILE)"
cargo build --locked -p frontend --lib --target wasm32-unknown-unknown --profile "$WASM_PROFILE" \
  --no-default-features --features hydrate >&2
log "server ($SERVER_PROFILE)"
cargo build --locked -p server --bin server --profile "$SERVER_PROFILE" --no-default-features --features ssr >&2

mkdir -p "$PKG"
STAGE="$(mktemp -d)"; trap 'rm -rf "$STAGE"' EXIT
log "wasm-bindgen"
wasm-bindgen --target web --no-typescript --out-name rarity --out-dir "$STAGE" \
  "$TARGET_DIR/wasm32-unknown-unknown/$WASM_DIR/frontend.wasm"
if [ "$MODE" = release ]; then
  log "wasm-opt -Oz"
  # The features rustc's wasm32 target emits by default.
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue -o "$STAGE/rarity_bg.opt.wasm" "$STAGE/rarity_bg.wasm"
  mv "$STAGE/rarity_bg.opt.wasm" "$STAGE/rarity_bg.wasm"
fi
log "Tailwind CSS"
TW_ARGS=(--input style/tailwind.css --output "$STAGE/rarity.css")
[ "$MODE" = release ] && TW_ARGS+=(--minify)
tailwindcss "${TW_ARGS[@]}" >&2
# Replace the site's files only once every step worked.
cp "$STAGE/rarity.js" "$STAGE/rarity_bg.wasm" "$STAGE/rarity.css" "$PKG/"
cp -r style/assets/. "$SITE/"
log "site ready in $SITE ($(du -h "$PKG/rarity_bg.wasm" | cut -f1) WASM)"
echo "$TARGET_DIR/$SERVER_DIR/server"
