#!/usr/bin/env bash
# Load test of the mobile API on PostgreSQL, beside its ceiling, or on the
# embedded SQLite (BACKEND=sqlite) (docs/src/benchmarks.md "Mobile API under load").
#
# 1. Capture: one user runs the flow with log_statement = all on the load
#    database (run cache and group commit off, so every statement of an
#    answer is sent); the statements of each answer are taken from the
#    PostgreSQL log with their parameters, counted, and one answer becomes a
#    pgbench script. The ceiling is what the service really sends, so it
#    cannot drift from it. (The replay's revision guard always matches.)
# 2. The release server with the sample flow, driven by examples/loadgen.rs
#    at each of USERS concurrent users for DURATION seconds, with group
#    commit on (SCENEFLOW_GROUP_COMMIT_US=1000, run cache on) and off (both off).
# 3. pgbench replaying the captured answer, one transaction per answer, at
#    the same concurrencies: the one-commit-per-answer ceiling.
#
# 4. A summary table: per concurrency, answers/s, p50, p99 and errors with
#    group commit + run cache on and off, the pgbench ceiling, the CPU of
#    server, PostgreSQL and load client (cores, and ms per answer);
#    statements per answer; the ratio answers/s ÷ ceiling at 16 users.
#
# 0. History (both backends): HISTORY users (default 1,000,000) who finished
#    onboarding a month ago, each with a run, an A/B assignment and an
#    answer, then ANALYZE: the answer path reads and writes tables of
#    production size, and PostgreSQL plans for them. (On empty tables the
#    plans a connection keeps are sequential scans, and every start then
#    reads all the runs the load has made so far.)
#
# BACKEND=sqlite: the same load on a SQLite file (WAL, synchronous NORMAL,
# as the service sets it); no capture and no pgbench: the ceiling is a
# minimal loop of one-row insert + commit on a file with the same settings.
# Connections to PostgreSQL are made without TLS (sslmode=disable), the
# service's and pgbench's alike: on one machine TLS only costs CPU.
#
#   scripts/load.sh                 # USERS="4 16 64" DURATION=15 POOL=16 HISTORY=1000000
#   HISTORY=0 scripts/load.sh       # a fresh deployment: empty tables, the launch-day burst
#   BACKEND=sqlite scripts/load.sh
#   SCENEFLOW_BIN=/tmp/sceneflow LOADGEN_BIN=/tmp/loadgen scripts/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${BACKEND:-postgres}
if [ "$BACKEND" = postgres ] && [ -z "${SCENEFLOW_TEST_PG_URL:-}" ]; then
  . scripts/postgres.sh
  ensure_postgres
fi
PG_ADMIN=${SCENEFLOW_TEST_PG_URL:-}
admin_sql() { psql -qX "$PG_ADMIN" -c "$1"; }

USERS=${USERS:-"4 16 64"}
HISTORY=${HISTORY:-1000000}
DURATION=${DURATION:-15}
POOL=${POOL:-16}
PORT=${PORT:-18181}
PGLOG=${PGLOG:-/var/log/postgresql/postgresql-15-main.log}
DB=sceneflow_load
URL="postgres://sceneflow_test:sceneflow_test@127.0.0.1:5432/$DB?sslmode=disable"
export PGSSLMODE=disable

# SCENEFLOW_BIN / LOADGEN_BIN: measure copies (a shared target is rebuilt by others).
if [ -z "${SCENEFLOW_BIN:-}" ]; then
  cargo build --release --locked --bin sceneflow --example loadgen
fi
SCENEFLOW_BIN=${SCENEFLOW_BIN:-target/release/sceneflow}
LOADGEN_BIN=${LOADGEN_BIN:-target/release/examples/loadgen}

work=$(mktemp -d)
if [ "$BACKEND" = sqlite ]; then
  URL="sqlite://$work/load.db"
else
  admin_sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
  admin_sql "CREATE DATABASE $DB OWNER sceneflow_test"
fi
results=$work/results.txt
: > "$results"
server=
serve() { # group commit (µs), run cache size
  if [ "$BACKEND" = sqlite ]; then
    rm -f "$work"/load.db*
    [ -f "$work/history.db" ] && cp "$work/history.db" "$work/load.db"
  fi
  DATABASE_URL=$URL SCENEFLOW_STORE="file://$work/store" SCENEFLOW_BIND="127.0.0.1:$PORT" \
    SCENEFLOW_DB_POOL_SIZE=$POOL SCENEFLOW_GROUP_COMMIT_US=$1 SCENEFLOW_RUN_CACHE_SIZE=$2 \
    RUST_LOG=warn "$SCENEFLOW_BIN" serve &
  server=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && return
    sleep 0.2
  done
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
# CPU ticks (1/100 s) used so far by the given processes.
ticks() {
  local sum=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && sum=$((sum + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$sum"
}
# PostgreSQL's processes for the load: its background processes and the
# backends of the load database, not those of other databases (tests of
# others on a shared machine).
pg_pids() {
  local p cmd
  for p in $(pgrep -x postgres || true); do
    cmd=$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) || continue
    case "$cmd" in
      *" $DB "*) echo "$p" ;;
      *"("*")"*|*"[local]"*) ;;
      *) echo "$p" ;;
    esac
  done
}
measure() { # mode users: loadgen against the running server, CPU per process
  local pg0 sf0 pg1 sf1 line
  # Backends opened during the run count from zero.
  pg0=$(ticks $(pg_pids)) sf0=$(ticks "$server")
  line=$("$LOADGEN_BIN" --base "http://127.0.0.1:$PORT" --users "$2" --seconds "$DURATION")
  pg1=$(ticks $(pg_pids)) sf1=$(ticks "$server")
  local sf pg
  sf=$(awk "BEGIN{printf \"%.2f\", ($sf1-$sf0)/100/$DURATION}")
  pg=$(awk "BEGIN{printf \"%.2f\", ($pg1-$pg0)/100/$DURATION}")
  echo "$line  server cpu $sf cores  postgres cpu $pg cores"
  echo "sceneflow $1 $line  server cpu $sf  postgres cpu $pg" >> "$results"
}
modes() { # label: every concurrency, group commit + cache on, then both off
  local gc cache mode users
  for gc in 1000 0; do
    if [ "$gc" = 0 ]; then cache=0; mode=off; else cache=10000; mode=on; fi
    for users in $USERS; do
      serve "$gc" "$cache"
      printf '==> sceneflow%s, group commit + run cache %s: ' "$1" "$mode"
      measure "$mode" "$users"
      stop
    done
  done
}

# The users of the history, a month ago: one run each (completed), its
# A/B assignment and its first answer. @USERS@ is the series of numbers
# (PostgreSQL: generate_series; SQLite: a recursive CTE), @AT@ the time.
# SQLite's history is a file each measurement starts from.
history() {
  [ "$HISTORY" -gt 0 ] || return 0
  echo "==> history: $HISTORY users who finished onboarding a month ago"
  serve 0 0
  stop
  local sql=(
    "INSERT INTO runs (id, user_id, channel, version_id, status, step_key, scene_key, scene_id,
       shown, answered, attributes, answers, revision, started_at, updated_at, completed_at, previous_answer)
     SELECT 'history-run-' || g, 'history-' || g, 'production', c.version_id, 'completed', NULL, NULL,
       NULL, 10, 9, '{\"install_source\":\"organic\"}', '{\"goal\":\"sleep\"}', 10, @AT@, @AT@, @AT@, NULL
     FROM @USERS@, channels c WHERE c.name = 'production'"
    "INSERT INTO assignments (user_id, step_key, condition_name, scene_key, source, assigned_at, exposed_at)
     SELECT 'history-' || g, 'intro', 'pass_through', 'intro_coach', 'bucket', @AT@, @AT@ FROM @USERS@"
    "INSERT INTO run_answers (run_id, scene_id, step_key, scene_key, answer, response, created_at)
     SELECT 'history-run-' || g, 'history-run-' || g || '-1', 'welcome', 'welcome_sleep', 'null', '{}', @AT@
     FROM @USERS@")
  if [ "$BACKEND" = sqlite ]; then
    python3 - "$work/load.db" "$HISTORY" "${sql[@]}" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
users = (f"(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {int(sys.argv[2])}) "
         "SELECT g FROM s)")
db.execute("BEGIN")
for sql in sys.argv[3:]:
    db.execute(sql.replace("@USERS@", users).replace("@AT@", "datetime('now', '-30 days')"))
db.execute("COMMIT")
db.execute("ANALYZE")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.close()
PY
    cp "$work/load.db" "$work/history.db"
  else
    local s users="generate_series(1, $HISTORY) g" at="(now() - interval '30 days')::timestamp"
    for s in "${sql[@]}"; do
      s=${s//@USERS@/$users}
      psql -qX "$URL" -c "${s//@AT@/$at}"
    done
    psql -qX "$URL" -c "VACUUM ANALYZE runs" -c "VACUUM ANALYZE assignments" -c "VACUUM ANALYZE run_answers"
    # Written out now, not by a checkpoint in the middle of a measurement.
    admin_sql "CHECKPOINT"
  fi
}

if [ "$BACKEND" = sqlite ]; then
  history
  modes " on SQLite"
  echo "==> SQLite ceiling: one-row insert + commit, WAL, synchronous NORMAL, for ${DURATION}s"
  python3 - "$work/ceiling.db" "$DURATION" "$results" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
for p in ("journal_mode = WAL", "synchronous = NORMAL", "busy_timeout = 10000"):
    db.execute("PRAGMA " + p)
db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, run_id TEXT, scene_id TEXT, answer TEXT, created_at TEXT)")
n, until = 0, time.monotonic() + float(sys.argv[2])
start = time.monotonic()
while time.monotonic() < until:
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO t (run_id, scene_id, answer, created_at) VALUES (?, ?, ?, ?)",
               ("0123456789abcdef01234567", f"s-{n}", '"ゆき"', "2026-11-30 12:00:00"))
    db.execute("COMMIT")
    n += 1
tps = n / (time.monotonic() - start)
print(f"tps = {tps:.0f}")
open(sys.argv[3], "a").write(f"ceiling 1 tps = {tps:.1f}\n")
PY
else

echo "==> capture: one user, every statement logged"
serve 0 0
admin_sql "ALTER DATABASE $DB SET log_statement = 'all'"
stop
from=$(($(wc -l < "$PGLOG") + 1))
serve 0 0
"$LOADGEN_BIN" --base "http://127.0.0.1:$PORT" --users 1 --seconds 2 --abandon 0 >/dev/null
stop
admin_sql "ALTER DATABASE $DB RESET log_statement"
tail -n "+$from" "$PGLOG" | grep -F "@$DB " > "$work/log.txt" || true
python3 - "$work" <<'PY'
import re, sys
work = sys.argv[1]
# [pid] … LOG:  execute <name>: SQL / statement: SQL; then DETAIL:  parameters: $1 = '…', …
stmts, last = [], {}
for line in open(f"{work}/log.txt", encoding="utf-8", errors="replace"):
    pid = re.search(r"\[(\d+)\]", line)
    pid = pid.group(1) if pid else ""
    m = re.search(r"LOG:  (?:execute [^:]*|statement): (.*)$", line)
    if m:
        last[pid] = len(stmts)
        stmts.append((pid, m.group(1).strip()))
        continue
    m = re.search(r"DETAIL:  parameters: (.*)$", line)
    if m and pid in last:
        params = dict(re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", m.group(1)))
        i = last[pid]
        sql = re.sub(r"\$(\d+)\b", lambda p: params.get(p.group(1), p.group(0)), stmts[i][1])
        stmts[i] = (pid, sql)
# An answer: the read with a scene id, then the next transaction (on any
# pooled connection) that updates a run: its BEGIN … COMMIT on that pid.
answers = []
for i, (_, s) in enumerate(stmts):
    if not re.search(r'FROM \(*"runs" LEFT OUTER JOIN', s) or "= ''" in s:
        continue
    for j in range(i + 1, len(stmts)):
        pid, t = stmts[j]
        if t != "BEGIN":
            continue
        tx = [t]
        for q, u in stmts[j + 1:]:
            if q == pid:
                tx.append(u)
                if u in ("COMMIT", "ROLLBACK"):
                    break
        if any(u.startswith('UPDATE "runs"') or (u.startswith("WITH v(") and "UPDATE runs" in u)
               for u in tx) and tx[-1] == "COMMIT":
            answers.append([s] + tx)
            break
if not answers:
    sys.exit("no answer found in the PostgreSQL log (is log_line_prefix %u@%d?)")
spa = sum(map(len, answers)) / len(answers)
open(f"{work}/results.txt", "a").write(f"statements {spa:.2f} {len(answers)}\n")
print(f"==> statements per answer: {spa:.2f} "
      f"over {len(answers)} answers (read + BEGIN + writes + COMMIT; "
      f"{min(map(len, answers))}–{max(map(len, answers))})")
# The most common shape becomes the pgbench script, for a random seeded run.
shape = lambda a: tuple(t.split()[0] + (" " + t.split()[2] if t.startswith("INSERT") else "") for t in a)
common = max(set(map(shape, answers)), key=lambda s: sum(shape(a) == s for a in answers))
one = next(a for a in answers if shape(a) == common)
run_id = re.search(r"(?:\"runs\".\"id\" = |VALUES \()'([0-9a-f]{24})'", " ".join(one)).group(1)
user_id = re.search(r"\"runs\".\"user_id\" = '([^']+)'", one[0]).group(1)
def bench(sql):
    sql = re.sub(rf"'{run_id}-\d+'", "('bench-' || :n || '-' || :k)", sql)
    sql = sql.replace(f"'{run_id}'", "('bench-' || :n)").replace(f"'{user_id}'", "('bench-user-' || :n)")
    # The group update's VALUES are literals here (text): cast where the column is not.
    sql = sql.replace("runs.revision = v.expected", "runs.revision = runs.revision")
    for col, ty in [("shown", "int4"), ("answered", "int4"), ("revision", "int8"),
                    ("updated_at", "timestamp"), ("completed_at", "timestamp")]:
        sql = sql.replace(f"{col} = v.{col}", f"{col} = v.{col}::{ty}")
    return re.sub(r'("runs"\."revision" = )\'?\d+\'?', r'\1"runs"."revision"', sql)
with open(f"{work}/answer.sql", "w") as f:
    f.write("\\set n random(1, 10000)\n\\set k random(1, 1000000000)\n")
    for t in one:
        f.write(bench(t).rstrip(";") + ";\n")
cols = "channel, version_id, status, step_key, scene_key, scene_id, shown, answered, attributes, answers, revision, started_at, updated_at, completed_at"
with open(f"{work}/seed.sql", "w") as f:
    f.write(f"INSERT INTO runs (id, user_id, {cols}) SELECT 'bench-' || g, 'bench-user-' || g, {cols} "
            f"FROM runs, generate_series(1, 10000) g WHERE id = '{run_id}';\n")
print("    replayed: " + " · ".join(" ".join(x.split()[:3]) for x in common))
PY

history
modes ""

# The funnel and A/B result of the simulated population, for the book (docs/src/benchmarks.md).
serve 0 0
token=$(DATABASE_URL=$URL SCENEFLOW_STORE="file://$work/store" RUST_LOG=error "$SCENEFLOW_BIN" admin-token --role operator --name load)
version=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/admin/api/channels" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["channels"][0]["version_id"])')
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/admin/api/versions/$version/funnel" > "$work/load-funnel.json"
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/admin/api/experiments" > "$work/load-experiments.json"
python3 - "$work" <<'PY'
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
stop

export PGPASSWORD=sceneflow_test
psql -qX -h 127.0.0.1 -U sceneflow_test -d $DB -f "$work/seed.sql"
for users in $USERS; do
  echo "==> pgbench ceiling: the captured answer, one transaction each, $users clients for ${DURATION}s"
  pgbench -n -h 127.0.0.1 -U sceneflow_test -c "$users" -j 2 -T "$DURATION" -f "$work/answer.sql" $DB 2>&1 |
    grep -E "^(tps|latency average|number of failed)" | tee "$work/pgbench.txt"
  echo "ceiling $users $(grep '^tps' "$work/pgbench.txt")" >> "$results"
done
admin_sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
fi

# One clean summary.
python3 - "$results" "$BACKEND" "$USERS" "$HISTORY" <<'PY'
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
backend, users = sys.argv[2], sys.argv[3].split()
num = lambda pat, s: float(m.group(1)) if (m := re.search(pat, s)) else float("nan")
runs, ceiling, spa = {}, {}, None
for l in lines:
    w = l.split()
    if w[0] == "sceneflow":
        runs[(w[1], w[3])] = {k: num(p, l) for k, p in [
            ("aps", r"answers/s ([\d.]+)"), ("p50", r"p50 ([\d.]+)"), ("p99", r"p99 ([\d.]+)"),
            ("err", r"errors (\d+)"), ("lg", r"loadgen cpu ([\d.]+)"),
            ("sf", r"server cpu ([\d.]+)"), ("pg", r"postgres cpu ([\d.]+)")]}
    elif w[0] == "ceiling":
        ceiling[w[1]] = num(r"tps = ([\d.]+)", l)
    elif w[0] == "statements":
        spa = f"{w[1]} (over {w[2]} answers, group commit and cache off)"
print(f"\n==> summary ({backend}, {sys.argv[3]} users, history of {int(sys.argv[4]):,} users, "
      "GC = group commit 1000 µs + run cache; "
      "cpu in cores: server / " + ("postgres / " if backend == "postgres" else "") + "load client)")
head = "| users | GC+cache on: answers/s | p50 ms | p99 ms | errors | cpu | GC+cache off: answers/s | p50 ms | p99 ms | errors | cpu | " + \
       ("pgbench tps (1 commit/answer) |" if backend == "postgres" else "")
print(head)
print("|" + "---|" * (head.count("|") - 1))
for u in users:
    row = f"| {u} |"
    for mode in ("on", "off"):
        r = runs.get((mode, u))
        if not r:
            row += " – |" * 5
            continue
        cpu = f"{r['sf']:.2f} / " + (f"{r['pg']:.2f} / " if backend == "postgres" else "") + f"{r['lg']:.2f}"
        row += f" {r['aps']:.1f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['err']:.0f} | {cpu} |"
    if backend == "postgres":
        row += f" {ceiling.get(u, 0):.0f} |"
    print(row)
# CPU time per answer: far steadier than answers/s on a busy machine.
for u in users:
    for mode in ("on", "off"):
        r = runs.get((mode, u))
        if r and r["aps"] > 0:
            ms = lambda cores: f"{cores * 1000 / r['aps']:.3f}"
            print(f"CPU ms per answer, {u} users, GC+cache {mode}: server {ms(r['sf'])}"
                  + (f", postgres {ms(r['pg'])}" if backend == "postgres" else "")
                  + f", load client {ms(r['lg'])}")
if backend == "postgres":
    print(f"statements per answer: {spa}")
    on, c = runs.get(("on", "16")), ceiling.get("16")
    if on and c:
        print(f"at 16 users: answers/s ÷ pgbench ceiling = {on['aps'] / c:.2f} (target ≥ 2), p99 {on['p99']:.2f} ms (target ≤ 10)")
else:
    c = ceiling.get("1")
    print(f"SQLite ceiling (one-row insert + commit loop, one writer): {c:.0f} commits/s" if c else "")
PY
