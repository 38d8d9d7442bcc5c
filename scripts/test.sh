#!/usr/bin/env bash
# Runs every test: formatting, clippy, the book (mdbook build and its links),
# unit and integration tests on SQLite and PostgreSQL (S3 runs in-process;
# the book's commands run in `book::`), the offline JavaScript player
# (node), the OpenAPI document against the real server (schemathesis, both
# databases), and the dashboard in headless Chromium.
# Starts or installs what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh

ensure_postgres

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

bash scripts/book.sh

echo "==> node --test clients/js (the offline player against conformance/)"
command -v node >/dev/null || { echo "node 20 or later is needed for the player's tests" >&2; exit 1; }
node --test clients/js

echo "==> cargo test"
cargo test --locked "$@"

echo "==> the OpenAPI document against the server (schemathesis)"
cargo build --locked --bin sceneflow
bash scripts/schema-test.sh

bash scripts/browser-test.sh
