# Multi-stage build: the client with Node, the daemon with Rust, then a slim runtime image.
# `make test` checks that the build context holds every file these stages read
# (scripts/check-docker-context.py).
FROM node:20-bookworm-slim AS client
WORKDIR /src/client
COPY client/package.json client/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY client/ ./
RUN npm run build

FROM rust:1.95-bookworm AS daemon
WORKDIR /src
# Cargo reads every target of the manifest (the [[test]] and [[bench]] files too) before it
# builds one, and src/ includes the demo feeds and the OpenAPI document. .cargo/config.toml
# sets the allocator's options, built into the binary.
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY src ./src
COPY mappings ./mappings
COPY assets ./assets
COPY docs/openapi.json ./docs/openapi.json
COPY tests ./tests
COPY benches ./benches
RUN cargo build --release --locked --bin job-importer

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 importer
WORKDIR /app
COPY --from=daemon /src/target/release/job-importer /usr/local/bin/job-importer
COPY --from=client /src/client/dist ./client/dist
# The assignment's feeds, the demo off; the daemon reads ./config.toml. Mount another file
# over it (or set JOB_IMPORTER_CONFIG) to change the sources.
COPY docker/config.toml ./config.toml
USER importer
ENV JOB_IMPORTER__HTTP__BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["job-importer"]
CMD ["serve"]
