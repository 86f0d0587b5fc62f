#!/usr/bin/env python3
"""Splits a big JUnit file (scripts/gen-big-junit.sh) into N shards of whole <testsuite>s.

    scripts/split-junit-shards.py SRC OUTDIR [N=4]

Writes OUTDIR/shard1.xml .. shardN.xml: each has SRC's first lines (the XML declaration and
the <testsuites> tag) and 1/N of the suites, names unchanged. Used by scripts/bench-loop.sh
and scripts/bench-merge-big.sh (the shards a merge of a CI matrix would see).
"""
import sys

src, out = sys.argv[1], sys.argv[2]
parts = int(sys.argv[3]) if len(sys.argv) > 3 else 4
lines = open(src, "rb").read().split(b"\n")
head = [l for l in lines[:3] if not l.lstrip().startswith(b"<testsuite ")][:2]
suites, cur = [], None
for l in lines:
    s = l.lstrip()
    if s.startswith(b"<testsuite "):
        cur = [l]
    elif cur is not None:
        cur.append(l)
        if s.startswith(b"</testsuite>"):
            suites.append(cur)
            cur = None
n = len(suites)
for k in range(parts):
    with open(f"{out}/shard{k + 1}.xml", "wb") as f:
        f.write(b"\n".join(head) + b"\n")
        for s in suites[k * n // parts:(k + 1) * n // parts]:
            f.write(b"\n".join(s) + b"\n")
        f.write(b"</testsuites>\n")
