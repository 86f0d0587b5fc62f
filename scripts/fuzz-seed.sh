#!/usr/bin/env bash
# Seeds the cargo-fuzz corpora fuzz/corpus/<target>/ from the result-file corpus tests/corpus/
# (MANIFEST.tsv says each file's format; files stored as X.gz are read decompressed), the lint fixtures in tests/fixtures/lint/, and the
# small hand-made seeds in fuzz/seeds/<registry-format>.<ext>. Each seed is prefixed with the
# selector byte that makes its family target parse it as its own format (see
# src/parsers/fuzzing.rs); every file is also a seed of `sniff_auto`, prefixed with the
# selector of its file name. Files over 16 KiB are cut to their first 16 KiB (a report cut
# mid-write is a good seed too, and big inputs slow libFuzzer down).
#
# Usage: scripts/fuzz-seed.sh [corpus-dir]   (default: tests/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."

corpus=${1:-tests/corpus}
if [ ! -f "$corpus/MANIFEST.tsv" ]; then
  echo "error: no corpus at '$corpus' (MANIFEST.tsv missing): restore tests/corpus with" \
    "\`git checkout -- tests/corpus\`, or pass a corpus directory as the first argument" >&2
  exit 2
fi

# registry format -> family target and selector byte. Must match the tables in
# src/parsers/fuzzing.rs (tests/it/fuzz_replay.rs checks every line of the form `sel ...`).
family() {
  case "$1" in
    junit-xml) sel xml_tests 0 ;;
    trx) sel xml_tests 1 ;;
    nunit) sel xml_tests 2 ;;
    xunit-net) sel xml_tests 3 ;;
    catch2-xml) sel xml_tests 4 ;;
    checkstyle) sel xml_tests 5 ;;
    pytest-json-report) sel json_tests 0 ;;
    rspec-json) sel json_tests 1 ;;
    jest-json) sel json_tests 2 ;;
    mocha-json) sel json_tests 3 ;;
    ctrf-json) sel json_tests 4 ;;
    libtest-json) sel json_tests 5 ;;
    googletest-json) sel json_tests 6 ;;
    dart-json) sel json_tests 7 ;;
    generic-json) sel json_tests 8 ;;
    go-test-json) sel lines 0 ;;
    tap) sel lines 1 ;;
    flake8) sel lines 2 ;;
    tsc) sel lines 3 ;;
    generic-lint) sel lines 4 ;;
    cargo-json) sel json_lint 0 ;;
    eslint-json) sel json_lint 1 ;;
    ruff-json) sel json_lint 2 ;;
    golangci-lint-json) sel json_lint 3 ;;
    rubocop-json) sel json_lint 4 ;;
    sarif) sel json_lint 5 ;;
    *) echo "" ;;
  esac
}
sel() { echo "$1 $2"; }

# file name -> sniff_auto selector (index in SNIFF_NAMES).
sniff_selector() {
  case "$1" in
    *.xml) echo 1 ;;
    *.json) echo 2 ;;
    *.trx) echo 3 ;;
    *.jsonl) echo 4 ;;
    *.tap) echo 5 ;;
    *.sarif) echo 6 ;;
    *.txt | *.log) echo 7 ;;
    *) echo 0 ;;
  esac
}

# The first 16 KiB of a corpus file, stored as it is or as X.gz.
head16k() {
  if [ -f "$1" ]; then
    head -c 16384 "$1"
  else
    # head stops reading early: gzip's SIGPIPE is not an error here.
    (set +o pipefail; gzip -dc "$1.gz" | head -c 16384)
  fi
}

n=0
# put <target> <selector> <source-file>
put() {
  local dir=fuzz/corpus/$1 out
  mkdir -p "$dir"
  out=$dir/$(printf '%s' "$3" | sha1sum | cut -c1-16)
  { printf '%b' "\\x$(printf %02x "$2")"; head16k "$3"; } >"$out"
  n=$((n + 1))
}

seed() { # seed <registry-format or empty> <file>
  local f=$2 fam
  put sniff_auto "$(sniff_selector "$f")" "$f"
  fam=$(family "$1")
  if [ -n "$fam" ]; then
    # shellcheck disable=SC2086
    put $fam "$f"
  fi
}

while IFS=$'\t' read -r path role format _; do
  [ "$role" = input ] || continue
  base=${format%% *} # `name  [producer]` or `name (detail)`
  case "$base" in
    nunit2-xml | nunit3-xml) reg=nunit ;;
    xunit-net-xml) reg=xunit-net ;;
    *) reg=$base ;;
  esac
  seed "$reg" "$corpus/$path"
done < <(tail -n +2 "$corpus/MANIFEST.tsv")

for f in tests/fixtures/lint/*; do
  name=$(basename "$f")
  case "$name" in
    README.md) continue ;;
    cargo-* | rustc-error.json) reg=cargo-json ;;
    *.sarif) reg=sarif ;;
    eslint*.json) reg=eslint-json ;;
    ruff.json) reg=ruff-json ;;
    flake8.txt) reg=flake8 ;;
    tsc*) reg=tsc ;;
    golangci*) reg=golangci-lint-json ;;
    rubocop.json) reg=rubocop-json ;;
    *) reg=generic-lint ;;
  esac
  seed "$reg" "$f"
done

seed generic-json docs/generic-json.example.json
for f in fuzz/seeds/*; do
  name=$(basename "$f")
  seed "${name%%.*}" "$f"
done

for t in sniff_auto xml_tests json_tests lines json_lint; do
  echo "fuzz/corpus/$t: $(find "fuzz/corpus/$t" -type f | wc -l) seeds"
done
echo "wrote $n seed files"
