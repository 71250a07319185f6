#!/usr/bin/env bash
# Installs what the tests need on top of scripts/setup.sh: every npm package (Playwright and the
# WhatsApp/Signal implementations our tests cross-check against) and Debian's Chromium for the
# end-to-end tests, and two PyPI tools in virtualenvs under target/ (moto's S3 server,
# openapi-spec-validator). Sourced by scripts/test.sh. (The site is built by scripts/build-site.sh, so the
# tests no longer need cargo-leptos; install it yourself for `cargo leptos watch`.)
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"

# All npm packages, test oracles included (setup.sh may have installed the build tools only).
if ! npm_fresh || [ ! -d "$ROOT/node_modules/@playwright/test" ] || [ ! -d "$ROOT/node_modules/libsignal" ] || [ ! -d "$ROOT/node_modules/@whiskeysockets/baileys" ]; then
  say "installing npm packages (npm ci)"; (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Browser for end-to-end tests: Debian's Chromium (Playwright's own download is unreachable).
if [ "${SETUP_SKIP_BROWSER:-}" != 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Chromium (Debian package)"; apt_install chromium
fi

# An S3-compatible server for the media storage test: moto's S3 server (PyPI), in its own
# virtualenv under target/ (S3 and MinIO are not reachable here; moto speaks the S3 API).
MOTO_VENV="${CARGO_TARGET_DIR:-$ROOT/target}/moto-venv"
if [ ! -x "$MOTO_VENV/bin/moto_server" ]; then
  say "installing moto[server] 5.2.6 (an S3-compatible server for the media storage test)"
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==5.2.6"
fi
export MOTO_SERVER="$MOTO_VENV/bin/moto_server"

# A real OpenAPI 3.1 validator for the REST API's generated document (server/tests/api/openapi.rs):
# openapi-spec-validator from PyPI, in its own virtualenv under target/.
OPENAPI_VENV="${CARGO_TARGET_DIR:-$ROOT/target}/openapi-venv"
if [ ! -x "$OPENAPI_VENV/bin/openapi-spec-validator" ]; then
  say "installing openapi-spec-validator 0.9.0 (validates the REST API's OpenAPI document)"
  python3 -m venv "$OPENAPI_VENV"
  "$OPENAPI_VENV/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==0.9.0"
fi
export OPENAPI_SPEC_VALIDATOR="$OPENAPI_VENV/bin/openapi-spec-validator"
