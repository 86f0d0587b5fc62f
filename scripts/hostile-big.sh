#!/usr/bin/env bash
# Peak memory and time of the release binary on the biggest hostile reports of the hostile
# suite (tests/it/hostile.rs runs the same shapes with the debug binary), for BENCHMARKS.md's
# reliability section. Each input is generated here (nothing big is checked in), then
# `codeloop verify --report good.xml --report <input>` runs in a fresh workspace under
# GNU time; the table gives exit code, wall time, peak RSS and the input's size.
#
#   scripts/hostile-big.sh [WORKDIR]
#   WORKDIR  default: $CARGO_TARGET_DIR/hostile-big (or target/hostile-big); ~600 MB of files
#
# Inputs: the issue-3 file (~220 MB, 1,000,000 real testcases, scripts/gen-big-junit.sh),
# 1,000,000 minimal testcases, a 100 MB failure body, two 50 MB attributes, XML nested
# 1,000,000 deep, JSON nested 1,000,000 deep. Needs python3 and GNU time (/usr/bin/time).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
work="${1:-$target/hostile-big}"
[ -x /usr/bin/time ] || { echo "error: GNU time (/usr/bin/time) is required: apt-get install time" >&2; exit 2; }
(cd "$root" && cargo build --release --quiet)
bin="$target/release/codeloop"
mkdir -p "$work/in"
in="$work/in"

[ -f "$in/big-junit.xml" ] || "$root/scripts/gen-big-junit.sh" "$in/big-junit.xml" >/dev/null
python3 - "$in" <<'PY'
import os, sys
d = sys.argv[1]
def gen(name, fn):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        with open(p + ".tmp", "wb") as f:
            fn(f)
        os.rename(p + ".tmp", p)
def million(f):
    f.write(b'<testsuites><testsuite name="million">\n')
    for i in range(1_000_000):
        if i % 100_000 == 7:
            f.write(b'<testcase classname="c" name="t%d"><failure message="f"/></testcase>\n' % i)
        else:
            f.write(b'<testcase classname="c" name="t%d"/>\n' % i)
    f.write(b'</testsuite></testsuites>\n')
def message(f):
    f.write(b'<testsuite name="msg"><testcase classname="m" name="huge"><failure message="boom">')
    line = b"x" * 1023 + b"\n"
    for _ in range(100 * 1024):
        f.write(line)
    f.write(b"</failure></testcase></testsuite>\n")
def attrs(f):
    mb = b"N" * (1 << 20)
    f.write(b'<testsuite name="attr"><testcase classname="a" name="')
    for _ in range(50):
        f.write(mb)
    f.write(b'"/><testcase classname="a" name="s"><skipped message="')
    for _ in range(50):
        f.write(mb)
    f.write(b'"/></testcase></testsuite>\n')
def deep_xml(f):
    f.write(b'<testsuite name="d">' * 1_000_000 + b'</testsuite>' * 1_000_000)
def deep_json(f):
    f.write(b"[" * 1_000_000 + b"]" * 1_000_000)
gen("million-minimal.xml", million)
gen("message-100mb.xml", message)
gen("attributes-2x50mb.xml", attrs)
gen("deep-1m.xml", deep_xml)
gen("deep-1m.json", deep_json)
PY

cat > "$work/good.xml" <<'XML'
<testsuite name="good"><testcase classname="g" name="a"/><testcase classname="g" name="b"/></testsuite>
XML

printf '| input | size | exit | wall s | peak RSS |\n|---|---:|---:|---:|---:|\n'
for f in big-junit.xml million-minimal.xml message-100mb.xml attributes-2x50mb.xml deep-1m.xml deep-1m.json; do
  ws="$work/ws"
  rm -rf "$ws"
  mkdir -p "$ws"
  cp "$work/good.xml" "$ws/good.xml"
  ln "$in/$f" "$ws/$f" 2>/dev/null || cp "$in/$f" "$ws/$f"
  set +e
  /usr/bin/time -o "$work/time.txt" -f '%e %M' \
    "$bin" verify --cwd "$ws" --report good.xml --report "$f" >"$work/out.txt" 2>&1
  code=$?
  set -e
  # GNU time may prepend "Command exited with non-zero status N".
  read -r wall rss < <(tail -n 1 "$work/time.txt")
  size=$(du -m "$in/$f" | cut -f1)
  printf '| %s | %s MB | %s | %s | %.1f MB |\n' "$f" "$size" "$code" "$wall" "$(awk -v k="$rss" 'BEGIN{print k/1024}')"
  if grep -q "panicked at" "$work/out.txt"; then
    echo "error: codeloop panicked on $f:" >&2
    cat "$work/out.txt" >&2
    exit 1
  fi
done
rm -rf "$work/ws"
