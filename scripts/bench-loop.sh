#!/usr/bin/env bash
# The whole loop on one big JUnit file, next to the bare quick-xml pass (the floor), in the
# same run: every measurement is one process under GNU time (wall seconds, peak RSS), runs
# alternate with the floor, and medians are printed with the ratio to the floor's median.
#
#   scripts/bench-loop.sh [BIG] [RUNS] [BIN]
#   BIG   default: /tmp/big.xml (make it with scripts/gen-big-junit.sh /tmp/big.xml)
#   RUNS  default: 5
#   BIN   default: $CARGO_TARGET_DIR/release/codeloop (build it with `cargo build --release`)
#
# Measured: `verify --report`, then `diagnose`, `gate-check` and `report --all` each alone
# on that run, `ci --report` (the four in one command), and `merge` of 4 shard runs of a
# quarter of the file each (full merge: diagnose, gate and report on the merged run), next
# to `verify` of those same four shards one after the other, and the same merge with
# --no-gate (the fold and the merged run's files only, as verify writes a run's). "files" is
# the contract's own cost: ci's three big files read, written and sha256'd by one thread. The floor
# is the `floor` child of the parse benchmark (`cargo bench --bench parse`), built here
# with --no-run.
# Needs python3 and GNU time (/usr/bin/time).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
big="${1:-/tmp/big.xml}"
runs="${2:-5}"
bin="${3:-${CARGO_TARGET_DIR:-$root/target}/release/codeloop}"
[ -f "$big" ] || { echo "error: $big not found; make it with scripts/gen-big-junit.sh $big" >&2; exit 2; }
[ -x "$bin" ] || { echo "error: $bin not found; run cargo build --release" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "error: GNU time (/usr/bin/time) is needed" >&2; exit 2; }
floor_bin=$(cd "$root" && cargo bench --bench parse --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "parse" and m.get("executable"):
        print(m["executable"])')
[ -x "$floor_bin" ] || { echo "error: could not build the parse benchmark" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ws="$work/ws"
mkdir -p "$ws"
# The report must lie inside the workspace (verify refuses paths outside it).
ln "$big" "$ws/big.xml" 2>/dev/null || cp "$big" "$ws/big.xml"
# Four shards of whole <testsuite>s each (a quarter of the cases each, names unchanged).
python3 "$root/scripts/split-junit-shards.py" "$ws/big.xml" "$ws" 4

# measure NAME CMD...: runs CMD once under GNU time, appends "wall rss_kb" to $work/NAME.
measure() {
  local name=$1; shift
  # Each command starts with no dirty pages of the one before still being written back
  # (a run writes ~700 MB; on 2 cores the kernel's writeback would be timed with the next).
  sync
  # ...and not while the kernel still frees the files of the run deleted before it (ext4
  # goes on with that for a moment after sync returns: ci measured 1.25 s after a pause,
  # 1.58 s right after `rm -rf` of a previous run).
  sleep 0.3
  /usr/bin/time -o "$work/t" -f "%e %M" "$@" >"$work/out.log" 2>&1 || true
  cat "$work/t" >>"$work/$name"
}
floor() { measure floor "$floor_bin" --child floor "$ws/big.xml"; }
# What the run directory's contract costs before any parsing: one thread reads each big file
# a ci run holds (the report's copy, cases.jsonl, report/junit.xml) and writes and sha256s
# it, as the manifest requires (Python's hashlib: OpenSSL's SHA-NI code, as fast as ours).
# The "files" row: no code of ours is in it, so the ratios above it can be read against it.
cat >"$work/files.py" <<'PY'
import hashlib, os, sys
out = sys.argv[1]
for src in sys.argv[2:]:
    h = hashlib.sha256()
    with open(src, "rb") as f, open(out, "wb") as o:
        while b := f.read(1 << 20):
            h.update(b)
            o.write(b)
    os.unlink(out)
PY

cd "$ws"
for i in $(seq "$runs"); do
  rm -rf "$ws/.codeloop" "$ws/shards" "$ws/merged"
  floor; measure verify "$bin" verify --report big.xml --cwd "$ws"
  floor; measure diagnose "$bin" diagnose --cwd "$ws"
  floor; measure gate-check "$bin" gate-check --cwd "$ws"
  floor; measure report-all "$bin" report --all --cwd "$ws"
  floor; measure ci "$bin" ci --report big.xml --cwd "$ws"
  # Counts must be exact: the gate of the ci run saw every case.
  tests=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counts"]["tests"])' \
    "$ws/.codeloop/runs/latest/gate.json")
  [ "$tests" = 1000000 ] || [ "$(grep -c '<testcase' big.xml)" = "$tests" ] ||
    echo "warning: ci counted $tests tests" >&2
  run="$ws/.codeloop/runs/latest"
  floor; measure files python3 "$work/files.py" "$work/files.out" big.xml \
    "$run/cases.jsonl" "$run/report/junit.xml"
  floor
  start=$(date +%s.%N)
  for k in 1 2 3 4; do
    "$bin" verify --report "shard$k.xml" --cwd "$ws" \
      --artifacts-dir "$ws/shards/$k" >/dev/null 2>&1 || true
  done
  end=$(date +%s.%N)
  echo "$(python3 -c "print(round($end - $start, 2))") 0" >>"$work/verify-4-shards"
  floor; measure merge-4x250k "$bin" merge "$ws/shards" --out "$ws/merged" --cwd "$ws"
  # The fold alone (what verify of the shards compares with: no diagnose, gate or report).
  rm -rf "$ws/merged"
  floor; measure merge-no-gate "$bin" merge "$ws/shards" --out "$ws/merged" --no-gate --cwd "$ws"
done

python3 - "$work" "$runs" <<'PY'
import os, statistics, sys
work, runs = sys.argv[1], sys.argv[2]
def load(name):
    # GNU time adds "Command exited with non-zero status N" before the figures of a
    # command that exits non-zero (gate-check on a failing run): only the figures count.
    rows = [l.split() for l in open(os.path.join(work, name)) if l[:1].isdigit()]
    return [float(r[0]) for r in rows], [int(r[1]) for r in rows]
fw, fr = load("floor")
floor = statistics.median(fw)
print(f"{runs} runs each, medians (floor: {len(fw)} runs alternating with the others)")
print(f"{'measurement':<16} {'wall s':>8} {'x floor':>8} {'peak RSS MB':>12}")
for name in ["floor", "files", "verify", "diagnose", "gate-check", "report-all", "ci",
             "verify-4-shards", "merge-4x250k", "merge-no-gate"]:
    w, r = load(name)
    rss = f"{statistics.median(r) / 1024:.1f}" if max(r) > 0 else "-"
    print(f"{name:<16} {statistics.median(w):>8.2f} {statistics.median(w) / floor:>8.1f} {rss:>12}")
PY
