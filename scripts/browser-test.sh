#!/usr/bin/env bash
# The dashboard in headless Chromium: starts the debug server on a fresh
# SQLite database with the sample, creates one user per role, and runs the
# Playwright test (tests/browser). Screenshots land in tests/artifacts/.
# Installs Debian's chromium and npm's playwright-core when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Chromium, and a Japanese font so the screenshots of the sample are legible.
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi ipag; then
  echo "==> installing chromium and fonts-ipafont-gothic (Debian packages)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null
fi
if ! command -v jq >/dev/null 2>&1; then
  echo "==> installing jq (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "==> installing playwright-core (npm)"
  npm ci --prefix tests/browser --no-audit --no-fund --silent
fi

# The binary the test build already produced (`cargo test` builds it for the
# integration tests with the test feature set; a plain `cargo build` would
# compile ~110 crates again for its own). Asking cargo for the path respects
# CARGO_TARGET_DIR.
bin=$(cargo test --locked --no-run --message-format=json 2>/dev/null \
  | jq -r 'select(.reason == "compiler-artifact" and .profile.test == false
                  and (.target.kind | index("bin")) and .target.name == "sceneflow")
           | .executable' | tail -n 1)
[ -x "$bin" ] || { echo "no sceneflow binary from the test build" >&2; exit 1; }
dir=$(mktemp -d)
port=${BROWSER_TEST_PORT:-18282}
export DATABASE_URL="sqlite://$dir/browser.db" SCENEFLOW_STORE="file://$dir/store" \
  SCENEFLOW_BIND="127.0.0.1:$port" SCENEFLOW_PASSWORD=correct-horse-battery RUST_LOG=warn
"$bin" migrate >/dev/null
for user in olive:operator quinn:qa ada:admin; do
  "$bin" user add "${user%%:*}" --role "${user##*:}" >/dev/null
done
"$bin" serve &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done

# Users with outcome events and two metrics, for the experiment page.
"$bin" analytics generate --users 600 --outcomes >/dev/null
admin_token=$("$bin" admin-token --role admin --name browser-test)
for metric in 'subscribed:{"event":"subscribed","kind":"binomial","window_hours":168,"guardrail":true}' \
              'revenue:{"event":"purchase","kind":"mean","window_hours":72,"description":"spent in the first three days"}'; do
  curl -sf -X PUT -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d "${metric#*:}" "http://127.0.0.1:$port/admin/api/metrics/${metric%%:*}" >/dev/null
done

# Tokens of three people, for the rollout scenario's set-up through the API.
operator_token=$("$bin" admin-token --role operator --name browser-operator)
qa_token=$("$bin" admin-token --role qa --name browser-qa)

echo "==> browser test (headless Chromium)"
BIN="$bin" OPERATOR_TOKEN="$operator_token" QA_TOKEN="$qa_token" ADMIN_TOKEN="$admin_token" \
TESTER_TOKEN=$("$bin" token qa-phone-1) \
BASE="http://127.0.0.1:$port" ARTIFACTS="$PWD/tests/artifacts" FIXTURES="$PWD/tests/fixtures" \
  node --test tests/browser/
