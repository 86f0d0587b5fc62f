#!/usr/bin/env bash
# Regenerates docs/comment.png (the sticky comment as GitHub shows it), docs/summary.png and
# docs/badge-{pass,warn,fail}.png from the demo run of tests/it/report.rs (which has a CI
# context, so file:line are links), and docs/comment-demo.png from examples/demo run through
# `codeloop ci`.
#
# Needs: cargo, python3 (markdown-it-py is installed into a temporary venv, not the project),
# and chromium (Debian: apt-get install -y chromium fonts-noto-color-emoji).
# Usage: scripts/report-screenshots.sh        (CARGO_TARGET_DIR is respected)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$root"
cargo build --quiet --bin codeloop
CODELOOP_DOCS_OUT="$work/demo" cargo test --quiet --test it report::write_docs_demo -- --ignored >/dev/null
"$target/debug/codeloop" report --artifacts-dir "$work/demo" --cwd "$work/demo" --comment --summary >/dev/null
run="$(ls -d "$work"/demo/runs/*/ | head -1)"
# The real examples/demo project through the whole loop (verify → diagnose → gate → report).
cp -r examples/demo "$work/example" && rm -rf "$work/example/.codeloop/runs"
"$target/debug/codeloop" ci --cwd "$work/example" >/dev/null 2>&1 || true
example="$(ls -d "$work"/example/.codeloop/runs/2*/ | tail -1)"

python3 -m venv "$work/venv" >/dev/null
"$work/venv/bin/pip" install --quiet markdown-it-py linkify-it-py
cat > "$work/render.py" <<'PY'
import sys, html
from markdown_it import MarkdownIt
md = MarkdownIt("commonmark", {"html": True, "linkify": True}).enable(["table", "strikethrough", "linkify"])
src, dst, title, open_first = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
body = md.render(open(src, encoding="utf-8").read())
if open_first:
    body = body.replace("<details>", "<details open>", 1)
css = """
body{margin:0;background:#fff;font-family:-apple-system,BlinkMacSystemFont,"Segoe UI","Noto Sans",Helvetica,Arial,sans-serif,"Noto Color Emoji";font-size:14px;line-height:1.5;color:#1f2328}
.box{margin:16px;border:1px solid #d1d9e0;border-radius:6px;max-width:880px}
.hdr{background:#f6f8fa;border-bottom:1px solid #d1d9e0;padding:8px 16px;color:#59636e;border-radius:6px 6px 0 0}
.md{padding:16px}
h1,h2,h3{margin:16px 0 8px;font-weight:600;line-height:1.25} h2{font-size:1.5em;border-bottom:1px solid #d1d9e0;padding-bottom:.3em} h3{font-size:1.25em}
p,ul,table,details,pre{margin:0 0 16px}
a{color:#0969da;text-decoration:none}
code{font-family:ui-monospace,SFMono-Regular,"DejaVu Sans Mono",Menlo,monospace;font-size:85%;background:#818b981f;padding:.2em .4em;border-radius:6px}
pre{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:85%;background:#f6f8fa;padding:16px;border-radius:6px;overflow:auto;white-space:pre}
table{border-collapse:collapse} th,td{border:1px solid #d1d9e0;padding:6px 13px} th{font-weight:600} tr:nth-child(2n){background:#f6f8fa}
summary{cursor:pointer} sub{color:#59636e}
"""
open(dst, "w", encoding="utf-8").write(
    f"<!doctype html><meta charset=utf-8><style>{css}</style>"
    f"<div class=box><div class=hdr><b>codeloop-verify</b> bot commented · {html.escape(title)}</div>"
    f"<div class=md>{body}</div></div>")
PY

shot() { # html png width height
  chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$(mktemp -d -p "$work")" \
    --screenshot="$2" --window-size="$3,$4" "file://$1" >/dev/null 2>&1
}
"$work/venv/bin/python" "$work/render.py" "$run/report/comment.md" "$work/comment.html" "sticky comment" 0
"$work/venv/bin/python" "$work/render.py" "$run/report/comment.md" "$work/comment-open.html" "sticky comment, first failure expanded" 1
"$work/venv/bin/python" "$work/render.py" "$run/report/summary.md" "$work/summary.html" "job summary" 0
"$work/venv/bin/python" "$work/render.py" "$example/report/comment.md" "$work/example.html" "examples/demo via codeloop ci" 0
shot "$work/comment.html" "$root/docs/comment.png" 920 900
shot "$work/example.html" "$root/docs/comment-demo.png" 920 1000
shot "$work/comment-open.html" "$root/docs/comment-expanded.png" 920 1100
shot "$work/summary.html" "$root/docs/summary.png" 920 1400
for b in pass warn fail; do cp "$work/demo/badge-$b.png" "$work/demo/badge-$b.svg" "$root/docs/"; done
echo "wrote docs/comment.png docs/comment-demo.png docs/comment-expanded.png docs/summary.png docs/badge-{pass,warn,fail}.{png,svg}"
