#!/usr/bin/env bash
# Checks the OpenAPI document against the real server, on SQLite and then
# PostgreSQL: schemathesis (pinned in scripts/schemathesis/requirements.txt,
# installed into target/schemathesis-venv on first use) generates requests
# from /openapi.json for every operation of the mobile, admin and debug
# APIs and checks every reply: no 5xx, every status, header and body as the
# document says, requests the document calls invalid refused, and requests
# it calls valid accepted or refused only for reasons of state
# (scripts/schemathesis/schemathesis.toml says which).
#
#   bash scripts/schema-test.sh            # both databases
#   SCENEFLOW_BIN=target/release/sceneflow EXAMPLES=200 bash scripts/schema-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh

BIN=${SCENEFLOW_BIN:-target/debug/sceneflow}
EXAMPLES=${EXAMPLES:-40}
VENV=target/schemathesis-venv
CONFIG=scripts/schemathesis/schemathesis.toml

[ -x "$BIN" ] || cargo build --locked --bin sceneflow
if ! "$VENV/bin/schemathesis" --version >/dev/null 2>&1; then
    echo "==> installing schemathesis into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/schemathesis/requirements.txt
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# against BACKEND DATABASE_URL: start a server, make the tokens, run.
against() {
    local backend=$1 url=$2
    local dir port pid status=0
    dir=$(mktemp -d)
    port=$(free_port)
    export DATABASE_URL=$url SCENEFLOW_STORE="file://$dir/store" SCENEFLOW_BIND="127.0.0.1:$port" \
        SCENEFLOW_JWT_SECRET=schema-test-secret-0123456789abcdef SCENEFLOW_ENV=development RUST_LOG=warn
    "$BIN" migrate >/dev/null
    "$BIN" serve >"$dir/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    export SF_TESTER=schema-tester
    SF_MOBILE_TOKEN=$("$BIN" token "$SF_TESTER")
    SF_ADMIN_TOKEN=$("$BIN" admin-token --role admin --name "schemathesis-$backend")
    export SF_MOBILE_TOKEN SF_ADMIN_TOKEN
    curl -fs -X PUT -H "Authorization: Bearer $SF_ADMIN_TOKEN" "http://127.0.0.1:$port/debug/testers/$SF_TESTER" >/dev/null
    curl -fs -X POST -H "Authorization: Bearer $SF_MOBILE_TOKEN" -d '{}' "http://127.0.0.1:$port/v1/onboarding/start" >/dev/null
    SF_VERSION=$(curl -fs -H "Authorization: Bearer $SF_ADMIN_TOKEN" "http://127.0.0.1:$port/admin/api/channels" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["channels"][0]["version_id"])')
    export SF_VERSION
    echo "==> schemathesis against the server on $backend (port $port)"
    "$VENV/bin/schemathesis" --no-color --config-file "$CONFIG" run "http://127.0.0.1:$port/openapi.json" \
        --checks all --max-examples "$EXAMPLES" --seed 20261207 || status=$?
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if grep -q "panicked" "$dir/server.log"; then
        echo "the server panicked:" >&2
        grep -A5 panicked "$dir/server.log" >&2
        status=1
    fi
    rm -rf "$dir"
    return $status
}

sqlite_dir=$(mktemp -d)
against sqlite "sqlite://$sqlite_dir/schema.db"
rm -rf "$sqlite_dir"

if [ -n "${SCENEFLOW_TEST_PG_URL:-}" ] || ensure_postgres >/dev/null 2>&1; then
    pg=${SCENEFLOW_TEST_PG_URL:-postgres://sceneflow_test:sceneflow_test@127.0.0.1:5432/postgres}
    db="sceneflow_test_schema_$$"
    psql "$pg" -qc "DROP DATABASE IF EXISTS $db" -qc "CREATE DATABASE $db" >/dev/null
    against postgresql "${pg%/*}/$db"
    psql "$pg" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
else
    echo "PostgreSQL is not reachable: the schema check ran on SQLite only" >&2
    [ -z "${CI:-}" ] || exit 1
fi
