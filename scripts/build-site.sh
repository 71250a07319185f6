#!/usr/bin/env bash
# Builds the site into target/site (pkg/rarity.js, pkg/rarity_bg.wasm, the lazily loaded WASM chunks
# with their loader and manifest, pkg/rarity.css, fonts/) and the server binary: the steps of
# `cargo leptos build --split`, without cargo-leptos (which takes ~20 min to compile on 2 cores, so
# starting the server does not wait for it). Release by default: the WASM is built with the
# `wasm-release` profile (opt-level z, LTO) and every WASM file shrunk by wasm-opt, the CSS
# minified, the server built with `--release`. `--dev` builds the fast debug variant instead.
# The WASM is split at its lazy routes and `#[lazy]` functions (see app/src/routes.rs) by
# rarity-wasm-split (scripts/wasm-split, installed by scripts/setup.sh).
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
mkdir "$STAGE/pkg"
log "split the WASM at its lazy routes"
# The chunks, their loader (__wasm_split.*.js) and __wasm_split_manifest.json go to the package
# directly; the main module goes through wasm-bindgen first.
rarity-wasm-split "$TARGET_DIR/wasm32-unknown-unknown/$WASM_DIR/frontend.wasm" "$STAGE/pkg" \
  "$STAGE/main.wasm" rarity >/dev/null
log "wasm-bindgen"
# --keep-lld-exports: the chunks import the main module's table, memory and stack pointer.
wasm-bindgen --target web --no-typescript --keep-lld-exports --out-name rarity --out-dir "$STAGE/pkg" \
  "$STAGE/main.wasm"
if [ "$MODE" = release ]; then
  log "wasm-opt -Oz (every WASM file)"
  for wasm in "$STAGE"/pkg/*.wasm; do
    # The features rustc's wasm32 target emits by default.
    # (Its warning about a name subsection it does not read — label names — is left out.)
    wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue -o "$wasm.opt" "$wasm" \
      2> "$STAGE/wasm-opt.log" || { cat "$STAGE/wasm-opt.log" >&2; exit 1; }
    grep -v 'unknown name subsection' "$STAGE/wasm-opt.log" >&2 || true
    mv "$wasm.opt" "$wasm"
  done
fi
log "Tailwind CSS"
TW_ARGS=(--input style/tailwind.css --output "$STAGE/pkg/rarity.css")
[ "$MODE" = release ] && TW_ARGS+=(--minify)
tailwindcss "${TW_ARGS[@]}" >&2
# Replace the site's files only once every step worked, leaving no chunk of an earlier build.
rm -f "$PKG"/*.wasm "$PKG"/*.js "$PKG"/*.css "$PKG"/__wasm_split_manifest.json
cp "$STAGE"/pkg/* "$PKG/"
cp -r style/assets/. "$SITE/"
log "site ready in $SITE ($(du -ch "$PKG"/*.wasm | tail -1 | cut -f1) WASM in $(ls "$PKG"/*.wasm | wc -l) files)"
echo "$TARGET_DIR/$SERVER_DIR/server"
