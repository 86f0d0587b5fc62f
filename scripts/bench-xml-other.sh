#!/usr/bin/env bash
# Throughput (MB/s) and peak RSS of the TRX, NUnit, xUnit.net, Catch2 XML and checkstyle
# parsers on generated files, next to a bare quick-xml event pass over the same file.
# Seconds and MB/s are CPU time (user + system, from GNU time), as in benches/parse.rs: on a
# shared machine wall time mostly measures the neighbours.
#
#   scripts/bench-xml-other.sh [CASES]      (default 1000000 cases per format)
#
# Files go to ${BENCH_DIR:-/tmp/codeloop-bench-xml}; the figures are printed as a Markdown
# table ready for BENCHMARKS.md. Needs python3 and GNU time (/usr/bin/time).
set -euo pipefail

cases="${1:-1000000}"
dir="${BENCH_DIR:-/tmp/codeloop-bench-xml}"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$dir"

cargo bench --manifest-path "$root/Cargo.toml" --bench xml_other --no-run >/dev/null 2>&1
bin="$(ls -t "${CARGO_TARGET_DIR:-$root/target}"/release/deps/xml_other-* | grep -v '\.d$' | head -1)"

echo "| format | file | parse CPU s | parse MB/s | parse peak RSS | quick-xml floor CPU s | floor MB/s | floor peak RSS | ratio | counts |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for fmt in nunit trx xunit-net catch2-xml checkstyle; do
  n="$cases"
  # TRX writes ~1 KB per test (result + definition): fewer cases for a comparable size.
  [ "$fmt" = trx ] && n=$((cases / 5))
  file="$dir/bench-$n.$fmt.xml"
  [ -s "$file" ] || python3 "$root/scripts/gen-xml-other.py" "$fmt" "$n" "$file"
  mb=$(du -m "$file" | cut -f1)
  for mode in parse floor; do
    out=$(/usr/bin/time -f 'RSS %M CPU %U %S' "$bin" "$file" "$fmt" "$mode" 2>&1)
    rss_kb=$(echo "$out" | sed -n 's/^RSS \([0-9]*\) .*/\1/p')
    secs=$(echo "$out" | sed -n 's/^RSS [0-9]* CPU //p' | awk '{printf "%.2f", $1 + $2}')
    line=$(echo "$out" | grep -E '^(parse|floor) ')
    rate=$(awk -v b="$(stat -c %s "$file")" -v s="$secs" 'BEGIN {printf "%.0f", b / 1e6 / s}')
    if [ "$mode" = parse ]; then
      p_s=$secs; p_rate=$rate; p_rss="$((rss_kb / 1024)) MB"
      counts=$(echo "$line" | grep -oE 'tests=[0-9]+.*')
    else
      f_s=$secs; f_rate=$rate; f_rss="$((rss_kb / 1024)) MB"
    fi
  done
  ratio=$(awk -v p="$p_rate" -v f="$f_rate" 'BEGIN {printf "%.0f %%", 100 * p / f}')
  echo "| $fmt | ${mb} MB, $n cases | $p_s | $p_rate | $p_rss | $f_s | $f_rate | $f_rss | $ratio | $counts |"
done
