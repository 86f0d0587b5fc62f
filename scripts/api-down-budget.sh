#!/bin/sh
# Measures how long `codeloop action` takes when the GitHub API is down for the whole run,
# with the DEFAULT retry policy (5 attempts, backoff 1+2+4+8 s, 60 s budget per request).
# Two cases: connection refused (a closed port) and a black hole (a port that accepts and
# never answers: connect succeeds, every read times out after 30 s; skipped unless
# BLACKHOLE=1 because it takes minutes by design).
#
#   scripts/api-down-budget.sh [path/to/codeloop]
#
# Expected (docs/github-action.md): refused → ~15 s for the previous comment + ~15 s for the
# sticky comment, exit 0 for a passing gate, the verdict printed and in the job summary.
set -eu
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/codeloop}
[ -x "$BIN" ] || { echo "build first: cargo build --release (or pass the binary)" >&2; exit 2; }
T=$(mktemp -d)
trap 'rm -rf "$T"; [ -n "${HOLE:-}" ] && kill "$HOLE" 2>/dev/null || true' EXIT
mkdir -p "$T/p/.codeloop"
cat > "$T/p/.codeloop/plugins.json" <<'JSON'
{"runners": [{"id": "t", "kind": "test", "command": "printf '<testsuite name=\"s\" tests=\"1\"><testcase name=\"a\"/></testsuite>' > {runner_dir}/r.xml", "result_file": "{runner_dir}/r.xml", "result_format": "junit-xml"}]}
JSON
cat > "$T/event.json" <<'JSON'
{"number": 1, "pull_request": {"number": 1, "head": {"sha": "abc", "ref": "f", "repo": {"full_name": "octo/app"}}, "base": {"sha": "b", "ref": "main", "repo": {"full_name": "octo/app"}}}, "repository": {"full_name": "octo/app"}}
JSON
run() {
  : > "$T/summary.md"; : > "$T/out.txt"
  start=$(date +%s.%N)
  set +e
  env -i PATH="$PATH" CI=true GITHUB_ACTIONS=true GITHUB_REPOSITORY=octo/app \
    GITHUB_API_URL="$1" GITHUB_EVENT_NAME=pull_request GITHUB_EVENT_PATH="$T/event.json" \
    GITHUB_REF=refs/pull/1/merge GITHUB_SHA=abc GITHUB_WORKSPACE="$T/p" \
    GITHUB_STEP_SUMMARY="$T/summary.md" GITHUB_OUTPUT="$T/out.txt" \
    INPUT_GITHUB-TOKEN=ghs_x INPUT_CHECK-RUN=true "$BIN" action > "$T/log" 2>&1
  rc=$?
  set -e
  end=$(date +%s.%N)
  printf '%-22s exit %s  %6.1f s  summary: %s  warnings: %s\n' "$2" "$rc" \
    "$(echo "$end - $start" | bc)" \
    "$(grep -c 'codeloop: passed' "$T/summary.md" || true) verdict line(s)" \
    "$(grep -c '^warning: GitHub API' "$T/log" || true)"
}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run "http://127.0.0.1:$PORT" "connection refused"
if [ "${BLACKHOLE:-0}" = 1 ]; then
  python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",0)); s.listen(64)
print(s.getsockname()[1], flush=True)
conns=[]
while True: conns.append(s.accept())' > "$T/hole" &
  HOLE=$!
  sleep 0.5
  run "http://127.0.0.1:$(head -1 "$T/hole")" "black hole"
fi
