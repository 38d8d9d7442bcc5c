# Sourced by scripts/test.sh and scripts/bench.sh: make PostgreSQL 15 available
# and export SCENEFLOW_TEST_PG_URL (a role that may CREATE DATABASE).
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }

ensure_postgres() {
  [ -n "${SCENEFLOW_TEST_PG_URL:-}" ] && return 0
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql/15/main ]; then
    if ! pg_lsclusters -h 2>/dev/null | awk '$1=="15" && $2=="main" {print $4}' | grep -q online; then
      echo "==> starting PostgreSQL 15"
      pg_ctlcluster 15 main start
    fi
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    as_postgres "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'sceneflow_test'\"" | grep -q 1 ||
      as_postgres "psql -qc \"CREATE ROLE sceneflow_test LOGIN SUPERUSER PASSWORD 'sceneflow_test'\""
    # Throwaway databases left by an interrupted run.
    for db in $(as_postgres "psql -qtAc \"SELECT datname FROM pg_database WHERE datname LIKE 'sceneflow_test_%'\""); do
      as_postgres "psql -qc 'DROP DATABASE IF EXISTS $db WITH (FORCE)'" >/dev/null
    done
    export SCENEFLOW_TEST_PG_URL="postgres://sceneflow_test:sceneflow_test@127.0.0.1:5432/postgres"
    return 0
  fi
  local msg="PostgreSQL 15 is not installed. Install it with: apt-get install postgresql-15 (or set SCENEFLOW_TEST_PG_URL to a server where the user may CREATE DATABASE)."
  if [ "${CI:-}" = "true" ]; then echo "error: $msg" >&2; return 1; fi
  echo "warning: $msg PostgreSQL tests are skipped." >&2
}
