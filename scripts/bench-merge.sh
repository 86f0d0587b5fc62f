#!/usr/bin/env bash
# Measures `codeloop merge` on big shards: N shard run directories with M cases each (each
# shard repeats the last third of the previous one's tests, so folding really works), merged with --no-gate (the fold
# and the writes only; diagnose/gate/report have their own benchmarks).
#
#   scripts/bench-merge.sh [SHARDS=4] [CASES_PER_SHARD=250000] [BIN=target/release/codeloop]
#
# Prints wall time and peak RSS (GNU time) of the merge.
set -euo pipefail
cd "$(dirname "$0")/.."
shards=${1:-4}
per=${2:-250000}
bin=${3:-${CARGO_TARGET_DIR:-target}/release/codeloop}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$shards" "$per" <<'EOF'
import json, os, sys
work, shards, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for k in range(1, shards + 1):
    run_id = f"20261122T000000000Z-{k:04x}"
    d = os.path.join(work, "in", run_id)
    os.makedirs(d)
    counts = dict(tests=0, passed=0, failed=0, errored=0, skipped=0, flaky=0)
    with open(os.path.join(d, "cases.jsonl"), "w") as f:
        for i in range(per):
            # each shard repeats the last third of the previous shard's tests
            n = (k - 1) * (per - per // 3) + i
            status = "failed" if n % 97 == 0 else "passed"
            f.write(json.dumps({"runner": "t", "classname": f"pkg.mod{n % 1000}",
                                "name": f"test_{n}", "status": status,
                                "duration": 0.001}) + "\n")
            counts["tests"] += 1
            counts[status] += 1
    runner = {"id": "t", "kind": "test", "source": "builtin", "status": "failed",
              "duration": 1.0, "counts": counts,
              "lint": {"errors": 0, "warnings": 0, "notes": 0}}
    verify = {"schema_version": 1, "run_id": run_id, "started_at": "x", "finished_at": "x",
              "status": "failed", "cwd": "/p", "shard": {"index": k, "total": shards},
              "runners": [runner], "totals": counts,
              "lint": {"errors": 0, "warnings": 0, "notes": 0}, "slowest": []}
    json.dump(verify, open(os.path.join(d, "verify.json"), "w"))
    manifest = {"schema_version": 1, "run_id": run_id, "tool": "codeloop",
                "tool_version": "0", "started_at": "x", "finished_at": "x",
                "status": "failed", "shard": {"index": k, "total": shards},
                "context": {"sha": "abc"}, "files": []}
    json.dump(manifest, open(os.path.join(d, "manifest.json"), "w"))
EOF
du -sh "$work/in"
/usr/bin/time -f "merge: %e s wall, %M KiB max RSS" \
    "$bin" merge "$work/in" --out "$work/out" --no-gate --cwd "$work"
echo "merged cases: $(wc -l < "$work/out/cases.jsonl") (expected $((per + (shards - 1) * (per - per / 3))))"
