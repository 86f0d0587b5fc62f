#!/usr/bin/env bash
# The whole `codeloop ci` on many small result files, as Maven Surefire or Gradle write them (one
# file per test class): FILES files of 20 cases each, one failure in ~1,000 cases, in a scratch
# git repository. Each build runs RUNS times, alternating; prints the median wall time and the
# peak RSS of each. A run of thousands of files must cost about what the same cases in one
# file cost: a per-file seam (a thread per file, a list searched per file) shows up here and
# not in bench-loop.sh's single big file.
#
#   scripts/bench-many-files.sh [FILES] [RUNS] [BIN...]
#   FILES  default: 5000        RUNS  default: 5
#   BIN    default: target/release/codeloop (give two to compare builds)
#
# Needs python3 and GNU time (/usr/bin/time).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
files="${1:-5000}"
runs="${2:-5}"
shift $(( $# > 2 ? 2 : $# ))
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$root/target/release/codeloop")
for i in "${!bins[@]}"; do bins[i]="$(realpath "${bins[i]}")"; done
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "error: no binary at '$b' (cargo build --release)" >&2; exit 2; }; done
ws="$(mktemp -d)"
trap 'rm -rf "$ws"' EXIT
mkdir -p "$ws/target/surefire-reports"
git -C "$ws" init -q
python3 - "$ws/target/surefire-reports" "$files" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    cls = f"com.acme.pkg{i % 50}.Service{i}Test"
    cases = []
    for j in range(20):
        if (i * 20 + j) % 997 == 0:
            cases.append(
                f'<testcase name="test{j}" classname="{cls}" time="0.01"><failure '
                f'message="expected 1 but was 2" type="org.opentest4j.AssertionFailedError">'
                f"org.opentest4j.AssertionFailedError: expected 1 but was 2\n"
                f"\tat {cls}.test{j}(Service{i}Test.java:{10 + j})\n</failure></testcase>")
        else:
            cases.append(f'<testcase name="test{j}" classname="{cls}" time="0.01"/>')
    with open(f"{out}/TEST-{cls}.xml", "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<testsuite name="{cls}" tests="20" failures="0" errors="0" skipped="0" time="0.2">\n'
                + "\n".join(cases) + "\n</testsuite>\n")
PY
echo "$files files, $((files * 20)) cases, $(du -sh "$ws/target/surefire-reports" | cut -f1), $runs runs per build"
declare -A walls rss
for ((r = 0; r < runs; r++)); do
    for b in "${bins[@]}"; do
        rm -rf "$ws/.codeloop"
        ( cd "$ws" && /usr/bin/time -f "%e %M" -o "$ws/t" "$b" ci --report 'target/surefire-reports/*.xml' >/dev/null 2>&1 ) || true
        # GNU time puts "Command exited with non-zero status 1" first: ci exits 1 (a failure).
        read -r w m < <(tail -n 1 "$ws/t")
        walls[$b]+="$w "
        rss[$b]="$m"
    done
done
for b in "${bins[@]}"; do
    median=$(tr ' ' '\n' <<<"${walls[$b]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$b: ci median ${median} s (runs: ${walls[$b]}), peak RSS ${rss[$b]} KB"
done
