# Multi-stage build: the client with Node, the daemon with Rust, then a slim runtime image.
FROM node:20-bookworm-slim AS client
WORKDIR /src/client
COPY client/package.json client/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY client/ ./
RUN npm run build

FROM rust:1.95-bookworm AS daemon
WORKDIR /src
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY src ./src
COPY assets ./assets
COPY tests ./tests
RUN cargo build --release --locked --bin job-importer

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 importer
WORKDIR /app
COPY --from=daemon /src/target/release/job-importer /usr/local/bin/job-importer
COPY --from=client /src/client/dist ./client/dist
USER importer
ENV JOB_IMPORTER__HTTP__BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["job-importer"]
CMD ["serve"]
