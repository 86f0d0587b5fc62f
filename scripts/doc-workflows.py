#!/usr/bin/env python3
"""Writes the complete GitHub workflows the docs show (README.md, docs/*.md: fenced yaml
blocks with `on:` and `jobs:`) to OUT_DIR for actionlint, and checks that every `with:` key
given to codeloop/codeloop-verify in the docs and the example workflows is an input of
action.yml. Users copy these blocks as they are: a YAML error or a misspelled input there is a
broken workflow. Exits 1 naming the file and line of each unknown input."""
import glob
import os
import re
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for old in glob.glob(os.path.join(out, "*.yml")):
    os.remove(old)

action = open("action.yml", encoding="utf-8").read()
block = action.split("\ninputs:\n", 1)[1].split("\noutputs:\n", 1)[0]
inputs = set(re.findall(r"^  ([A-Za-z0-9_-]+):\s*$", block, re.M))

docs = ["README.md"] + sorted(glob.glob("docs/*.md"))
for path in docs:
    text = open(path, encoding="utf-8").read()
    for i, m in enumerate(re.finditer(r"```ya?ml\n(.*?)```", text, re.S)):
        body = m.group(1)
        if re.search(r"^on:", body, re.M) and re.search(r"^jobs:", body, re.M):
            name = path.replace("/", "_").removesuffix(".md") + f"_{i}.yml"
            with open(os.path.join(out, name), "w", encoding="utf-8") as f:
                f.write(body)

bad = 0
for path in docs + sorted(glob.glob("examples/workflows/*.yml")):
    lines = open(path, encoding="utf-8").read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)(- )?uses: codeloop/codeloop-verify@\S+", line)
        if not m:
            continue
        indent = len(m.group(1)) + (2 if m.group(2) else 0)
        j = i + 1
        # The step's own keys sit at `indent`; `with:`'s keys two deeper.
        while j < len(lines):
            s = lines[j]
            if not s.strip() or s.strip().startswith("#"):
                j += 1
                continue
            at = len(s) - len(s.lstrip())
            if at < indent or (at == indent and s.lstrip().startswith("- ")):
                break
            if at == indent and s.strip() == "with:":
                k = j + 1
                while k < len(lines):
                    w = lines[k]
                    if w.strip() and not w.strip().startswith("#"):
                        wat = len(w) - len(w.lstrip())
                        if wat <= indent:
                            break
                        key = re.match(r"\s*([A-Za-z0-9_-]+):", w)
                        if wat == indent + 2 and key and key.group(1) not in inputs:
                            print(f"{path}:{k + 1}: `{key.group(1)}` is not an input of action.yml")
                            bad += 1
                    k += 1
            j += 1
sys.exit(1 if bad else 0)
