# syntax=docker/dockerfile:1
# Build: docker build -t sceneflow .
# Run:   docker run -p 8080:8080 -e SCENEFLOW_JWT_SECRET="$(openssl rand -hex 32)" sceneflow
# The image runs with production settings (debug API off, no sample flow) and
# refuses to start without a secret of its own; docs/src/operations.md, "Docker".

# libpq and OpenSSL are compiled into the binary (pq-sys `bundled`, openssl-sys
# `vendored`): no libpq-dev here, no libpq5 or libssl at run time.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so code changes do not rebuild them.
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
RUN mkdir -p src benches examples && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo 'fn main() {}' > benches/import.rs && echo 'fn main() {}' > examples/make_sample.rs \
    && cargo build --release --locked && rm -rf src benches examples
COPY src src
COPY migrations migrations
COPY master_data/sample_onboarding.xlsx master_data/sample_onboarding.xlsx
COPY benches benches
COPY examples examples
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin sceneflow

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/sceneflow --create-home sceneflow
COPY --from=build /src/target/release/sceneflow /usr/local/bin/sceneflow
USER sceneflow
WORKDIR /var/lib/sceneflow
ENV SCENEFLOW_ENV=production \
    SCENEFLOW_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/sceneflow/sceneflow.db \
    SCENEFLOW_STORE=file:///var/lib/sceneflow/store
EXPOSE 8080
ENTRYPOINT ["sceneflow"]
CMD ["serve"]
