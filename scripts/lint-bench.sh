#!/usr/bin/env bash
# Streaming check for the lint/build-output parsers: generates large lint reports (~100 MB
# each) whose bulk is not findings (ESLint's embedded `source`, cargo's compiler-artifact
# lines, SARIF code flows), parses each with examples/lint_parse.rs, and prints wall time,
# throughput and peak RSS. Memory should follow the findings kept, not the file size.
#
#   scripts/lint-bench.sh [OUT_DIR]
#   PROFILE=release scripts/lint-bench.sh   release build (full LTO build of every dependency)
#   PROFILE=opt scripts/lint-bench.sh       dev build with codeloop itself at opt-level 3
#                                           (dependencies stay at the dev profile's opt-level 1)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${TMPDIR:-/tmp}/codeloop-lint-bench}"
profile="${PROFILE:-dev}"
mkdir -p "$out"

[ -s "$out/big.sarif" ] || python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
pad = "const value = compute(input) + other; // filler line to make the file large\n" * 70

# ESLint: 20,000 files, each with its source embedded (as -f json does) and one message.
with open(os.path.join(out, "eslint-big.json"), "w") as f:
    f.write("[")
    for i in range(20000):
        if i: f.write(",")
        json.dump({"filePath": f"/w/src/m{i}.js", "messages": [{"ruleId": "no-unused-vars", "severity": 1 + i % 2, "message": f"'v{i}' is assigned a value but never used.", "line": 3, "column": 7, "endLine": 3, "endColumn": 9}], "suppressedMessages": [], "errorCount": i % 2, "fatalErrorCount": 0, "warningCount": 1 - i % 2, "fixableErrorCount": 0, "fixableWarningCount": 0, "source": pad, "usedDeprecatedRules": []}, f)
    f.write("]\n")

# cargo: 300,000 compiler-artifact lines and 5,000 diagnostics.
art = {"reason": "compiler-artifact", "package_id": "registry+https://example.invalid/index#dep@1.0.0", "manifest_path": "/home/u/.cargo/registry/src/dep-1.0.0/Cargo.toml", "target": {"kind": ["lib"], "crate_types": ["lib"], "name": "dep", "src_path": "/home/u/.cargo/registry/src/dep-1.0.0/src/lib.rs", "edition": "2021", "doc": True, "doctest": True, "test": True}, "profile": {"opt_level": "0", "debuginfo": 2, "debug_assertions": True, "overflow_checks": True, "test": False}, "features": ["default", "std"], "filenames": ["/w/target/debug/deps/libdep-0123456789abcdef.rlib"], "executable": None, "fresh": True}
with open(os.path.join(out, "cargo-big.json"), "w") as f:
    for i in range(305000):
        if i % 61 == 0:
            n = i // 61
            f.write(json.dumps({"reason": "compiler-message", "package_id": "path+file:///w#x@0.1.0", "target": {"kind": ["lib"], "name": "x"}, "message": {"message": f"unused variable: `v{n}`", "code": {"code": "unused_variables", "explanation": None}, "level": "warning", "spans": [{"file_name": f"src/m{n}.rs", "byte_start": 10, "byte_end": 12, "line_start": 2, "line_end": 2, "column_start": 9, "column_end": 11, "is_primary": True, "text": [], "label": None, "suggested_replacement": None, "suggestion_applicability": None, "expansion": None}], "children": [], "rendered": "warning: unused variable\n"}}) + "\n")
        else:
            f.write(json.dumps(art) + "\n")
    f.write('{"reason":"build-finished","success":true}\n')

# SARIF: one run, 20,000 results, each with a large code flow (as CodeQL writes).
flow = [{"threadFlows": [{"locations": [{"location": {"physicalLocation": {"artifactLocation": {"uri": f"src/f{k}.py"}, "region": {"startLine": k + 1, "snippet": {"text": "x = y" * 20}}}}} for k in range(40)]}]}]
with open(os.path.join(out, "big.sarif"), "w") as f:
    f.write('{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":[{"results":[')
    for i in range(20000):
        if i: f.write(",")
        json.dump({"ruleId": "py/sql-injection", "level": "error", "message": {"text": f"query built from user input {i}"}, "locations": [{"physicalLocation": {"artifactLocation": {"uri": f"src/app{i}.py"}, "region": {"startLine": 10, "startColumn": 5}}}], "codeFlows": flow}, f)
    f.write('],"tool":{"driver":{"name":"CodeQL","rules":[{"id":"py/sql-injection"}]}}}]}\n')
PY

if [ "$profile" = release ]; then
  cargo build --release --example lint_parse >&2
  bin="${CARGO_TARGET_DIR:-target}/release/examples/lint_parse"
elif [ "$profile" = opt ]; then
  CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo build --example lint_parse >&2
  bin="${CARGO_TARGET_DIR:-target}/debug/examples/lint_parse"
else
  cargo build --example lint_parse >&2
  bin="${CARGO_TARGET_DIR:-target}/debug/examples/lint_parse"
fi
echo "profile: $profile"
for f in eslint-big.json cargo-big.json big.sarif; do
  "$bin" "$out/$f"
done
