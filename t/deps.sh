#!/bin/sh
# Install what gatehouse needs to build, test and benchmark, from Debian
# (run as root). Used by the README commands and by .ci/run.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config ca-certificates \
    libssl-dev zlib1g-dev libbrotli-dev libzstd-dev libconfig-dev check libpcre2-dev libnghttp2-dev libjansson-dev \
    clang libclang-rt-14-dev \
    python3 python3-pytest curl openssl procps \
    logrotate brotli zstd \
    nginx-light wrk valgrind >/dev/null
