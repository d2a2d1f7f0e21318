#!/bin/sh
# Install what gatehouse needs to build, test and benchmark, from Debian
# (run as root). Used by the README commands and by .ci/run.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config ca-certificates \
    libssl-dev zlib1g-dev libconfig-dev check libpcre2-dev libnghttp2-dev libjansson-dev \
    clang libclang-rt-14-dev \
    python3 python3-pytest python3-h2 curl openssl procps nghttp2-client \
    nginx-light wrk valgrind >/dev/null
