#!/usr/bin/env bash
# `codeloop merge` of 4 shard runs × 250,000 cases (issue 14), next to `verify` of the same
# four shards: /tmp/big.xml (scripts/gen-big-junit.sh) split into 4 shards of whole
# <testsuite>s as scripts/bench-loop.sh does, each verified once, then merged RUNS times with
# each binary given (alternating, so load drifts hit them alike): the full merge (diagnose,
# gate and report on the merged run) and `--no-gate` (the fold and its writes only).
#
#   scripts/bench-merge-big.sh [BIG=/tmp/big.xml] [RUNS=5] [BIN...=target/release/codeloop]
#
# Prints the medians of wall time and peak RSS (GNU time). Needs python3 and /usr/bin/time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
big="${1:-/tmp/big.xml}"
runs="${2:-5}"
shift $(( $# < 2 ? $# : 2 ))
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("${CARGO_TARGET_DIR:-$root/target}/release/codeloop")
[ -f "$big" ] || { echo "error: $big not found; make it with scripts/gen-big-junit.sh $big" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "error: GNU time (/usr/bin/time) is needed" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ws="$work/ws"
mkdir -p "$ws"
ln "$big" "$ws/big.xml" 2>/dev/null || cp "$big" "$ws/big.xml"
python3 "$root/scripts/split-junit-shards.py" "$ws/big.xml" "$ws" 4
rm "$ws/big.xml"

measure() {
  local name=$1; shift
  /usr/bin/time -o "$work/t" -f "%e %M" "$@" >"$work/out.log" 2>&1 || true
  # The last line: GNU time puts "Command exited with non-zero status N" before it (a
  # failing gate exits 1).
  tail -n 1 "$work/t" >>"$work/$name"
}
cd "$ws"
verify_shards() {
  rm -rf "$ws/shards"
  local start end
  start=$(date +%s.%N)
  for k in 1 2 3 4; do
    "${bins[0]}" verify --report "shard$k.xml" --cwd "$ws" \
      --artifacts-dir "$ws/shards/$k" >/dev/null 2>&1 || true
  done
  end=$(date +%s.%N)
  echo "$(python3 -c "print(round($end - $start, 2))") 0" >>"$work/verify-4-shards"
}
names=()
for i in $(seq "$runs"); do
  verify_shards
  for b in "${!bins[@]}"; do
    for mode in full no-gate; do
      name="merge-$mode-bin$b"
      [ "$i" = 1 ] && names+=("$name")
      rm -rf "$ws/merged"
      if [ "$mode" = full ]; then
        measure "$name" "${bins[$b]}" merge "$ws/shards" --out "$ws/merged" --cwd "$ws"
      else
        measure "$name" "${bins[$b]}" merge "$ws/shards" --out "$ws/merged" --cwd "$ws" --no-gate
      fi
      tests=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["tests"])' \
        "$ws/merged/verify.json")
      lines=$(wc -l <"$ws/merged/cases.jsonl")
      [ "$tests" = "$lines" ] || echo "warning: $name counted $tests tests, wrote $lines cases" >&2
    done
  done
done
echo "tests merged: $tests"
for b in "${!bins[@]}"; do echo "bin$b: ${bins[$b]}"; done
python3 - "$work" "$runs" verify-4-shards "${names[@]}" <<'PY'
import os, statistics, sys
work, runs, names = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"{runs} runs each, medians")
print(f"{'measurement':<22} {'wall s':>8} {'peak RSS MB':>12}")
for name in names:
    rows = [l.split() for l in open(os.path.join(work, name)) if l.strip()]
    w, r = [float(x[0]) for x in rows], [int(x[1]) for x in rows]
    rss = f"{statistics.median(r) / 1024:.1f}" if max(r) > 0 else "-"
    print(f"{name:<22} {statistics.median(w):>8.2f} {rss:>12}")
PY
