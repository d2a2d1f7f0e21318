#!/bin/sh
# Install what gatehouse needs to build, test and benchmark, from Debian
# (run as root). Used by the README commands and by .ci/run. chromium (headless)
# loads the admin dashboard in t/integ/test_dashboard.py.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# haproxy is for t/bench/tls.sh only: if this run installs it, its package must not leave a
# system haproxy running (Debian's postinst starts the service where policy-rc.d allows it)
had_haproxy=no
dpkg-query -W -f='${Status}' haproxy 2>/dev/null | grep -q 'ok installed' && had_haproxy=yes
apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config ca-certificates \
    libssl-dev zlib1g-dev libbrotli-dev libzstd-dev libconfig-dev check libpcre2-dev libnghttp2-dev libjansson-dev \
    clang libclang-rt-14-dev \
    python3 python3-pytest python3-h2 curl openssl procps nghttp2-client \
    logrotate brotli zstd \
    nginx-light haproxy wrk valgrind chromium fonts-liberation >/dev/null
if [ "$had_haproxy" = no ]; then
    if command -v systemctl >/dev/null && systemctl is-active --quiet haproxy 2>/dev/null; then
        systemctl stop haproxy
    elif [ -s /run/haproxy.pid ]; then
        pid=$(cat /run/haproxy.pid)
        if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = haproxy ]; then kill "$pid"; fi
    fi
fi
