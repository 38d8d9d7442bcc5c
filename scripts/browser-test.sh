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
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "==> installing playwright-core (npm)"
  npm ci --prefix tests/browser --no-audit --no-fund --silent
fi

cargo build --locked --bin sceneflow
dir=$(mktemp -d)
port=${BROWSER_TEST_PORT:-18282}
export DATABASE_URL="sqlite://$dir/browser.db" SCENEFLOW_STORE="file://$dir/store" \
  SCENEFLOW_BIND="127.0.0.1:$port" SCENEFLOW_PASSWORD=correct-horse-battery RUST_LOG=warn
for user in olive:operator quinn:qa ada:admin; do
  target/debug/sceneflow user add "${user%%:*}" --role "${user##*:}" >/dev/null
done
target/debug/sceneflow serve &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done

echo "==> browser test (headless Chromium)"
TESTER_TOKEN=$(target/debug/sceneflow token qa-phone-1) \
BASE="http://127.0.0.1:$port" ARTIFACTS="$PWD/tests/artifacts" FIXTURES="$PWD/tests/fixtures" \
  node --test tests/browser/
