#!/bin/sh
# The demo's "build": checks that every source the tests need is present.
set -eu
echo "building codeloop-demo"
for f in tests/test_mixed.py js/spec/mixed.spec.js; do
  test -f "$f" || { echo "missing source: $f" >&2; exit 1; }
  echo "  ok $f"
done
echo "build finished"
