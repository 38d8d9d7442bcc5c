#!/bin/bash
# Latency of the analytics endpoints and the server's memory, once the
# aggregator has caught up (docs/src/analytics.md "Analytics at scale", figures).
# Usage: scripts/analytics-bench.sh LABEL
#   BASE (default http://127.0.0.1:8080), TOKEN (an operator admin token),
#   VERSION (the version to read), PID (the server's process id).
set -euo pipefail
B=${BASE:-http://127.0.0.1:8080}
auth="Authorization: Bearer $TOKEN"
until curl -s -H "$auth" "$B/admin/api/versions/$VERSION/impact" | grep -q '"pending_events":0'; do sleep 1; done
for path in "versions/$VERSION/funnel" "experiments" "versions/$VERSION/impact"; do
  for _ in $(seq 30); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "$auth" "$B/admin/api/$path"
  done | sort -n | awk -v p="$path" -v l="$1" \
    '{a[NR]=$1} END {printf "%s %-28s median %.1f ms  p95 %.1f ms\n", l, p, a[int(NR/2)+1]*1000, a[int(NR*0.95)]*1000}'
done
echo "$1 server RSS $(( $(ps -o rss= -p "$PID") / 1024 )) MB"
