#!/usr/bin/env bash
# Load test of the mobile API on PostgreSQL, beside its ceiling.
#
# 1. The release server on a fresh PostgreSQL database with the sample flow,
#    driven by examples/loadgen.rs: USERS concurrent users each running the
#    flow from start to completed, for DURATION seconds.
# 2. pgbench running the same writes one answer does (testers check, run
#    read, answer lookup, answer insert, run update, two events), in one
#    transaction, at the same concurrency: the database's ceiling.
#
#   scripts/load.sh                 # USERS=64 DURATION=20 POOL=16
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SCENEFLOW_TEST_PG_URL:-}" ]; then
  . scripts/postgres.sh
  ensure_postgres
fi
PG_ADMIN=${SCENEFLOW_TEST_PG_URL}
admin_sql() { psql -qX "$PG_ADMIN" -c "$1"; }

USERS=${USERS:-64}
DURATION=${DURATION:-20}
POOL=${POOL:-16}
PORT=${PORT:-18181}
DB=sceneflow_load
URL="postgres://sceneflow_test:sceneflow_test@127.0.0.1:5432/$DB"

# SCENEFLOW_BIN / LOADGEN_BIN: measure copies (the shared target is rebuilt by others).
if [ -z "${SCENEFLOW_BIN:-}" ]; then
  cargo build --release --locked --bin sceneflow --example loadgen
fi
SCENEFLOW_BIN=${SCENEFLOW_BIN:-target/release/sceneflow}
LOADGEN_BIN=${LOADGEN_BIN:-target/release/examples/loadgen}

admin_sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
admin_sql "CREATE DATABASE $DB OWNER sceneflow_test"
store=$(mktemp -d)
DATABASE_URL=$URL SCENEFLOW_STORE="file://$store" SCENEFLOW_BIND="127.0.0.1:$PORT" \
  SCENEFLOW_DB_POOL_SIZE=$POOL RUST_LOG=warn "$SCENEFLOW_BIN" serve &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$store"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.2
done

echo "==> sceneflow: $USERS users for ${DURATION}s (pool $POOL)"
"$LOADGEN_BIN" --base "http://127.0.0.1:$PORT" --users "$USERS" --seconds "$DURATION"

# The funnel and A/B result of the simulated population, for the README.
token=$(DATABASE_URL=$URL SCENEFLOW_STORE="file://$store" RUST_LOG=error "$SCENEFLOW_BIN" admin-token --role operator --name load)
version=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/admin/api/channels" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["channels"][0]["version_id"])')
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/admin/api/versions/$version/funnel" > "$store/load-funnel.json"
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/admin/api/experiments" > "$store/load-experiments.json"
python3 - "$store" <<'PY'
import json, sys
f = json.load(open(sys.argv[1] + "/load-funnel.json"))
print(f"==> funnel: {f['started']} started, {f['completed']} completed ({f['completion_rate']:.1%})")
for s in f["steps"]:
    med = "" if s["median_seconds"] is None else f"{s['median_seconds'] * 1000:.1f} ms"
    print(f"    {s['step']:<15} reached {s['reached']:>6}  answered {s['answered']:>6}  left {s['left']:>5}  median {med}")
for e in json.load(open(sys.argv[1] + "/load-experiments.json"))["experiments"]:
    srm = e["sample_ratio"]
    print(f"==> {e['experiment_id']}: SRM p = {srm['p_value']:.3f}{' MISMATCH' if srm['mismatch'] else ''}")
    for v in e["variants"]:
        lo, hi = v["interval"]
        diff = "" if v["difference"] is None else f"  diff {v['difference'] * 100:+.1f} pt  p {v['p_value']:.3f}"
        print(f"    {v['scene']:<15} exposed {v['exposures']:>6}  completed {v['completions']:>6}  {v['conversion']:.1%} [{lo:.1%}, {hi:.1%}]{diff}")
PY
kill $server; wait $server 2>/dev/null || true

echo "==> pgbench ceiling: the writes of one answer, $USERS clients for ${DURATION}s"
export PGPASSWORD=sceneflow_test
psql -q -h 127.0.0.1 -U sceneflow_test -d $DB <<'SQL'
INSERT INTO runs (id, user_id, channel, version_id, status, step_key, scene_key, scene_id,
                  shown, answered, attributes, answers, revision, started_at, updated_at)
SELECT 'bench-' || g, 'bench-user-' || g, 'production', (SELECT id FROM versions LIMIT 1),
       'in_progress', 'welcome', 'welcome_default', 'bench-' || g || '-1', 1, 0, '{}', '{}', 0,
       now(), now()
FROM generate_series(1, 10000) g;
SQL
script=$(mktemp)
cat > "$script" <<'SQL'
\set n random(1, 10000)
\set k random(1, 1000000000)
BEGIN;
SELECT EXISTS (SELECT 1 FROM testers WHERE user_id = 'bench-user-' || :n);
SELECT * FROM runs WHERE user_id = 'bench-user-' || :n AND channel = 'production';
SELECT * FROM run_answers WHERE run_id = 'bench-' || :n AND scene_id = 'bench-' || :n || '-' || :k;
INSERT INTO run_answers VALUES ('bench-' || :n, 'bench-' || :n || '-' || :k, 'welcome', 'welcome_default', 'null', '{"status":"in_progress"}', now()) ON CONFLICT DO NOTHING;
UPDATE runs SET answered = answered + 1, revision = revision + 1, updated_at = now(), answers = '{}' WHERE id = 'bench-' || :n;
INSERT INTO events (kind, occurred_at, user_id, run_id, version_id, channel, step_key, scene_key)
VALUES ('answered', now(), 'bench-user-' || :n, 'bench-' || :n, 'x', 'production', 'welcome', 'welcome_default'),
       ('scene_shown', now(), 'bench-user-' || :n, 'bench-' || :n, 'x', 'production', 'intro', 'intro_coach');
COMMIT;
SQL
pgbench -n -h 127.0.0.1 -U sceneflow_test -c "$USERS" -j 2 -T "$DURATION" -f "$script" $DB 2>&1 |
  grep -E "^(tps|latency|number of (transactions|failed))"
rm -f "$script"
admin_sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
