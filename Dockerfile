# syntax=docker/dockerfile:1
# The production image: a multi-stage build with the same scripts a person runs (scripts/setup.sh's
# tools, scripts/build-site.sh's release build), and a small runtime stage that runs as a non-root
# user. Running natively (scripts/start.sh, or deploy/rarity-leads.service) stays the default; this
# is for container platforms. The image expects DATABASE_URL: it carries no PostgreSQL of its own.
#
#   docker build -t rarity-leads .
#   docker run -p 3001:3001 -e DATABASE_URL=postgres://… -e SESSION_ENCRYPTION_KEY=… rarity-leads

# ---- build ------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Tools first (cached while only the sources change): the wasm target, the wasm-bindgen CLI that
# matches Cargo.lock, the WASM splitter (scripts/wasm-split) and the npm build tools (Tailwind CLI,
# binaryen's wasm-opt).
COPY Cargo.lock package.json package-lock.json ./
COPY scripts/wasm-split scripts/wasm-split
RUN rustup target add wasm32-unknown-unknown \
 && cargo install wasm-bindgen-cli --version "$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)" \
 && cargo install --locked --path scripts/wasm-split \
 && npm ci --omit=dev --no-audit --no-fund --loglevel=error
COPY . .
ENV PATH=/src/node_modules/.bin:$PATH \
    RUSTFLAGS="--cfg erase_components"
RUN ./scripts/build-site.sh > /tmp/server-path \
 && install -D -m 0755 "$(tail -n1 /tmp/server-path)" /out/server \
 && mkdir -p /out/site && cp -r target/site/. /out/site/

# ---- runtime ----------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 rarity \
 && useradd --system --uid 10001 --gid rarity --home-dir /var/lib/rarity --shell /usr/sbin/nologin rarity \
 && install -d -o rarity -g rarity -m 0700 /var/lib/rarity
COPY --from=build /out/server /usr/local/bin/server
COPY --from=build /out/site /srv/rarity/site
ENV HOST=0.0.0.0 \
    PORT=3001 \
    DATA_DIR=/var/lib/rarity \
    LEPTOS_SITE_ROOT=/srv/rarity/site \
    LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/rarity
EXPOSE 3001
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["curl", "--fail", "--silent", "--show-error", "--output", "/dev/null", "http://127.0.0.1:3001/readyz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/server"]
