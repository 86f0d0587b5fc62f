#!/bin/sh
# Measures how long `codeloop action` takes when the GitHub API is down for the whole run,
# with the DEFAULT retry policy and the default publishing budget (20 s for all requests
# together). Three cases: connection refused (a closed port), a black hole (a port that
# accepts and never answers: every attempt waits its 8 s, the budget ends it), and an API
# answering 500 to everything. The check run is asked for too, so every kind of request
# would be tried.
#
#   scripts/api-down-budget.sh [path/to/codeloop]
#
# Expected (docs/github-action.md): each case ≤ 20 s of publishing (plus the stages, well
# under a second here), exit 0 for the passing gate, the verdict printed and in the job
# summary, one warning per thing not published.
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
    "$(grep -c 'warning.*GitHub API' "$T/log" || true)"
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
