# syntax=docker/dockerfile:1
# The image behind `uses: codeloop/codeloop-verify@v1` (and a GitLab job image).
#
# Base: Alpine. The binary is built for musl in the same family, so the final image is Alpine
# (~8 MB) + git + CA certificates + one ~16 MB binary: about 42 MB in all, against
# ~75 MB for debian:bookworm-slim before git. We need /bin/sh (GitLab runs job scripts with
# it), git (diff-aware features, GitLab jobs) and CA certificates (GitLab jobs that call
# curl; codeloop itself carries its own webpki roots and needs no CA store).

FROM rust:1.88-alpine3.20 AS build
RUN apk add --no-cache musl-dev~=1.2
WORKDIR /src

# Dependency-cache layer: build every dependency against an empty crate, so a source change
# only rebuilds codeloop itself.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && printf 'fn main() {}\n' > src/main.rs \
    && : > src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

COPY . .
# cargo compares mtimes: make sure the real sources are newer than the placeholders.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -m 0755 target/release/codeloop /usr/local/bin/codeloop \
    && /usr/local/bin/codeloop --version

FROM alpine:3.20
# Runs as root: GitHub requires it for Docker actions (the workspace is owned by the runner).
RUN apk add --no-cache ca-certificates~=20 git~=2.45
COPY --from=build /usr/local/bin/codeloop /usr/local/bin/codeloop
COPY scripts/docker-entrypoint.sh /usr/local/bin/codeloop-entrypoint
# GitHub runs `docker run IMAGE action`; GitLab runs `IMAGE sh -c '<job script>'`. The
# entrypoint hands known commands (and flags) to codeloop and anything else (a shell) to exec.
ENTRYPOINT ["/usr/local/bin/codeloop-entrypoint"]
CMD ["--help"]
