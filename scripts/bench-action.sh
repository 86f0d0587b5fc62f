#!/usr/bin/env bash
# Benchmarks `codeloop action` end to end against a local fake GitHub (scripts/fake_github.py):
#   - startup: `codeloop --version`;
#   - publish only: `action` with `from:` an existing run (load, fit, summary, outputs, post);
#   - full: `action` collecting a JUnit report of N cases (verify → diagnose → gate-check →
#     report → publish), when those stages are in this build;
# plus the release binary's size. Prints the median of RUNS runs for each.
#
# Usage: scripts/bench-action.sh [N_CASES=100000] [RUNS=7]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
RUNS="${2:-7}"
BIN="${CARGO_TARGET_DIR:-target}/release/codeloop"
[[ -x "$BIN" ]] || { echo "build first: cargo build --release" >&2; exit 2; }

tmp="$(mktemp -d)"
port_file="$tmp/port"
python3 scripts/fake_github.py "$port_file" &
fake=$!
trap 'kill "$fake" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [[ -s "$port_file" ]] && break; sleep 0.1; done
api="http://127.0.0.1:$(cat "$port_file")"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { # run "$@" RUNS times, print the median wall time in ms (timed inside Python, so the
        # shell's own fork/exec overhead is not counted)
    python3 - "$RUNS" "$@" <<'PY'
import statistics, subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
t = []
for _ in range(runs):
    s = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.append((time.perf_counter() - s) * 1000)
print(f"{statistics.median(t):.1f}")
PY
}

ws="$tmp/ws"
mkdir -p "$ws/reports"
python3 - "$N" "$ws/reports/junit.xml" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write('<?xml version="1.0"?>\n<testsuites>\n')
    per = 1000
    for s in range(0, n, per):
        f.write(f'<testsuite name="suite{s // per}" tests="{min(per, n - s)}">\n')
        for i in range(s, min(s + per, n)):
            if i % 5000 == 7:
                f.write(f'<testcase classname="pkg.mod{i % 97}" name="test_{i}" time="0.01">'
                        f'<failure message="assert {i} == 0">File "src/mod{i % 97}.py", line {i % 300 + 1}\nAssertionError</failure></testcase>\n')
            else:
                f.write(f'<testcase classname="pkg.mod{i % 97}" name="test_{i}" time="0.001"/>\n')
        f.write('</testsuite>\n')
    f.write('</testsuites>\n')
PY
printf '{"pull_request":{"number":1,"head":{"sha":"abc","repo":{"full_name":"o/r"}},"base":{"repo":{"full_name":"o/r"}}}}' > "$tmp/event.json"

envs=(GITHUB_ACTIONS=true GITHUB_REPOSITORY=o/r GITHUB_API_URL="$api" GITHUB_EVENT_NAME=pull_request
      GITHUB_EVENT_PATH="$tmp/event.json" GITHUB_WORKSPACE="$ws" GITHUB_OUTPUT="$tmp/out"
      GITHUB_STEP_SUMMARY="$tmp/summary" INPUT_GITHUB-TOKEN=bench-token-0000000 INPUT_FAIL-ON-GATE=false)

echo "binary: $BIN ($(stat -c %s "$BIN") bytes)"
echo "startup (codeloop --version): $(ms "$BIN" --version) ms median of $RUNS"

if "$BIN" verify --help >/dev/null 2>&1; then
    echo "full action, $N cases (verify→diagnose→gate→report→publish): $(ms env "${envs[@]}" INPUT_REPORTS=reports/junit.xml "$BIN" action) ms median of $RUNS"
    run_rel="$(grep -A1 '^run-dir<<' "$tmp/out" | tail -1)"
    echo "publish only (action from: the run above): $(ms env "${envs[@]}" INPUT_FROM="$run_rel" "$BIN" action) ms median of $RUNS"
    echo "  of which, stage by stage on the same report:"
    a="$tmp/stage-art"
    echo "    verify --report: $(ms "$BIN" verify --cwd "$ws" --artifacts-dir "$a" --report reports/junit.xml) ms"
    last="$(ls -d "$a"/runs/* | tail -1)"
    echo "    diagnose:        $(ms "$BIN" diagnose --cwd "$ws" --artifacts-dir "$a" --run "$last" --no-annotations) ms"
    echo "    gate-check:      $(ms "$BIN" gate-check --cwd "$ws" --artifacts-dir "$a" --run "$last") ms"
    echo "    report:          $(ms "$BIN" report --cwd "$ws" --artifacts-dir "$a" --run "$last") ms"
else
    echo "full action: skipped (verify is not in this build)"
    run="$ws/.codeloop/runs/20261122T000000000Z-beef"
    mkdir -p "$run/report"
    printf '{"schema_version":1,"run_id":"r","verdict":"fail","score":80,"components":[],"rules":[],"reasons":["20 failed"],"counts":{"tests":%d,"passed":%d,"failed":20,"errored":0,"skipped":0,"flaky":0}}' "$N" "$((N - 20))" > "$run/gate.json"
    { echo '<!-- codeloop-verify:v1 -->'; for i in $(seq 20); do echo "- test_$i failed at src/m$i.py:$i"; done; } > "$run/report/comment.md"
    echo '{}' > "$run/manifest.json"
    echo "publish only (action from: a run with $N cases): $(ms env "${envs[@]}" INPUT_FROM=.codeloop/runs/20261122T000000000Z-beef "$BIN" action) ms median of $RUNS"
fi
