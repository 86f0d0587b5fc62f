#!/usr/bin/env bash
# The container contract without Docker: the codeloop binary must work in a root that holds
# nothing but itself, its libc and the run files — no CA store (/etc/ssl), no fonts, no
# /etc at all. We build such a root, enter it with `unshare -r` + chroot (no privileges
# needed), and check that:
#   1. `codeloop --version` runs;
#   2. `codeloop publish --forge none` renders and prints a run's comment;
#   3. an HTTPS publish gets as far as connecting (the TLS client is built from the bundled
#      webpki roots; with a system-CA-store client it would fail before connecting).
#
# Usage: scripts/container-contract.sh [path/to/codeloop]   (default: the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-${CARGO_TARGET_DIR:-target}/release/codeloop}"
[[ -x "$bin" ]] || { echo "error: no executable at $bin (build it: cargo build --release)" >&2; exit 2; }
UNSHARE="$(command -v unshare)"; CHROOT="$(command -v chroot)"
"$UNSHARE" -r true 2>/dev/null || { echo "skip: user namespaces are not available here" >&2; exit 77; }

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
cp "$bin" "$root/codeloop"
# The dynamic loader and libc the binary links (none for a static musl build).
if ldd "$bin" >/dev/null 2>&1; then
    # A static-pie binary passes ldd with no path to copy: grep finding none is fine.
    ldd "$bin" | { grep -o '/[^ ]*' || true; } | while read -r lib; do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
fi

run="$root/work/.codeloop/runs/20261122T000000000Z-0001"
mkdir -p "$run/report"
cat > "$run/gate.json" <<'JSON'
{"schema_version": 1, "run_id": "20261122T000000000Z-0001", "verdict": "fail", "score": 61.5,
 "components": [], "rules": [], "reasons": ["1 test failed"],
 "counts": {"tests": 3, "passed": 2, "failed": 1, "errored": 0, "skipped": 0, "flaky": 0}}
JSON
printf '<!-- codeloop-verify:v1 -->\n## codeloop contract check: 1 failed\n' > "$run/report/comment.md"
printf '{"schema_version":1,"run_id":"20261122T000000000Z-0001","tool":"codeloop","tool_version":"0","started_at":"","finished_at":"","status":"failed","files":[]}\n' > "$run/manifest.json"
printf '{"pull_request":{"number":1,"head":{"sha":"abc","repo":{"full_name":"o/r"}},"base":{"repo":{"full_name":"o/r"}}}}' > "$root/work/event.json"

inroot() { "$UNSHARE" -r "$CHROOT" "$root" /codeloop "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[[ ! -e "$root/etc/ssl" && ! -e "$root/usr/share/fonts" ]] || fail "the root is not empty"

out="$(inroot --version)" || fail "--version did not run"
[[ "$out" == codeloop* ]] || fail "--version printed: $out"
echo "ok: $out"

out="$(env -i "$UNSHARE" -r "$CHROOT" "$root" /codeloop publish --from /work/.codeloop/runs/20261122T000000000Z-0001 --forge none)" \
    || fail "publish --forge none failed"
grep -q "contract check: 1 failed" <<<"$out" || fail "the comment was not printed: $out"
echo "ok: publish --forge none printed the comment"

# Port 9 (discard) on loopback: nothing listens, so the request must fail while connecting.
err="$(env -i GITHUB_REPOSITORY=o/r GITHUB_TOKEN=not-a-real-token-123 GITHUB_EVENT_NAME=pull_request \
    GITHUB_EVENT_PATH=/work/event.json GITHUB_API_URL=https://127.0.0.1:9 CODELOOP_RETRY_BASE_MS=10 \
    "$UNSHARE" -r "$CHROOT" "$root" /codeloop publish --from /work/.codeloop/runs/20261122T000000000Z-0001 2>&1 >/dev/null)" || true
grep -qi "certificate\|cannot set up the GitHub client" <<<"$err" && fail "TLS setup needs a CA store: $err"
grep -q "GET https://127.0.0.1:9/" <<<"$err" || fail "no connection attempt: $err"
grep -q "not-a-real-token-123" <<<"$err" && fail "the token was logged"
echo "ok: HTTPS client built without a CA store (connection attempt: refused as expected)"
echo "container contract: ok"
