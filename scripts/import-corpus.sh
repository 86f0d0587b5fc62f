#!/usr/bin/env bash
# Rebuilds tests/corpus/ from a full copy of the result-file corpus (the one the team collected:
# MANIFEST.tsv, generated/, peers/ with SOURCES.tsv and LICENSE.upstream); its hand-written
# README.md, NOTICE and .gitattributes are kept. Kept so the trimmed copy in the repository can
# be refreshed the same way; the tests never run it.
#
#   scripts/import-corpus.sh SOURCE_CORPUS_DIR
#
# What is kept (what the tests read, see tests/corpus/README.md):
#   - every `input` row of MANIFEST.tsv (the conformance, diagnose and fuzz-replay tests walk
#     all of them), the `doc` rows, and the small `auxiliary` rows (<= 32 KiB: the XXE target
#     NUnit-sec1752-file.txt, pytest console tails, the CTRF schema); the peers' big file
#     lists for path mapping (files.txt) are left out;
#   - each generated file's oracle, X.expected.json (the counts of the tool's own summary);
#   - peers/SOURCES.tsv and every peers/<repo>/LICENSE.upstream.
#   The peers' own expected outputs (EnricoMi .results*, .annotations, dorny __outputs__ and
#   snapshots) are left out: their counts are already columns of MANIFEST.tsv.
# Files over 256 KiB are stored gzipped as X.gz (deterministic: no name, mtime 0); the tests
# (tests/it/common.rs) decompress them once into target/. MANIFEST.tsv keeps only the rows of
# the files kept, with their original paths (no .gz).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="${1:?usage: scripts/import-corpus.sh SOURCE_CORPUS_DIR}"
[ -f "$src/MANIFEST.tsv" ] || { echo "error: $src/MANIFEST.tsv is missing: pass the corpus directory (the one holding MANIFEST.tsv, generated/ and peers/)" >&2; exit 2; }
dst="$root/tests/corpus"
python3 - "$src" "$dst" <<'PY'
import gzip, os, shutil, sys

src, dst = sys.argv[1], sys.argv[2]
GZ_OVER = 256 * 1024
AUX_MAX = 32 * 1024

for sub in ("generated", "peers"):
    shutil.rmtree(os.path.join(dst, sub), ignore_errors=True)
os.makedirs(dst, exist_ok=True)

def put(rel):
    s = os.path.join(src, rel)
    data = open(s, "rb").read()
    d = os.path.join(dst, rel)
    os.makedirs(os.path.dirname(d), exist_ok=True)
    if len(data) > GZ_OVER:
        with open(d + ".gz", "wb") as f:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as g:
                g.write(data)
    else:
        with open(d, "wb") as f:
            f.write(data)

lines = open(os.path.join(src, "MANIFEST.tsv"), encoding="utf-8").read().splitlines()
header = lines[0].split("\t")
col = {h: i for i, h in enumerate(header)}
kept = [lines[0]]
for line in lines[1:]:
    f = line.split("\t")
    path, role = f[col["path"]], f[col["role"]]
    size = os.path.getsize(os.path.join(src, path))
    if role in ("input", "doc") or (role == "auxiliary" and size <= AUX_MAX):
        put(path)
        kept.append(line)
        oracle = path + ".expected.json"
        if path.startswith("generated/") and os.path.isfile(os.path.join(src, oracle)):
            put(oracle)
with open(os.path.join(dst, "MANIFEST.tsv"), "w", encoding="utf-8") as f:
    f.write("\n".join(kept) + "\n")

put("peers/SOURCES.tsv")
for repo in sorted(os.listdir(os.path.join(src, "peers"))):
    lic = os.path.join("peers", repo, "LICENSE.upstream")
    if os.path.isfile(os.path.join(src, lic)):
        put(lic)
print(f"tests/corpus: {len(kept) - 1} manifest rows kept")
PY
du -sh "$dst"
