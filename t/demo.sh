#!/bin/sh
# The README's first command: install the dependencies (Debian, as root),
# build gatehouse, start two demo backends on 127.0.0.1:9001 and :9002, and
# run gatehouse in the foreground on etc/gatehouse.conf (port 8080).
# Ctrl-C stops gatehouse and the backends.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && [ "${GH_SKIP_DEPS:-0}" != 1 ]; then
    sh t/deps.sh
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"
mkdir -p logs
sh t/backends/demo.sh stop >/dev/null 2>&1 || true
PYTHON=/usr/bin/python3 sh t/backends/demo.sh start
trap 'sh t/backends/demo.sh stop' EXIT INT TERM
echo "gatehouse on http://127.0.0.1:8080/ (Ctrl-C to stop)"
build/gatehouse -c etc/gatehouse.conf -p .
