#!/usr/bin/env bash
# Two (or more) builds of codeloop on the same command, alternating, in one run: the way to
# compare builds on a noisy machine (single runs of one binary move ±25 % with the
# neighbours; alternating runs see the same neighbours).
#
#   scripts/bench-ab.sh RUNS SUBCOMMAND BIN...
#   e.g. scripts/bench-ab.sh 8 ci /tmp/codeloop-before target/release/codeloop
#
# Each run: a fresh scratch workspace state (the previous run directory removed), `sync` and
# a 0.3 s pause, then `BIN SUBCOMMAND --report big.xml --cwd WS` under GNU time. Prints per
# binary the median and first-quartile wall time, the median CPU (user + system) and the
# median peak RSS. BIG (default /tmp/big.xml, made by scripts/gen-big-junit.sh) is linked
# into the workspace. Needs python3 and GNU time (/usr/bin/time).
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
runs=$1
sub=$2
shift 2
big="${BIG:-/tmp/big.xml}"
[ -f "$big" ] || { echo "error: $big not found; make it with scripts/gen-big-junit.sh $big" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "error: GNU time (/usr/bin/time) is needed" >&2; exit 2; }
for b in "$@"; do
  [ -x "$b" ] || { echo "error: $b is not an executable" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ws="$work/ws"
mkdir -p "$ws"
ln "$big" "$ws/big.xml" 2>/dev/null || cp "$big" "$ws/big.xml"
for _ in $(seq "$runs"); do
  for b in "$@"; do
    rm -rf "$ws/.codeloop"
    sync
    sleep 0.3
    /usr/bin/time -o "$work/t" -f "%e %M %U %S" "$b" "$sub" --report big.xml --cwd "$ws" \
      >/dev/null 2>&1 || true
    echo "$b $(tail -1 "$work/t")"
  done
done | python3 -c '
import collections, statistics as st, sys
d = collections.defaultdict(list)
for line in sys.stdin:
    b, wall, rss, user, sys_ = line.split()
    d[b].append((float(wall), int(rss), float(user) + float(sys_)))
for b, v in d.items():
    w = sorted(x[0] for x in v)
    print(f"{b}: wall median {st.median(w):.3f} s (q1 {w[len(w) // 4]:.3f}),"
          f" CPU median {st.median(x[2] for x in v):.2f} s,"
          f" peak RSS median {st.median(x[1] for x in v) / 1024:.0f} MB")'
