#!/usr/bin/env bash
# Measures what `codeloop verify` adds around one runner that does nothing (`true`): the median
# wall time of `codeloop verify` minus the median of `sh -c true` (what the runner itself
# costs). Needs hyperfine (apt-get install hyperfine) and a release build.
#
#   cargo build --release && scripts/bench/verify-overhead.sh
#
# RT=1 runs hyperfine (and so both commands) at real-time priority (`chrt -f 10`, needs root):
# on a shared, overloaded machine that removes the run-queue waits of other processes and shows
# what codeloop itself costs. FSYNC=1 measures with `verify.fsync: true`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${CARGO_TARGET_DIR:-target}/release/codeloop"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/.codeloop"
cat > "$work/.codeloop/plugins.json" <<'JSON'
{"name": "bench", "version": "1.0.0",
 "runners": [{"id": "noop", "kind": "test", "command": "true"}]}
JSON
if [ "${FSYNC:-0}" = 1 ]; then echo '{"verify": {"fsync": true}}' > "$work/.codeloop/config.json"; fi
prio=()
if [ "${RT:-0}" = 1 ]; then prio=(chrt -f 10); fi
"${prio[@]}" hyperfine --shell=none --warmup 10 --runs "${RUNS:-200}" \
  --export-json "$work/hf.json" \
  "sh -c true" \
  "$bin verify --cwd $work --format json"
python3 - "$work/hf.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base, verify = r[0]["median"], r[1]["median"]
print(f"median sh -c true:        {base*1000:.2f} ms")
print(f"median codeloop verify:   {verify*1000:.2f} ms")
print(f"overhead (median diff):   {(verify-base)*1000:.2f} ms")
PY
