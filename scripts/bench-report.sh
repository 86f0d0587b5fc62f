#!/usr/bin/env bash
# Measures `codeloop report --all` (comment, summary, badge, JUnit) on a synthetic run with
# N cases (default 1,000,000; 1% failing with a pytest-style trace, 0.5% flaky): wall time and
# peak RSS. Usage: scripts/bench-report.sh [N]   PROFILE=release for an optimized build;
# REPORT_ARGS="--comment --summary --badge" measures without JUnit (which holds every case).
set -euo pipefail
n="${1:-1000000}"
profile="${PROFILE:-debug}"
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
if [ "$profile" = release ]; then cargo build --quiet --release --bin codeloop; else cargo build --quiet --bin codeloop; fi
python3 - "$work" "$n" <<'PY'
import json, os, sys
work, n = sys.argv[1], int(sys.argv[2])
rid = "20261121T223000000Z-beef"
d = os.path.join(work, "runs", rid); os.makedirs(d)
trace = "def test_x():\n>       assert actual == expected\nE       AssertionError: assert 1 == 2\n\ntests/test_x.py:19: AssertionError"
counts = dict(tests=0, passed=0, failed=0, errored=0, skipped=0, flaky=0)
with open(os.path.join(d, "cases.jsonl"), "w") as f:
    for i in range(n):
        c = {"runner": "pytest", "classname": f"tests.test_mod_{i % 1000}", "name": f"test_case_{i}", "duration": 0.001 * (i % 97)}
        counts["tests"] += 1
        if i % 100 == 7:
            c.update(status="failed", file="tests/test_x.py", line=19, failure={"message": "AssertionError: assert 1 == 2", "trace": trace}); counts["failed"] += 1
        else:
            c["status"] = "passed"; counts["passed"] += 1
            if i % 200 == 3:
                c.update(flaky=True, retries=1); counts["flaky"] += 1
        f.write(json.dumps(c) + "\n")
runner = {"id": "pytest", "kind": "test", "source": "collect", "status": "failed", "duration": 600.0, "counts": counts}
json.dump({"schema_version": 1, "run_id": rid, "started_at": "x", "finished_at": "y", "status": "failed", "cwd": "/w",
           "runners": [runner], "totals": counts, "slowest": []}, open(os.path.join(d, "verify.json"), "w"))
json.dump({"schema_version": 1, "run_id": rid, "verdict": "fail", "score": 70.0, "components": [], "rules": [],
           "reasons": [f"{counts['failed']} tests failed"], "counts": counts}, open(os.path.join(d, "gate.json"), "w"))
json.dump({"schema_version": 1, "run_id": rid, "tool": "codeloop", "tool_version": "0.1.0", "started_at": "x",
           "finished_at": "y", "status": "failed", "context": {}, "files": []}, open(os.path.join(d, "manifest.json"), "w"))
print(f"cases.jsonl: {os.path.getsize(os.path.join(d, 'cases.jsonl')) / 1e6:.0f} MB, {n} cases")
PY
/usr/bin/time -f "codeloop report ${REPORT_ARGS:---all} ($profile): %e s wall, %M KB peak RSS" \
  "$target/$profile/codeloop" report --artifacts-dir "$work" --cwd "$work" ${REPORT_ARGS:---all} >/dev/null
ls -l "$work"/runs/*/report/ | awk 'NR>1 {print "  " $5 "\t" $9}'
