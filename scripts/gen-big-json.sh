#!/usr/bin/env bash
# Generates a large JSON / JSON Lines / TAP report (default ~200 MB) from REAL files of the
# corpus (tests/corpus), for scripts/../examples/json_bench.rs: the real test entries (passes,
# failures with real messages and traces, skips, captured output) are repeated with renamed
# names, so the file has the shape and the content mix of what the tool writes.
#
#   scripts/gen-big-json.sh KIND [OUT] [MB] [CORPUS]
#   KIND    pytest (pytest-json-report) | jest (Jest JSON) | go (go test -json) | tap (node:test TAP)
#   OUT     default: $CARGO_TARGET_DIR/big-KIND.{json,jsonl,tap} (or target/...)
#   MB      default: 200
#   CORPUS  default: tests/corpus (files stored there as X.gz are read decompressed)
#
# Deterministic: the same inputs always give the same bytes. Needs python3.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kind="${1:-}"
case "$kind" in
  pytest|jest) ext=json ;;
  go) ext=jsonl ;;
  tap) ext=tap ;;
  *) echo "usage: $0 pytest|jest|go|tap [OUT] [MB] [CORPUS]" >&2; exit 2 ;;
esac
out="${2:-${CARGO_TARGET_DIR:-$root/target}/big-$kind.$ext}"
mb="${3:-200}"
corpus="${4:-$root/tests/corpus}"
[ -f "$corpus/MANIFEST.tsv" ] || { echo "error: no corpus found at '$corpus'; pass its path as the 4th argument (MANIFEST.tsv missing)" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
python3 - "$kind" "$out" "$mb" "$corpus" <<'PY'
import json, os, sys
kind, out, mb, corpus = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def read_corpus(rel, mode="rb"):
    """A corpus file, stored as it is or as X.gz (tests/corpus/README.md)."""
    import gzip
    p = os.path.join(corpus, rel)
    data = open(p, "rb").read() if os.path.exists(p) else gzip.open(p + ".gz").read()
    return data if mode == "rb" else data.decode("utf-8")
target = mb * 1_000_000
with open(out, "w", encoding="utf-8") as f:
    if kind == "pytest":
        doc = json.loads(read_corpus("generated/pytest/mixed.pytest-json-report.json"))
        tests = doc.pop("tests")
        head = json.dumps(doc)[:-1]
        f.write(head + ', "tests": [\n')
        written, i, n = len(head), 0, 0
        while written < target:
            for t in tests:
                t = dict(t)
                t["nodeid"] = t["nodeid"].replace("tests/test_mixed.py", f"tests/test_mod{i}.py")
                s = json.dumps(t)
                f.write((",\n" if n else "") + s)
                written += len(s) + 2
                n += 1
            i += 1
        f.write("\n]}\n")
    elif kind == "jest":
        doc = json.loads(read_corpus("generated/jest/mixed.jest.json"))
        files = doc.pop("testResults")
        head = json.dumps(doc)[:-1]
        f.write(head + ', "testResults": [\n')
        written, i = len(head), 0
        while written < target:
            for r in files:
                r = dict(r)
                r["name"] = r["name"].replace("mixed.spec.js", f"mixed{i}.spec.js")
                s = json.dumps(r)
                f.write((",\n" if i else "") + s)
                written += len(s) + 2
            i += 1
        f.write("\n]}\n")
    elif kind == "go":
        lines = read_corpus("generated/go-test/calc-mixed.go-test.jsonl", "r").splitlines()
        written, i = 0, 0
        while written < target:
            for l in lines:
                s = l.replace("example.com/corpus/calc", f"example.com/corpus/calc{i}") + "\n"
                f.write(s)
                written += len(s)
            i += 1
    elif kind == "tap":
        text = read_corpus("generated/node-test/mixed.node-tap.tap", "r").splitlines()
        # The top-level points of one copy, renumbered; summary comments and plan dropped.
        body = [l for l in text[1:] if not (l.startswith("# ") and l.split()[1] in
                ("tests", "suites", "pass", "fail", "cancelled", "skipped", "todo", "duration_ms"))
                and not l.startswith("1..")]
        f.write("TAP version 13\n")
        written, i, top = 0, 0, 0
        while written < target:
            for l in body:
                if l.startswith("ok ") or l.startswith("not ok "):
                    top += 1
                    ok, rest = ("not ok", l[7:]) if l.startswith("not ok") else ("ok", l[3:])
                    rest = rest.split(" ", 1)[1] if " " in rest else ""
                    l = f"{ok} {top} {rest} #{i}" if not rest.startswith("- ") else f"{ok} {top} {rest} {i}"
                s = l + "\n"
                f.write(s)
                written += len(s)
            i += 1
        f.write(f"1..{top}\n")
print(out)
PY
