#!/bin/sh
# Entrypoint of the codeloop image. As a GitHub Docker action the container gets `action`
# (see action.yml); as a GitLab job image it gets a shell command (`sh -c ...`). So: an
# argument that names a program on PATH (and is not a codeloop command) is executed as is;
# everything else goes to codeloop.
set -e
case "${1:-}" in
    "" | -* | action | publish | verify | diagnose | gate-check | report | ci | merge | status | history | init | doctor | formats | notify | mcp | dashboard | help)
        exec codeloop "$@"
        ;;
esac
if command -v -- "$1" >/dev/null 2>&1; then
    exec "$@"
fi
exec codeloop "$@"
