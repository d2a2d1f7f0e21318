#!/bin/bash
# t/bench/cache.sh: cache hits, gatehouse beside Debian's nginx with proxy_cache on tmpfs
# (issue 13's targets), both in front of the same origin (t/bench/origin.c), warmed, one
# worker each. Run by hand; not part of the test suite. See t/bench/README ("cache.sh").
#
#   t/bench/cache.sh [-r ROUNDS] [-d SECS] [-c CONC] [-s SECTIONS] [-g GATEHOUSE] [-n NGINX] [-k] [-o FILE]
#
#   -r ROUNDS    interleaved wrk rounds per object (default 5)
#   -d SECS      duration of each wrk run (default 10)
#   -c CONC      wrk connections, one thread (default 50)
#   -s SECTIONS  comma list of: rps,instr (default: both)
#   -g PATH      gatehouse binary (default: build/gatehouse under the repository)
#   -n PATH      nginx binary (default /usr/sbin/nginx)
#   -k           keep the work directory (configurations, logs, raw wrk and callgrind output)
#   -o FILE      also write the result lines to FILE
#
# Instructions per hit: `perf stat -e instructions -p WORKER` over a fixed count of hits
# where the machine has the hardware counter; otherwise (virtual machines, as here)
# callgrind over the whole process tree at CG_N1 and CG_N2 hits (env, 2000 and 12000), the
# difference divided by CG_N2 - CG_N1, as bench.sh does. The defaults take about 7 minutes.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ROUNDS=5 DURATION=10 CONC=50 SECTIONS=rps,instr
GH=$repo/build/gatehouse NGINX=/usr/sbin/nginx KEEP=0 OUT=
while getopts "r:d:c:s:g:n:ko:h" opt; do
	case $opt in
	r) ROUNDS=$OPTARG ;; d) DURATION=$OPTARG ;; c) CONC=$OPTARG ;; s) SECTIONS=$OPTARG ;;
	g) GH=$OPTARG ;; n) NGINX=$OPTARG ;; k) KEEP=1 ;; o) OUT=$OPTARG ;;
	*) sed -n '2,20p' "$0"; exit 2 ;;
	esac
done
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
KEEPALIVE=256    # upstream idle connections per worker, both proxies (>= CONC)
[ "$KEEPALIVE" -ge "$CONC" ] || KEEPALIVE=$CONC
CG_N1=${CG_N1:-2000} CG_N2=${CG_N2:-12000}
PERF_N=${PERF_N:-100000}   # hits counted by perf stat
OBJECTS="1k 64k"           # origin.c's /1k (1,024 bytes) and /64k (65,536 bytes)

BENCH_TAG=cache
. "$here/lib.sh"    # want, log, die, children, cleanup, free_port, stop_pid, start_origin

for t in wrk cc curl; do command -v $t >/dev/null || die "$t not found"; done
[ -x "$NGINX" ] || die "nginx not found at $NGINX"
[ -x "$GH" ] || die "gatehouse binary $GH not found (cmake --build build)"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
MAXCONN=4000
[ "$NOFILE" -gt $((MAXCONN + 100)) ] || MAXCONN=$((NOFILE - 100))

W=$(mktemp -d /tmp/ghcache.XXXXXX)
# nginx's cache directory on tmpfs (/dev/shm), so neither proxy touches a disk
CDIR=$(mktemp -d /dev/shm/ghcache-nginx.XXXXXX) || die "no /dev/shm"
RES=$W/results.tsv
: >"$RES"
PIDS=()
trap 'cleanup; rm -rf "$CDIR"' EXIT
trap 'exit 130' INT TERM

echo -e "env\tstart\t$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" >>"$RES"
log "building helpers"
cc -O2 -o "$W/origin" "$here/origin.c" || die "origin.c does not build"
cc -O2 -o "$W/nreq" "$here/nreq.c" || die "nreq.c does not build"

# wait_ready PORT SECS [PATH [PID]]: until one request through PORT gets a 200 (fails early
# when PID has exited).
wait_ready() {
	local i n=$(($2 * 5))
	for ((i = 0; i < n; i++)); do
		"$W/nreq" -p "$1" -n 1 -c 1 -u "${3:-/}" -t 5 >/dev/null 2>&1 && return 0
		[ -z "${4-}" ] || kill -0 "$4" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

# ---------------------------------------------------------------- origin
start_origin
wait_ready "$OPORT" 5 || die "origin does not answer"
origin_requests() { curl -s --max-time 5 "http://127.0.0.1:$OPORT/__stats" | awk '{ print $4 }'; }

# ---------------------------------------------------------------- configurations
# Both: 1 worker, access logs off, the same upstream keep-alive as bench.sh and the same
# header work (nginx is told to do what gatehouse does by itself: X-Forwarded-*, Forwarded,
# Via and X-Request-ID upstream, Via and X-Request-ID on the response), and a cache of 32 MB
# that holds both objects: gatehouse's shared-memory store, nginx's proxy_cache on tmpfs
# with its keys zone in shared memory. The origin sends no Cache-Control, so the route's
# ttl (gatehouse) and proxy_cache_valid 200 10m (nginx) give both objects 10 minutes.
# Each proxy says whether a hit was one: X-Cache (gatehouse's own), X-Cache-Status
# ($upstream_cache_status, added to nginx for the check; one more header, as X-Cache is).
write_gh_conf() {   # DIR PORT
	local admin
	admin=$(free_port)
	mkdir -p "$1"
	cat >"$1/gatehouse.conf" <<EOF
workers = 1;
pid_file = "gatehouse.pid";
shutdown_timeout = "2s";
error_log = { path = "error.log"; level = "notice"; };
access_log = { path = "access.log"; format = "off"; };
limits = { max_connections = $MAXCONN; };
compression = { gzip = false; brotli = false; zstd = false; };
cache = { size = "32M"; max_object_size = "1M"; };
admin = { address = "127.0.0.1:$admin"; };
listen = ( { address = "127.0.0.1:$2"; } );
upstreams = ( { name = "o"; keepalive = $KEEPALIVE; keepalive_timeout = "4s"; keepalive_requests = 10000;
                servers = ( { address = "127.0.0.1:$OPORT"; } ); } );
servers = ( { names = ["default"]; routes = ( { path = "/"; upstream = "o"; cache = { ttl = "10m"; }; } ); } );
EOF
}

write_nginx_conf() {   # DIR PORT
	mkdir -p "$1/tmp"
	rm -rf "${CDIR:?}"/*
	cat >"$1/nginx.conf" <<EOF
user $(id -un);
worker_processes 1;
master_process on;
${RLIMIT_LINE-worker_rlimit_nofile $NOFILE;}
error_log $1/error.log warn;
pid $1/nginx.pid;
events { worker_connections $MAXCONN; use epoll; }
http {
    access_log off;
    server_tokens off;
    sendfile on;
    client_body_temp_path $1/tmp/body; proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi; uwsgi_temp_path $1/tmp/uwsgi; scgi_temp_path $1/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    proxy_cache_path $CDIR levels=1:2 keys_zone=c:8m max_size=32m inactive=60m use_temp_path=off;
    upstream o {
        server 127.0.0.1:$OPORT;
        keepalive $KEEPALIVE;
        keepalive_timeout 4s;
        keepalive_requests 10000;
    }
$NGINX_PROXY_HEADERS
    add_header X-Cache-Status \$upstream_cache_status;
    proxy_cache c;
    proxy_cache_valid 200 10m;
    server { listen 127.0.0.1:$2 default_server; location / { proxy_pass http://o; } }
}
EOF
}

# start_proxy NAME(gh|nginx) DIR PORT [WRAPPER...]: in the background of this script; PROXY_PID.
start_proxy() {
	local name=$1 d=$2 port=$3
	shift 3
	if [ "$name" = gh ]; then
		write_gh_conf "$d" "$port"
		"$@" "$GH" -c "$d/gatehouse.conf" -p "$d" >"$d/stdout.log" 2>&1 &
	else
		write_nginx_conf "$d" "$port"
		"$@" "$NGINX" -p "$d" -c "$d/nginx.conf" -g 'daemon off;' >"$d/stdout.log" 2>&1 &
	fi
	PROXY_PID=$!
	PIDS+=($PROXY_PID)
}

# hit_check NAME PORT PATH: fill the cache (a few requests), then one more must be a HIT.
hit_check() {
	local h i
	for ((i = 0; i < 20; i++)); do
		"$W/nreq" -p "$2" -n 2 -c 1 -u "$3" -t 5 >/dev/null 2>&1
		h=$(curl -s --max-time 5 -D - -o /dev/null "http://127.0.0.1:$2$3" | tr -d '\r' |
			awk -F': ' 'tolower($1) == "x-cache" || tolower($1) == "x-cache-status" { print $2 }')
		[ "$h" = HIT ] && return 0
		sleep 0.1
	done
	log "$1: $3 is not a HIT after warming (X-Cache: ${h:-none})"
	return 1
}

# the proxy's worker process (gatehouse: not the helper, which is titled "gatehouse: helper
# process"; nginx: "worker process", not the cache manager or loader)
worker_of() {
	ps -o pid=,args= --ppid "$1" 2>/dev/null | awk '!/helper|cache manager|cache loader/ { print $1; exit }'
}

declare -A PORT PID
NAMES=(gh nginx)

# ---------------------------------------------------------------- hit req/s
if want rps; then
	for n in "${NAMES[@]}"; do
		PORT[$n]=$(free_port)
		start_proxy "$n" "$W/rps-$n" "${PORT[$n]}"
		PID[$n]=$PROXY_PID
		wait_ready "${PORT[$n]}" 10 / "$PROXY_PID" || { tail -n 20 "$W/rps-$n"/*.log >&2; die "$n did not start"; }
		log "$n on 127.0.0.1:${PORT[$n]} (pid $PROXY_PID)"
	done
	mkdir -p "$W/wrk"
	for obj in $OBJECTS; do
		for n in "${NAMES[@]}"; do
			hit_check "$n" "${PORT[$n]}" "/$obj" || echo -e "nohit\t$obj\t$n" >>"$RES"
			# warm-up, not recorded
			timeout 30 wrk -t1 -c"$CONC" -d2 "http://127.0.0.1:${PORT[$n]}/$obj" >/dev/null 2>&1
		done
		for ((r = 1; r <= ROUNDS; r++)); do
			for n in "${NAMES[@]}"; do
				kill -0 "${PID[$n]}" 2>/dev/null || die "$n died"
				log "wrk $obj round $r/$ROUNDS: $n"
				f=$W/wrk/$obj-$n-$r.txt
				before=$(origin_requests)
				c0=$(cpu_ticks "${PID[$n]}")
				# wrk's own CPU (bash's time: user and system seconds) tells whether the
				# client, not the proxy, was what limited the rate
				TIMEFORMAT='%U %S'
				{ time timeout $((DURATION + 30)) wrk -t1 -c"$CONC" -d"$DURATION" --latency \
					"http://127.0.0.1:${PORT[$n]}/$obj" >"$f" 2>&1; } 2>"$f.time"
				c1=$(cpu_ticks "${PID[$n]}")
				after=$(origin_requests)
				read -r wu ws <"$f.time"
				read -r rps p99 non sock < <(awk '
				function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
				/^Requests\/sec:/ { rps = $2 }
				/Non-2xx/ { non = $NF }
				/Socket errors/ { gsub(",", ""); sock = $4 + $6 + $8 + $10 }
				$1 == "99%" { p99 = ms($2) }
				END { printf "%.1f %.3f %d %d\n", rps, p99, non, sock }' "$f")
				# requests that reached the origin during the run: misses (0 when all hit;
				# the first /__stats counts itself, hence the 1)
				echo -e "rps\t$obj\t$n\t$r\t$rps\t$p99\t$non\t$sock\t$((${after:-0} - ${before:-0} - 1))\t$(load1)\t$((c1 - c0))\t$wu\t$ws" >>"$RES"
			done
		done
	done
	for n in "${NAMES[@]}"; do stop_pid "${PID[$n]}" TERM 10; done
fi

# ---------------------------------------------------------------- instructions per hit
PERF_OK=0
if command -v perf >/dev/null && perf stat -x, -e instructions true 2>&1 | grep -q ',instructions'; then
	perf stat -x, -e instructions true 2>&1 | grep -q 'not supported' || PERF_OK=1
fi

# perf_measure NAME OBJ: instructions of the worker (user and kernel) over PERF_N hits
perf_measure() {
	local n=$1 d=$W/perf-$1-$2 port pid wpid ppid v
	port=$(free_port)
	start_proxy "$n" "$d" "$port"
	pid=$PROXY_PID
	wait_ready "$port" 10 "/$2" "$pid" || { log "$n did not start"; return; }
	hit_check "$n" "$port" "/$2"
	"$W/nreq" -p "$port" -n 2000 -c 10 -u "/$2" -t 60 >/dev/null   # warm
	wpid=$(worker_of "$pid")
	[ -n "$wpid" ] || { log "$n: no worker found"; stop_pid "$pid" TERM 10; return; }
	perf stat -x, -e instructions -p "$wpid" -o "$d/perf.csv" &
	ppid=$!
	PIDS+=($ppid)
	sleep 0.5
	"$W/nreq" -p "$port" -n "$PERF_N" -c 10 -u "/$2" -t 300 >"$d/nreq.out"
	stop_pid "$ppid" INT 10
	v=$(awk -F, '$3 == "instructions" || $3 ~ /^instructions/ { print $1; exit }' "$d/perf.csv")
	log "perf $n /$2: ${v:-?} instructions over $PERF_N hits ($(cat "$d/nreq.out"))"
	echo -e "instr\t$2\t$n\tperf\t0\t${v:-0}\t0\t$PERF_N\t$(load1)" >>"$RES"
	stop_pid "$pid" TERM 10
}

# cg_run NAME OBJ N: CG_TOTAL = instructions of the proxy's whole tree for start-up, N
# requests for /OBJ (the first a miss) and shutdown; CG_DIR keeps the output.
cg_run() {
	local n=$1 d=$W/cg-$1-$2-$3 port f v pid
	CG_TOTAL=0 CG_DIR=$d
	port=$(free_port)
	# valgrind keeps some descriptors for itself: nginx must not ask for the full limit
	RLIMIT_LINE="" start_proxy "$n" "$d" "$port" valgrind --tool=callgrind --trace-children=yes \
		--vgdb=no --callgrind-out-file="$d/callgrind.out.%p"
	pid=$PROXY_PID
	# the readiness probe asks for / (not cached by this count: another key)
	if ! wait_ready "$port" 60 / "$pid"; then
		log "$n under callgrind did not serve a 200 within 60 s"
		tail -n 20 "$d"/*.log >&2
		stop_pid "$pid" KILL 5
		return
	fi
	if ! "$W/nreq" -p "$port" -n "$3" -c 10 -u "/$2" -t 600 >"$d/nreq.out"; then
		log "$n under callgrind: $(cat "$d/nreq.out")"
		stop_pid "$pid" KILL 5
		return
	fi
	stop_pid "$pid" QUIT 60
	for f in "$d"/callgrind.out.*; do
		v=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
		CG_TOTAL=$((CG_TOTAL + ${v:-0}))
	done
}

if want instr; then
	for obj in $OBJECTS; do
		for n in "${NAMES[@]}"; do
			if [ "$PERF_OK" = 1 ]; then
				perf_measure "$n" "$obj"
				continue
			fi
			command -v valgrind >/dev/null || die "neither perf's instructions counter nor valgrind"
			cg_run "$n" "$obj" "$CG_N1"
			a=$CG_TOTAL
			cg_run "$n" "$obj" "$CG_N2"
			b=$CG_TOTAL
			log "callgrind $n /$obj: $a instructions at $CG_N1 requests, $b at $CG_N2"
			echo -e "instr\t$obj\t$n\tcallgrind\t$a\t$b\t$CG_N1\t$CG_N2\t$(load1)" >>"$RES"
			# the profile of one hit: self instructions by function over the whole tree, the
			# CG_N1 run's taken from the CG_N2 run's, / (CG_N2 - CG_N1), so start-up cancels
			command -v callgrind_annotate >/dev/null &&
				$PY "$here/cg_diff.py" "$W/cg-$n-$obj-$CG_N1" "$W/cg-$n-$obj-$CG_N2" \
					$((CG_N2 - CG_N1)) 30 >"$W/profile-$n-$obj.txt" 2>&1
		done
	done
fi

# ---------------------------------------------------------------- report
echo -e "env\tend\tload average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" >>"$RES"
$PY - "$RES" "$ROUNDS" "$DURATION" "$CONC" "$W" <<'EOF' | tee ${OUT:+"$OUT"}
import os, sys
res, rounds, dur, conc, work = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(res) if l.strip()]
label = {"gh": "gatehouse", "nginx": "nginx"}

def med(v):
    v = sorted(v)
    if not v:
        return None
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2

def fmt(v, d=0):
    return "n/a" if v is None else f"{v:,.{d}f}"

def loads(v):
    v = [float(x) for x in v]
    return f"load {min(v):.2f}-{max(v):.2f}" if v else "load ?"

def verdict(ok):
    return "n/a" if ok is None else ("pass" if ok else "FAIL")

def line(title, g, n, rat, d, target, load):
    print(f"{title:<40} gatehouse {fmt(g, d):>11}  nginx {fmt(n, d):>11}  ratio {fmt(rat, 2):>5}  {target}  ({load})")

env = [r[2] for r in rows if r[0] == "env"]
print(f"cache: {env[0]}; 1 worker each, warmed, keep-alive")
for r in rows:
    if r[0] == "nohit":
        print(f"note: {label[r[2]]} did not answer /{r[1]} from its cache after warming: its figures are not hits")
failed = []
for obj in ("1k", "64k"):
    rs = [r for r in rows if r[0] == "rps" and r[1] == obj]
    if not rs:
        continue
    fig = {n: med([float(r[4]) for r in rs if r[2] == n]) for n in label}
    p99 = {n: med([float(r[5]) for r in rs if r[2] == n]) for n in label}
    per = []
    per99 = []
    for k in sorted(set(r[3] for r in rs)):
        g = [r for r in rs if r[2] == "gh" and r[3] == k]
        x = [r for r in rs if r[2] == "nginx" and r[3] == k]
        if g and x and float(x[0][4]) > 0:
            per.append(float(g[0][4]) / float(x[0][4]))
        if g and x and float(x[0][5]) > 0:
            per99.append(float(g[0][5]) / float(x[0][5]))
    rat = med(per)
    ok = None if rat is None else rat >= 1.3
    if ok is False:
        failed.append(f"req/s {obj}")
    ld = loads([r[9] for r in rs])
    size = "1 KB" if obj == "1k" else "64 KB"
    line(f"{size} hit req/s (wrk c{conc}, {dur}s x{rounds})", fig["gh"], fig["nginx"], rat, 0,
         f"target >= 1.3x nginx: {verdict(ok)}", ld)
    line(f"{size} hit p99 ms", p99["gh"], p99["nginx"], med(per99), 2, "info", ld)
    # The proxy's CPU per hit (its ticks over the run / the hits it served), and how busy
    # wrk's one thread was: near 100 % the client set the rate, and req/s ratios near 1
    # say more about wrk than about the proxies; CPU per hit is then the comparison.
    hz = os.sysconf("SC_CLK_TCK")
    cpu = {n: med([float(r[10]) / hz * 1e6 / (float(r[4]) * float(dur))
                   for r in rs if r[2] == n and len(r) > 12 and float(r[4]) > 0]) for n in label}
    busy = {n: med([(float(r[11]) + float(r[12])) / float(dur) * 100
                    for r in rs if r[2] == n and len(r) > 12]) for n in label}
    crat = None if cpu["gh"] is None or not cpu["nginx"] else cpu["gh"] / cpu["nginx"]
    line(f"{size} hit proxy CPU us per hit", cpu["gh"], cpu["nginx"], crat, 2, "info", ld)
    line(f"{size} hit wrk thread busy %", busy["gh"], busy["nginx"], None, 0, "info", ld)
    for n in label:
        bad = sum(int(r[6]) + int(r[7]) for r in rs if r[2] == n)
        miss = sum(int(r[8]) for r in rs if r[2] == n)
        if bad or miss:
            print(f"note: {label[n]} /{obj}: {bad} wrk errors (non-2xx + socket), {miss} requests reached the origin during the runs")
for obj in ("1k", "64k"):
    ins = [r for r in rows if r[0] == "instr" and r[1] == obj]
    if not ins:
        continue
    per = {}
    how = ins[0][3]
    for r in ins:
        a, b, n1, n2 = int(r[4]), int(r[5]), int(r[6]), int(r[7])
        per[r[2]] = (b - a) / (n2 - n1) if b > 0 and n2 > n1 else None
    g, x = per.get("gh"), per.get("nginx")
    rat = None if g is None or not x else g / x
    ok = None if rat is None else rat <= 0.7
    size = "1 KB" if obj == "1k" else "64 KB"
    if ok is False:
        failed.append(f"instructions {obj}")
    what = "perf, the worker" if how == "perf" else "callgrind, user space, whole tree"
    line(f"instructions per {size} hit ({what})", g, x, rat, 0,
         f"target <= 0.7x nginx: {verdict(ok)}", loads([r[8] for r in ins]))
print(f"cache: {env[-1]}")
if failed:
    print("FAIL: " + ", ".join(failed) + f"; per-hit profiles of both proxies in {work}/profile-*.txt (kept with -k)")
    for f in failed:
        obj = f.split()[-1]
        p = os.path.join(work, f"profile-gh-{obj}.txt")
        if os.path.exists(p) and f.startswith("instructions"):
            print(f"--- gatehouse, one /{obj} hit: self instructions by function (callgrind, the difference of the two runs)")
            for l in open(p).read().splitlines()[:31]:
                print(l)
EOF
