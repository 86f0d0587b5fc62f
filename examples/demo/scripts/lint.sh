#!/bin/sh
# The demo's linter: prints findings in the generic `file:line:col: severity: message` form
# that codeloop's generic-lint parser reads (the form gcc, shellcheck -f gcc and many others use).
echo "js/spec/mixed.spec.js:14:5: error: expected an assignment or function call and instead saw an expression [no-unused-expressions]"
echo "tests/test_mixed.py:1:1: warning: 'sys' imported only for one skip marker [unused-import]"
exit 1
