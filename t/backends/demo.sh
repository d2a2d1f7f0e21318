#!/bin/sh
# Start or stop the two demo backends of the README (the sample config names
# them): "a" on 127.0.0.1:9001 and "b" on 127.0.0.1:9002. These are the only
# fixed ports in t/; the tests always use port 0.
#
#   t/backends/demo.sh start     # background, pids in $GH_DEMO_DIR/backends.pid
#   t/backends/demo.sh stop      # stops exactly those pids
#   t/backends/demo.sh status
#
# GH_DEMO_DIR defaults to ${TMPDIR:-/tmp}/gatehouse-demo; the request logs
# (one JSON line per request) are written there as a.log and b.log.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dir=${GH_DEMO_DIR:-${TMPDIR:-/tmp}/gatehouse-demo}
pidfile="$dir/backends.pid"
python=${PYTHON:-python3}

start() {
    mkdir -p "$dir"
    if [ -s "$pidfile" ]; then
        echo "demo backends already started (pids in $pidfile); run '$0 stop' first" >&2
        exit 1
    fi
    : > "$pidfile"
    for spec in a:9001 b:9002; do
        name=${spec%%:*}; port=${spec#*:}
        rm -f "$dir/$name.port"
        "$python" "$here/backend.py" --name "$name" --port "$port" \
            --port-file "$dir/$name.port" --log "$dir/$name.log" \
            > "$dir/$name.out" 2>&1 &
        echo $! >> "$pidfile"
    done
    # Wait (at most 5 s) until both have written their port file.
    i=0
    while [ $i -lt 50 ]; do
        if [ -s "$dir/a.port" ] && [ -s "$dir/b.port" ]; then
            echo "backend a on 127.0.0.1:9001, backend b on 127.0.0.1:9002 (pids: $(tr '\n' ' ' < "$pidfile"))"
            return 0
        fi
        sleep 0.1; i=$((i + 1))
    done
    echo "demo backends did not start; see $dir/*.out" >&2
    stop
    exit 1
}

stop() {
    [ -f "$pidfile" ] || { echo "no $pidfile: nothing to stop"; return 0; }
    while read -r pid; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done < "$pidfile"
    rm -f "$pidfile"
    echo "demo backends stopped"
}

status() {
    [ -f "$pidfile" ] || { echo "not running"; return 1; }
    while read -r pid; do
        if kill -0 "$pid" 2>/dev/null; then echo "$pid running"; else echo "$pid gone"; fi
    done < "$pidfile"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
