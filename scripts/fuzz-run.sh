#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for N seconds each, one after the other.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`); seed first
# with scripts/fuzz-seed.sh. The parsers contain no `unsafe`, so the targets are built without
# a sanitizer (`--sanitizer none`, ~2x the executions of ASan); debug assertions and overflow
# checks stay on (cargo-fuzz's default). Crash inputs land in fuzz/artifacts/<target>/, the
# libFuzzer log in fuzz/artifacts/<target>.log; a crash input worth keeping goes to
# fuzz/regressions/<target>/ (replayed by the normal test suite, tests/it/fuzz_replay.rs).
#
# Usage: scripts/fuzz-run.sh SECONDS [target...]
#   targets: sniff_auto xml_tests json_tests lines json_lint (default: all)
#   CARGO_TARGET_DIR picks the build directory (default: fuzz/target).
#   FUZZ_KEEP_GOING=1 keeps fuzzing after a crash (libFuzzer -fork=1 -ignore_crashes=1), to
#   collect every finding of a run at once; each crash still lands in fuzz/artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 4

secs=${1:?usage: scripts/fuzz-run.sh SECONDS [target...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sniff_auto xml_tests json_tests lines json_lint)
tdir=(--target-dir "${CARGO_TARGET_DIR:-fuzz/target}")

cargo +nightly fuzz build --sanitizer none "${tdir[@]}" || exit 4

extra=()
[ "${FUZZ_KEEP_GOING:-0}" = 1 ] && extra=(-fork=1 -ignore_crashes=1)

status=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  dirs=("fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  log=fuzz/artifacts/$t.log
  echo "== $t: ${secs}s (log: $log)"
  start=$(date +%s)
  cargo +nightly fuzz run --sanitizer none "${tdir[@]}" "$t" "${dirs[@]}" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=16385 \
    -print_final_stats=1 "${extra[@]}" >"$log" 2>&1
  rc=$?
  end=$(date +%s)
  # Plain mode prints final stats; fork mode only progress lines (`#N: cov: ...`).
  execs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
  echo "   exit $rc after $((end - start))s, ${execs:-?} executions"
  # Fork mode exits 0 after crashes it ignored: its last progress line counts them.
  forked=$(grep -o 'oom/timeout/crash: [0-9/]*' "$log" | tail -1)
  if [ -n "$forked" ] && [ "${forked##*: }" != 0/0/0 ]; then
    echo "   $forked"
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    status=1
    grep -e 'invariant violated' -e 'panicked at' -e '^==.*ERROR' "$log" | sort | uniq -c | head -20 | cut -c1-300
    find "fuzz/artifacts/$t" -type f -newermt "@$start" | sed 's|^|   artifact: |' | head -20
  fi
done
exit $status
