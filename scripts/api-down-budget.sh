#!/bin/sh
# Measures how long publishing takes when the GitHub API is down for the whole run, with the
# DEFAULT retry policy and the default publishing budget (20 s for all requests together).
# Three faults: connection refused (a closed port), a black hole (a port that accepts and
# never answers: every attempt waits its 8 s, the budget ends it), and an API answering 500
# to everything. Three shapes of a job, each timed whole:
#
#   action        `codeloop action` with `check-run: true` (every kind of request is tried)
#   ci+publish    the documented binary recipe: `codeloop ci`, then `codeloop publish`
#                 (ci sends no request; publish spends the budget)
#   ci-bl+publish the regression recipe: `codeloop ci --fail-on regression --baseline
#                 comment` (reads the previous comment through the API), then
#                 `codeloop publish` of the same run in the same job (GITHUB_RUN_ID/_JOB):
#                 the two share the run's budget through its publish-budget.json
#
#   scripts/api-down-budget.sh [path/to/codeloop]      REPS=3 for medians of 3 runs each
#
# Expected (docs/github-action.md): each job ≤ 20 s of publishing (plus the stages, well
# under a second here), exit 0 for the passing gate, the verdict printed and in the job
# summary, a warning per thing not published (for ci-bl+publish: publish's says that ci
# found the API down, and publish sends nothing).
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
REPS=${REPS:-1}
RUN_ID=1001
# The environment of one job of one workflow run (the same for every command of a shape).
job_env() {
  env -i PATH="$PATH" CI=true GITHUB_ACTIONS=true GITHUB_REPOSITORY=octo/app \
    GITHUB_API_URL="$API" GITHUB_EVENT_NAME=pull_request GITHUB_EVENT_PATH="$T/event.json" \
    GITHUB_REF=refs/pull/1/merge GITHUB_SHA=abc GITHUB_WORKSPACE="$T/p" \
    GITHUB_RUN_ID="$RUN_ID" GITHUB_RUN_ATTEMPT=1 GITHUB_JOB=test \
    GITHUB_STEP_SUMMARY="$T/summary.md" GITHUB_OUTPUT="$T/out.txt" "$@"
}
# One job of shape $1; prints its exit code and time.
job() {
  : > "$T/summary.md"; : > "$T/out.txt"; : > "$T/log"
  start=$(date +%s.%N)
  set +e
  case $1 in
    action)
      job_env INPUT_GITHUB-TOKEN=ghs_x INPUT_CHECK-RUN=true "$BIN" action >> "$T/log" 2>&1
      rc=$? ;;
    ci+publish)
      job_env GITHUB_TOKEN=ghs_x "$BIN" ci --cwd "$T/p" >> "$T/log" 2>&1
      job_env GITHUB_TOKEN=ghs_x "$BIN" publish --cwd "$T/p" >> "$T/log" 2>&1
      rc=$? ;;
    ci-bl+publish)
      job_env GITHUB_TOKEN=ghs_x "$BIN" ci --cwd "$T/p" --fail-on regression --baseline comment >> "$T/log" 2>&1
      job_env GITHUB_TOKEN=ghs_x "$BIN" publish --cwd "$T/p" >> "$T/log" 2>&1
      rc=$? ;;
  esac
  set -e
  end=$(date +%s.%N)
  echo "$rc $(echo "$end - $start" | bc)"
}
run() {
  API=$1 LABEL=$2
  for shape in action ci+publish ci-bl+publish; do
    times=""
    for _ in $(seq "$REPS"); do
      set -- $(job "$shape")
      rc=$1; times="$times $2"
    done
    median=$(echo "$times" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf '%-20s %-14s exit %s  median %5.1f s  (runs:%s)  summary: %s  warnings: %s\n' "$LABEL" "$shape" "$rc" \
      "$median" "$times" \
      "$(grep -c 'codeloop: passed' "$T/summary.md" || true) verdict line(s)" \
      "$(grep -c 'warning.*GitHub API' "$T/log" || true)"
  done
}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run "http://127.0.0.1:$PORT" "connection refused"
python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",0)); s.listen(64)
print(s.getsockname()[1], flush=True)
conns=[]
while True: conns.append(s.accept())' > "$T/hole" &
HOLE=$!
python3 -c 'import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self):
        b = b"{\"message\":\"Server Error\"}"
        self.send_response(500); self.send_header("content-length", str(len(b))); self.end_headers(); self.wfile.write(b)
    do_GET = do_POST = do_PATCH = do_DELETE = answer
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()' > "$T/five" &
FIVE=$!
trap 'rm -rf "$T"; kill "$HOLE" "$FIVE" 2>/dev/null || true' EXIT
sleep 0.5
run "http://127.0.0.1:$(head -1 "$T/hole")" "black hole"
run "http://127.0.0.1:$(head -1 "$T/five")" "500 to everything"
