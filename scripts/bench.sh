#!/usr/bin/env bash
# Runs the benchmarks in release mode, with PostgreSQL when it can be had.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh
ensure_postgres || true
cargo bench --locked "$@"
