#!/usr/bin/env bash
# Measures `codeloop diagnose` and `codeloop gate-check` on a synthetic run directory:
# TESTS cases, of which FAILS fail with realistic pytest / jest / Go / Java traces, spread
# over LINES distinct failing lines (so folding has work to do).
#
#   scripts/bench-diagnose.sh [TESTS] [FAILS] [LINES]      (defaults: 1000000 20000 500)
#
# Uses target/release/codeloop (or $CODELOOP). Prints wall time and peak RSS per command.
set -euo pipefail
TESTS=${1:-1000000}
FAILS=${2:-20000}
LINES=${3:-500}
BIN=${CODELOOP:-${CARGO_TARGET_DIR:-target}/release/codeloop}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RUN="$WORK/.codeloop/runs/20261122T000000000Z-beef"
mkdir -p "$RUN"
python3 - "$RUN" "$WORK" "$TESTS" "$FAILS" "$LINES" <<'PY'
import json, sys, os
run, ws, tests, fails, lines = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
traces = [
    lambda i, l: ("pytest", "tests.test_api", f"test_{i}", "def test():\n>       assert a == b\nE       AssertionError: assert 1 == 2\n" + "E         detail line\n" * 20 + f"\ntests/test_api_{l}.py:{l}: AssertionError"),
    lambda i, l: ("jest", None, f"api works {i}", f"Error: expect(received).toBe(expected)\n    at Object.<anonymous> ({ws}/js/spec/api_{l}.spec.js:{l}:9)\n" + f"    at callAsyncCircusFn ({ws}/js/node_modules/jest-circus/build/utils.js:316:40)\n" * 15),
    lambda i, l: ("go", "example.com/m/pkg", f"TestThing{i}", f"=== RUN   TestThing{i}\n    thing_{l}_test.go:{l}: expected 1, got 2\n--- FAIL: TestThing{i} (0.00s)\n"),
    lambda i, l: ("maven", "com.example.ApiTest", f"test{i}", "java.lang.AssertionError: expected:<1> but was:<2>\n\tat org.junit.Assert.fail(Assert.java:89)\n" + f"\tat com.example.ApiTest.test{i}(ApiTest.java:{l})\n" + "\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n" * 20),
]
runners = {}
with open(os.path.join(run, "cases.jsonl"), "w") as f:
    for i in range(tests):
        kind = i % 4
        if i < fails:
            rid, cls, name, trace = traces[kind](i, 1 + i % lines)
            c = {"runner": rid, "name": name, "status": "failed", "failure": {"message": trace.splitlines()[0], "trace": trace}}
            if cls: c["classname"] = cls
        else:
            rid = ["pytest", "jest", "go", "maven"][kind]
            c = {"runner": rid, "classname": "suite.mod", "name": f"ok_{i}", "status": "passed", "duration": 0.001}
        r = runners.setdefault(rid, {"tests": 0, "passed": 0, "failed": 0, "errored": 0, "skipped": 0, "flaky": 0})
        r["tests"] += 1
        r["failed" if c["status"] == "failed" else "passed"] += 1
        f.write(json.dumps(c) + "\n")
open(os.path.join(run, "findings.jsonl"), "w").close()
tot = {k: sum(r[k] for r in runners.values()) for k in ["tests", "passed", "failed", "errored", "skipped", "flaky"]}
verify = {"schema_version": 1, "run_id": os.path.basename(run), "started_at": "2026-11-22T00:00:00Z",
          "finished_at": "2026-11-22T00:01:00Z", "status": "failed", "cwd": ws,
          "runners": [{"id": k, "kind": "test", "source": "collect", "command": {"pytest": "pytest", "jest": "npx jest", "go": "go test -json ./...", "maven": "mvn test"}[k],
                       "cwd": ws, "status": "failed", "duration": 60.0, "counts": v} for k, v in runners.items()],
          "totals": tot}
json.dump(verify, open(os.path.join(run, "verify.json"), "w"))
json.dump({"schema_version": 1, "run_id": os.path.basename(run), "tool": "codeloop", "tool_version": "bench",
           "started_at": "2026-11-22T00:00:00Z", "finished_at": "2026-11-22T00:01:00Z", "status": "failed", "files": []},
          open(os.path.join(run, "manifest.json"), "w"))
PY
echo "run: $TESTS tests, $FAILS failing, $(du -sh "$RUN/cases.jsonl" | cut -f1) cases.jsonl"
for cmd in diagnose gate-check; do
  /usr/bin/time -f "$cmd: %e s wall, %U s user, %S s sys, %M KiB peak RSS" "$BIN" "$cmd" --cwd "$WORK" --run "$RUN" >/dev/null || true
done
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('problems kept', len(d['problems']), 'truncated', d['truncated'], 'tasks', len(d['tasks']))" "$RUN/diagnose.json"
