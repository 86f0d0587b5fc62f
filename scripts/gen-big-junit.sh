#!/usr/bin/env bash
# Generates a large JUnit XML file (default ~200 MB, 1,000,000 testcases) from REAL suites of
# the corpus (tests/corpus): real <testcase> elements (passes, failures with real stack traces, errors,
# skips, flaky reruns, captured output) are repeated with renamed names/classnames, wrapped in
# <testsuite>s of 1,000 cases under one <testsuites> root.
#
#   scripts/gen-big-junit.sh [OUT] [CASES] [CORPUS]
#   OUT     default: $CARGO_TARGET_DIR/big-junit.xml (or target/big-junit.xml)
#   CASES   default: 1000000
#   CORPUS  default: tests/corpus (files stored there as X.gz are read decompressed)
#
# Deterministic: the same inputs always give the same bytes. Needs python3.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-${CARGO_TARGET_DIR:-$root/target}/big-junit.xml}"
cases="${2:-1000000}"
corpus="${3:-$root/tests/corpus}"
[ -f "$corpus/MANIFEST.tsv" ] || { echo "error: no corpus found at '$corpus'; pass its path as the 3rd argument (MANIFEST.tsv missing)" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
python3 - "$out" "$cases" "$corpus" <<'PY'
import re, sys, os
out, n, corpus = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def read_corpus(rel, mode="rb"):
    """A corpus file, stored as it is or as X.gz (tests/corpus/README.md)."""
    import gzip
    p = os.path.join(corpus, rel)
    data = open(p, "rb").read() if os.path.exists(p) else gzip.open(p + ".gz").read()
    return data if mode == "rb" else data.decode("utf-8")
# Real suites of several dialects (all well-formed in the manifest).
sources = [
    "peers/test-reporter/__tests__/fixtures/external/jest/jest-test-results.xml",
    "peers/test-reporter/__tests__/fixtures/external/java/pulsar-test-report.xml",
    "generated/pytest/mixed.junit-xunit2.xml",
    "generated/pytest/all.junit-xunit2.xml",
    "generated/go-test/calc-mixed.gotestsum-junit.xml",
    "generated/phpunit/mixed.phpunit-junit.xml",
    "generated/phpunit/all.phpunit-junit.xml",
    "generated/rspec/mixed.rspec-junit.xml",
    "generated/jest/mixed.jest-junit.xml",
    "peers/action-junit-report/test_results/maven_surefire_flaky/surefire-report.xml",
    "peers/action-junit-report/test_results/tests/email/target/surefire-reports/TEST-action.surefire.report.email.EmailAddressTest.xml",
    "peers/publish-unit-test-result-action/python/test/files/junit-xml/pytest/junit.gloo.standalone.xml",
]
case_re = re.compile(rb"<testcase\b(?:[^>]*/>|.*?</testcase>)", re.S)
pool = []
for s in sources:
    data = read_corpus(s)
    found = case_re.findall(data)
    if not found:
        sys.exit(f"error: no testcases in {s}")
    pool.extend(found)
name_re = re.compile(rb'(\bname=")([^"]*)(")')
cls_re = re.compile(rb'(\bclassname=")([^"]*)(")')
per_suite = 1000
with open(out, "wb", buffering=1 << 20) as f:
    f.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="big">\n')
    i = 0
    while i < n:
        f.write(b'  <testsuite name="big.suite%d" time="1.0">\n' % (i // per_suite))
        for _ in range(min(per_suite, n - i)):
            c = pool[i % len(pool)]
            k = i // len(pool)
            c = name_re.sub(lambda m: m.group(1) + m.group(2) + b" #%d" % k + m.group(3), c, count=1)
            c = cls_re.sub(lambda m: m.group(1) + m.group(2) + b".r%d" % (k % 97) + m.group(3), c, count=1)
            f.write(b"    " + c + b"\n")
            i += 1
        f.write(b"  </testsuite>\n")
    f.write(b"</testsuites>\n")
size = os.path.getsize(out)
print(f"wrote {out}: {n} testcases from {len(pool)} real ones, {size/1e6:.1f} MB")
PY
