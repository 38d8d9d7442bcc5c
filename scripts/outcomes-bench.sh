#!/usr/bin/env bash
# Experiment results at volume (docs/src/analytics.md "Outcomes and experiment results",
# figures): a fresh PostgreSQL database, a release server with its
# aggregator, two metrics, USERS generated users with outcome events
# (600,000 give about 10 M scene events and 1.8 M outcome events), then
# 30 results calls per metric timed with curl once everything is folded,
# and the time to define a metric over the whole history.
#
#   cargo build --release --locked --bin sceneflow
#   SCENEFLOW_BIN=target/release/sceneflow USERS=600000 bash scripts/outcomes-bench.sh
#   KEEP=1 SCENEFLOW_BIN=… bash scripts/outcomes-bench.sh    # measure again, same data
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh
ensure_postgres

BIN=${SCENEFLOW_BIN:-target/release/sceneflow}
USERS=${USERS:-600000}
db=sceneflow_bench_outcomes
# KEEP=1 measures again on the database a previous run left.
[ -n "${KEEP:-}" ] || psql "$SCENEFLOW_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -qc "CREATE DATABASE $db"
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL="${SCENEFLOW_TEST_PG_URL%/*}/$db" SCENEFLOW_STORE="file://$dir/store" \
  SCENEFLOW_BIND="127.0.0.1:$port" RUST_LOG=warn
"$BIN" serve >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
B="http://127.0.0.1:$port/admin/api"
auth="Authorization: Bearer $("$BIN" admin-token --role admin --name bench)"
put_metric() {
  curl -fs -o /dev/null -w '%{time_total}' -X PUT -H "$auth" -H 'Content-Type: application/json' -d "$2" "$B/metrics/$1"
}
if [ -z "${KEEP:-}" ]; then
  put_metric subscribed '{"event":"subscribed","kind":"binomial","window_hours":168}' >/dev/null
  put_metric revenue '{"event":"purchase","kind":"mean","window_hours":72}' >/dev/null
fi

start=$(date +%s.%N)
if [ -z "${KEEP:-}" ]; then
  "$BIN" analytics generate --users "$USERS" --outcomes 2>/dev/null
  echo "generated in $(echo "$(date +%s.%N) - $start" | bc) s"
fi
results="$B/experiments/intro:pass_through/results"
# Folded: no scene event pending and the figures still for 6 s.
last=""
while :; do
  body=$(curl -fs -H "$auth" "$results?metric=revenue" | sed 's/"as_of":"[^"]*"//')
  if echo "$body" | grep -q '"pending_events":0' && [ "$body" = "$last" ]; then break; fi
  last=$body
  sleep 6
done
echo "folded $(echo "$(date +%s.%N) - $start" | bc) s after the generator started"
psql "$DATABASE_URL" -Atc "SELECT 'scene events ' || count(*) FROM events" -Atc "SELECT 'outcome events ' || count(*) FROM outcomes" -Atc "SELECT 'exposed users ' || count(*) FROM analytics_members WHERE kind = 'exposure'"
for metric in completed subscribed revenue; do
  for _ in $(seq 30); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "$auth" "$results?metric=$metric"
  done | sort -n | awk -v m="$metric" \
    '{a[NR]=$1} END {printf "results %-10s median %.1f ms  p95 %.1f ms  max %.1f ms\n", m, a[int(NR/2)+1]*1000, a[int(NR*0.95)]*1000, a[NR]*1000}'
done
echo "define a metric over the whole history: $(put_metric opened '{"event":"opened_day_7","kind":"binomial","window_hours":240}') s"
curl -fs -H "$auth" "$results?metric=revenue" | head -c 1500; echo
