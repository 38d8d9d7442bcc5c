#!/usr/bin/env bash
# Peak memory of one instance under the worst starts we can craft (docs/src/operations.md
# "Limits"): USERS users each start with the most in-memory attributes a
# start may carry (64 names, each a list of 64 numbers, which cost the most
# memory per byte of JSON, and text up to the 32 KiB cap), on SQLite with
# the default settings (run cache: 10,000 runs, 64 MiB). Prints the idle
# RSS, the peak RSS (VmHWM) and the starts refused.
#
#   scripts/start_memory.sh                 # USERS=3000, builds target/release/sceneflow
#   SCENEFLOW_BIN=/tmp/sceneflow USERS=5000 scripts/start_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-3000}
PORT=${PORT:-18282}
if [ -z "${SCENEFLOW_BIN:-}" ]; then
  cargo build --release --locked --bin sceneflow
fi
SCENEFLOW_BIN=${SCENEFLOW_BIN:-target/release/sceneflow}
work=$(mktemp -d)
SECRET="memory-measurement-secret-0123456789abcdef"
DATABASE_URL="sqlite://$work/db.sqlite" SCENEFLOW_STORE="file://$work/store" \
  SCENEFLOW_BIND="127.0.0.1:$PORT" SCENEFLOW_JWT_SECRET="$SECRET" RUST_LOG=warn \
  SCENEFLOW_ANALYTICS_INTERVAL_MS=0 "$SCENEFLOW_BIN" serve &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.2
done
rss() { awk "/^$1:/ {print \$2}" "/proc/$server/status"; }
idle=$(rss VmRSS)
refused=$(python3 - "$PORT" "$USERS" "$SECRET" <<'PY'
import base64, hashlib, hmac, http.client, json, sys, time
port, users, secret = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
def token(sub):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": sub, "exp": int(time.time()) + 3600}).encode())
    sig = b64(hmac.new(secret, head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + sig).decode()
# 64 names: lists of 64 small numbers (a JSON node each), then text up to the cap.
attrs = {f"n{i:02}": list(range(64)) for i in range(60)}
used = len(json.dumps(attrs, separators=(",", ":")))
for i in range(60, 64):
    attrs[f"t{i:02}"] = "x" * min(1000, max(0, (32 * 1024 - used) // 4 - 40))
body = json.dumps({"attributes": attrs}, separators=(",", ":"))
conn = http.client.HTTPConnection("127.0.0.1", port)
refused = 0
for n in range(users):
    conn.request("POST", "/v1/onboarding/start", body,
                 {"Authorization": "Bearer " + token(f"heavy-{n}"), "Content-Type": "application/json"})
    res = conn.getresponse()
    res.read()
    if res.status != 200:
        refused += 1
print(refused)
PY
)
peak=$(rss VmHWM)
echo "users $USERS  refused $refused  idle RSS $((idle / 1024)) MB  peak RSS $((peak / 1024)) MB"
