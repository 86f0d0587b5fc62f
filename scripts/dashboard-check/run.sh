#!/bin/sh
# Builds a demo run with the dashboard page and checks it in headless Chromium.
# Usage (from the repository root): sh scripts/dashboard-check/run.sh [codeloop-binary]
# Needs: node >= 18, chromium (apt-get install -y chromium), npm install in this directory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-${CODELOOP_BIN:-$root/target/debug/codeloop}}
art=$(mktemp -d)
[ -d "$here/node_modules/playwright-core" ] || (cd "$here" && npm install --no-audit --no-fund)
# ci exits 1 on the demo (its gate fails on purpose).
"$bin" ci --cwd "$root/examples/demo" --artifacts-dir "$art" >/dev/null || true
"$bin" report --html --cwd "$root/examples/demo" --artifacts-dir "$art"
node "$here/check.mjs" "$art/runs/latest/report/index.html" "$root/docs/dashboard.png"
rm -rf "$art"
