#!/bin/bash
# t/bench/bench.sh: gatehouse against Debian's nginx, both as reverse proxies in front of
# the same tiny origin (t/bench/origin.c). Run by hand; not part of the test suite.
# See t/bench/README for what each figure means.
#
#   t/bench/bench.sh [-r ROUNDS] [-d SECS] [-c CONC] [-i IDLE] [-s SECTIONS] [-g GATEHOUSE] [-n NGINX] [-k] [-o FILE]
#
#   -r ROUNDS    interleaved wrk rounds per row (default 5)
#   -d SECS      duration of each wrk run (default 10)
#   -c CONC      wrk connections (default 50; one wrk thread)
#   -i IDLE      idle keep-alive connections for the memory figure (default 10000)
#   -s SECTIONS  comma list of: http,cpu,syscalls,memory,routing,edge,gzip (default: all)
#   -g PATH      gatehouse binary (default: build/gatehouse under the repository)
#   -n PATH      nginx binary (default /usr/sbin/nginx)
#   -k           keep the work directory (raw wrk, strace and callgrind output)
#   -o FILE      also write the final table to FILE
#
# Defaults take about 10 minutes on a 2-core machine.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ROUNDS=5 DURATION=10 CONC=50 IDLE=10000 SECTIONS=http,cpu,syscalls,memory,routing,edge,gzip
GH=$repo/build/gatehouse NGINX=/usr/sbin/nginx KEEP=0 OUT=
while getopts "r:d:c:i:s:g:n:ko:h" opt; do
	case $opt in
	r) ROUNDS=$OPTARG ;; d) DURATION=$OPTARG ;; c) CONC=$OPTARG ;; i) IDLE=$OPTARG ;;
	s) SECTIONS=$OPTARG ;; g) GH=$OPTARG ;; n) NGINX=$OPTARG ;; k) KEEP=1 ;; o) OUT=$OPTARG ;;
	*) sed -n '2,18p' "$0"; exit 2 ;;
	esac
done
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
KEEPALIVE=256   # upstream idle connections per worker, both proxies (>= CONC)
[ "$KEEPALIVE" -ge "$CONC" ] || KEEPALIVE=$CONC
CG_N1=${CG_N1:-2000} CG_N2=${CG_N2:-12000}   # callgrind request counts; the difference cancels start-up
STRACE_N=20000

BENCH_TAG=bench
. "$here/lib.sh"    # want, log, die, children, cleanup, free_port, stop_pid, start_origin

for t in wrk cc curl; do command -v $t >/dev/null || die "$t not found"; done
[ -x "$NGINX" ] || die "nginx not found at $NGINX"
GH_OK=1
if [ ! -x "$GH" ]; then
	log "gatehouse binary $GH not found: only the nginx side will be measured"
	GH_OK=0
fi

# File descriptors: 10,000 idle clients need 10,000 in the client and in the proxy worker.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
MAXCONN=15000   # equal max_connections / worker_connections for both proxies
[ "$NOFILE" -gt $((MAXCONN + 100)) ] || MAXCONN=$((NOFILE - 100))
if [ $((IDLE + 300)) -gt "$MAXCONN" ]; then
	IDLE=$((MAXCONN - 300))
	log "fd limit $NOFILE: idle connections lowered to $IDLE"
fi

W=$(mktemp -d /tmp/ghbench.XXXXXX)
RES=$W/results.tsv
: >"$RES"
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

echo -e "env\tstart\t$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" >>"$RES"
log "building helpers"
cc -O2 -o "$W/origin" "$here/origin.c" || die "origin.c does not build"
cc -O2 -o "$W/nreq" "$here/nreq.c" || die "nreq.c does not build"


# wait_ready PORT SECS [HOST [PATH [PID]]]: until one request through PORT gets a 200
# (fails early when PID has exited).
wait_ready() {
	local i n=$(($2 * 5))
	for ((i = 0; i < n; i++)); do
		"$W/nreq" -p "$1" -n 1 -c 1 -H "${3:-localhost}" -u "${4:-/}" -t 5 >/dev/null 2>&1 && return 0
		[ -z "${5-}" ] || kill -0 "$5" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}


# stop_pid PID SIGNAL SECS: signal a process we started and wait (bounded) for it; if it
# does not exit, kill it and the children it had (proxy workers).

# ---------------------------------------------------------------- origin
start_origin
wait_ready "$OPORT" 5 || die "origin did not start"
origin_stats() { curl -s --max-time 5 "http://127.0.0.1:$OPORT/__stats"; }

# ---------------------------------------------------------------- configurations
# write_gh_conf DIR PORT ROUTING(one|many): GH_EXTRA (top-level settings) and, with one,
# GH_ROUTE_EXTRA (settings of the route /) are added when set (the edge section).
write_gh_conf() {
	local d=$1 port=$2 admin comp=${GH_COMPRESSION-}
	# nginx does not gzip by default; the gzip section sets GH_COMPRESSION
	[ -n "$comp" ] || comp='compression = { gzip = false; brotli = false; zstd = false; };'
	admin=$(free_port)
	mkdir -p "$d"
	{
		cat <<EOF
workers = 1;
pid_file = "gatehouse.pid";
shutdown_timeout = "2s";
error_log = { path = "error.log"; level = "notice"; };
access_log = { path = "access.log"; format = "off"; };
limits = { max_connections = $MAXCONN; };
$comp
admin = { address = "127.0.0.1:$admin"; };
listen = ( { address = "127.0.0.1:$port"; } );
upstreams = ( { name = "o"; keepalive = $KEEPALIVE; keepalive_timeout = "4s"; keepalive_requests = 10000;
                servers = ( { address = "127.0.0.1:$OPORT"; } ); } );
EOF
		if [ "$3" = one ]; then
			echo "servers = ( { names = [\"default\"]; routes = ( { path = \"/\"; upstream = \"o\";${GH_ROUTE_EXTRA:+ $GH_ROUTE_EXTRA} } ); } );"
		else
			echo 'servers = ('
			local s
			for s in $(seq 0 9); do
				[ "$s" = 0 ] || echo ','
				if [ "$s" = 9 ]; then echo '{ names = ["default"];'; else echo "{ names = [\"s$s.example.com\", \"*.s$s.example.org\"];"; fi
				echo 'routes = ('
				routes_many gh
				echo '); }'
			done
			echo ');'
		fi
		[ -z "${GH_EXTRA-}" ] || echo "$GH_EXTRA"
	} >"$d/gatehouse.conf"
}

# The many-routes set: 5 exact, 40 prefix, 5 regular expressions. The request used for
# it (/app/v2/items/12345 on Host s7.example.com) takes the longest prefix /app/v2/
# after trying the 5 expressions, which is the most work a lookup does.
ROUTE_HOST=s7.example.com ROUTE_PATH=/app/v2/items/12345
routes_many() {
	local p
	ROUTE_N=0
	for p in '= /ping' '= /healthz' '= /favicon.ico' '= /robots.txt' '= /app'; do
		emit_route "$1" "$p"
	done
	for p in /app/ /app/v1/ /app/v2/ /app/v2/admin/ /static/ /api/ /api/v1/ /api/v2/ \
		/img/ /css/ /js/ /fonts/ /docs/ /blog/ /shop/ /cart/ /account/ /login/ /logout/ /search/; do
		emit_route "$1" "$p"
	done
	for p in $(seq 0 19); do emit_route "$1" "/svc$p/"; done
	for p in '~ ^/v[0-9]+/' '~ \.php$' '~* \.(png|jpe?g|gif|webp)$' '~ ^/user/[0-9]+/profile$' '~ /wp-(admin|login)'; do
		emit_route "$1" "$p"
	done
}
ROUTE_N=0
emit_route() {
	if [ "$1" = gh ]; then
		local v=${2//\\/\\\\}
		[ "$ROUTE_N" = 0 ] || echo -n ','
		ROUTE_N=1
		echo "{ path = \"$v\"; upstream = \"o\"; }"
	else
		echo "location $2 { proxy_pass http://o; }"
	fi
}

# write_nginx_conf DIR PORT ROUTING(one|many)
write_nginx_conf() {
	local d=$1 port=$2
	mkdir -p "$d/tmp"
	{
		cat <<EOF
user $(id -un);
worker_processes 1;
master_process on;
${RLIMIT_LINE-worker_rlimit_nofile $NOFILE;}
error_log $d/error.log warn;
pid $d/nginx.pid;
events { worker_connections $MAXCONN; use epoll; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $d/tmp/body; proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi; uwsgi_temp_path $d/tmp/uwsgi; scgi_temp_path $d/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    upstream o {
        server 127.0.0.1:$OPORT;
        keepalive $KEEPALIVE;
        keepalive_timeout 4s;
        keepalive_requests 10000;
    }
$NGINX_PROXY_HEADERS
    proxy_max_temp_file_size 0;
${NGINX_HTTP_EXTRA-}
EOF
		if [ "$3" = one ]; then
			echo "    server { listen 127.0.0.1:$port default_server; location / { proxy_pass http://o; } }"
		else
			local s
			for s in $(seq 0 9); do
				if [ "$s" = 9 ]; then
					echo "    server { listen 127.0.0.1:$port default_server; server_name _;"
				else
					echo "    server { listen 127.0.0.1:$port; server_name s$s.example.com *.s$s.example.org;"
				fi
				routes_many nginx
				echo '    }'
			done
		fi
		echo '}'
	} >"$d/nginx.conf"
}

# start_proxy NAME(gh|nginx) DIR PORT [WRAPPER...]: start in the foreground, in the background
# of this script; sets PROXY_PID.
start_proxy() {
	local name=$1 d=$2 port=$3
	shift 3
	if [ "$name" = gh ]; then
		"$@" "$GH" -c "$d/gatehouse.conf" -p "$d" >"$d/stdout.log" 2>&1 &
	else
		"$@" "$NGINX" -p "$d" -c "$d/nginx.conf" -g 'daemon off;' >"$d/stdout.log" 2>&1 &
	fi
	PROXY_PID=$!
	PIDS+=($PROXY_PID)
}

# proxy_up NAME DIR PORT ROUTING: a fresh proxy, ready to serve; sets PROXY_PID.
proxy_up() {
	if [ "$1" = gh ]; then write_gh_conf "$2" "$3" "$4"; else write_nginx_conf "$2" "$3" "$4"; fi
	start_proxy "$1" "$2" "$3"
	if ! wait_ready "$3" 10; then
		log "$1 did not serve a 200 on port $3 within 10 s; its logs:"
		tail -n 20 "$2"/*.log >&2
		return 1
	fi
}

NAMES=(nginx)
[ "$GH_OK" = 1 ] && NAMES=(gh nginx)
declare -A PORT DIR PID

# ---------------------------------------------------------------- throughput and latency
# wrk_row ROW PATH [WRK-ARGS...]: a 2 s warm-up of each proxy in PORT/PID, then ROUNDS
# interleaved recorded runs (wrk/ROW-NAME-ROUND.txt) with the origin's counters around each.
wrk_row() {
	local row=$1 path=$2 n r before after
	shift 2
	mkdir -p "$W/wrk"
	for n in "${NAMES[@]}"; do   # warm-up, not recorded
		[ -n "${PID[$n]}" ] && wrk -t1 -c"$CONC" -d2 "$@" "http://127.0.0.1:${PORT[$n]}$path" >/dev/null 2>&1
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		for n in "${NAMES[@]}"; do
			[ -n "${PID[$n]}" ] || continue
			log "wrk $row round $r/$ROUNDS: $n"
			before=$(origin_stats)
			timeout $((DURATION + 30)) wrk -t1 -c"$CONC" -d"$DURATION" --latency "$@" \
				"http://127.0.0.1:${PORT[$n]}$path" >"$W/wrk/$row-$n-$r.txt" 2>&1
			after=$(origin_stats)
			echo -e "origin\t$row\t$n\t$r\t$before\t$after" >>"$RES"
			kill -0 "${PID[$n]}" 2>/dev/null || { log "$n died during $row round $r"; PID[$n]=; }
		done
	done
}
if want http; then
	for n in "${NAMES[@]}"; do
		PORT[$n]=$(free_port) DIR[$n]=$W/http-$n
		if proxy_up "$n" "${DIR[$n]}" "${PORT[$n]}" one; then PID[$n]=$PROXY_PID; else PID[$n]=; fi
	done
	for row in small big close; do
		case $row in
		small) wrk_row small / ;;
		big) wrk_row big /64k ;;
		close) wrk_row close / -H 'Connection: close' ;;
		esac
	done
	# Upstream reuse with one sequential client: each response is followed by an idle
	# moment on the client connection, which is when a pooled connection sits idle.
	for n in "${NAMES[@]}"; do
		[ -n "${PID[$n]}" ] || continue
		before=$(origin_stats)
		out=$("$W/nreq" -p "${PORT[$n]}" -n 10000 -c 1 -t 120)
		after=$(origin_stats)
		log "$n, 1 sequential client: $out"
		echo -e "origin\tseq\t$n\t1\t$before\t$after" >>"$RES"
	done
	for n in "${NAMES[@]}"; do [ -n "${PID[$n]}" ] && stop_pid "${PID[$n]}" QUIT 10; done
fi

# ---------------------------------------------------------------- gzip level 5, 100 KB text
# Both proxies compress the origin's /text100k (text/plain, with Content-Length) at gzip
# level 5 for a client sending Accept-Encoding: gzip; nginx with gzip_proxied any (wrk sends
# no Via, so it changes nothing) and its default gzip_buffers. Each proxy's answer is
# checked to be gzip and to decompress to the origin's bytes before the runs.
if want gzip; then
	GH_COMPRESSION='compression = { gzip = true; level = 5; brotli = false; zstd = false; };'
	NGINX_HTTP_EXTRA='    gzip on; gzip_comp_level 5; gzip_types text/plain; gzip_proxied any;'
	curl -s --max-time 5 "http://127.0.0.1:$OPORT/text100k" >"$W/text100k"
	for n in "${NAMES[@]}"; do
		PORT[$n]=$(free_port) DIR[$n]=$W/gzip-$n
		if proxy_up "$n" "${DIR[$n]}" "${PORT[$n]}" one; then PID[$n]=$PROXY_PID; else PID[$n]=; continue; fi
		curl -s --max-time 5 -H 'Accept-Encoding: gzip' -D "${DIR[$n]}/head" \
			"http://127.0.0.1:${PORT[$n]}/text100k" >"${DIR[$n]}/body.gz"
		if grep -qi '^content-encoding: gzip' "${DIR[$n]}/head" &&
			gzip -dc "${DIR[$n]}/body.gz" | cmp -s - "$W/text100k"; then
			log "$n: /text100k is $(stat -c %s "${DIR[$n]}/body.gz") bytes gzipped"
			echo -e "gzip\t$n\t$(stat -c %s "${DIR[$n]}/body.gz")" >>"$RES"
		else
			log "$n does not gzip /text100k; its head: $(tr -d '\r' <"${DIR[$n]}/head" | tr '\n' ' ')"
			stop_pid "${PID[$n]}" QUIT 10
			PID[$n]=
		fi
	done
	# ~250 req/s at 50 connections is ~200 ms a request: wrk's 2 s default timeout would
	# cut the tail (and with it the upstream connections, which then cannot be reused)
	wrk_row gzip /text100k -H 'Accept-Encoding: gzip' --timeout 10s
	for n in "${NAMES[@]}"; do [ -n "${PID[$n]}" ] && stop_pid "${PID[$n]}" QUIT 10; done
	GH_COMPRESSION= NGINX_HTTP_EXTRA=
fi

# ---------------------------------------------------------------- syscalls per request
if want syscalls; then
	command -v strace >/dev/null || { apt-get install -y strace >/dev/null 2>&1 || log "strace missing"; }
	for n in "${NAMES[@]}"; do
		command -v strace >/dev/null || break
		port=$(free_port) d=$W/sys-$n
		proxy_up "$n" "$d" "$port" one || continue
		pid=$PROXY_PID
		"$W/nreq" -p "$port" -n 2000 -c "$CONC" >/dev/null   # warm the pools
		for c in "$CONC" 1; do
			args=(-p "$pid")
			for k in $(children "$pid"); do args+=(-p "$k"); done
			strace -c -f -o "$d/strace-c$c.txt" "${args[@]}" 2>/dev/null &
			st=$!
			sleep 1.5   # let strace attach
			nq=$STRACE_N
			[ "$c" = 1 ] && nq=$((STRACE_N / 4))
			out=$("$W/nreq" -p "$port" -n $nq -c "$c" -t 300)
			stop_pid $st INT 20
			calls=$(awk '$NF=="total" {print $4}' "$d/strace-c$c.txt")
			log "$n: $calls syscalls for $nq requests at concurrency $c ($out)"
			echo -e "syscalls\tc$c\t$n\t$calls\t$nq\t$out" >>"$RES"
		done
		stop_pid "$pid" QUIT 10
	done
fi

# ---------------------------------------------------------------- idle connection memory
# Sum of Pss (and of Rss) of the master and all its children, from /proc/PID/smaps_rollup.
mem_of() {
	local p pss=0 rss=0 v
	for p in "$1" $(children "$1"); do
		v=$(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null)
		pss=$((pss + ${v:-0}))
		v=$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null)
		rss=$((rss + ${v:-0}))
	done
	echo "$pss $rss"
}
if want memory; then
	for n in "${NAMES[@]}"; do
		port=$(free_port) d=$W/mem-$n
		proxy_up "$n" "$d" "$port" one || continue
		pid=$PROXY_PID
		# warm up at the idle client's own concurrency (256 requests in flight), so the
		# free lists are as full before as after and the difference is the connections
		"$W/nreq" -p "$port" -n 4000 -c 256 >/dev/null
		sleep 0.5
		base=$(mem_of "$pid")
		"$W/nreq" -p "$port" -i "$IDLE" -t 300 >"$d/idle.out" 2>&1 &
		ic=$!
		PIDS+=($ic)
		for ((i = 0; i < 1200; i++)); do grep -q -e ready -e notready "$d/idle.out" && break; sleep 0.1; done
		sleep 1
		loaded=$(mem_of "$pid")
		kill -USR1 $ic
		sleep 0.5
		kill -0 $ic 2>/dev/null || log "idle client exited early: $(cat "$d/idle.out")"
		ready=$(grep -o 'ok [0-9]*' "$d/idle.out" | head -1 | cut -d' ' -f2)
		open=$(grep -o 'open [0-9]*' "$d/idle.out" | tail -1 | cut -d' ' -f2)
		log "$n: base Pss/Rss $base kB, with $IDLE idle clients $loaded kB (answered ${ready:-0}, still open ${open:-0})"
		echo -e "memory\t$n\t$base\t$loaded\t${ready:-0}\t${open:-0}\t$IDLE" >>"$RES"
		stop_pid $ic TERM 10
		stop_pid "$pid" TERM 10
	done
fi

# ---------------------------------------------------------------- instructions per request
# cg_run NAME ROUTING HOST PATH N: sets CG_TOTAL to the instructions of the whole proxy
# process tree for start-up + N requests + shutdown (0 when it could not be measured).
# CG_NREQ: more arguments for nreq; CG_TAG: a name for the work directory.
CG_NREQ=() CG_TAG=
cg_run() {
	local n=$1 d=$W/cg-$1-$2-${3%%.*}-$5${CG_TAG:+-$CG_TAG} port f v pid try ok=0
	CG_TOTAL=0
	# a port from free_port can be taken before the proxy binds it (a shared machine): retry
	for try in 1 2 3; do
		port=$(free_port)
		rm -f "$d"/callgrind.out.* "$d"/*.log
		# valgrind keeps some descriptors for itself: nginx must not ask for the full limit
		if [ "$n" = gh ]; then write_gh_conf "$d" "$port" "$2"; else RLIMIT_LINE= write_nginx_conf "$d" "$port" "$2"; fi
		start_proxy "$n" "$d" "$port" valgrind --tool=callgrind --trace-children=yes --vgdb=no \
			--callgrind-out-file="$d/callgrind.out.%p"
		pid=$PROXY_PID
		if wait_ready "$port" 60 "$3" "$4" "$pid"; then ok=1; break; fi
		grep -qs "Address already in use" "$d"/*.log || break
		log "$n: port $port was taken; again on another"
		stop_pid "$pid" KILL 5
	done
	if [ "$ok" = 0 ]; then
		log "$n under callgrind did not serve a 200 within 60 s"
		tail -n 20 "$d"/*.log >&2
		stop_pid "$pid" KILL 5
		return
	fi
	if ! "$W/nreq" -p "$port" -n "$5" -c 10 -u "$4" -H "$3" -t 600 "${CG_NREQ[@]}" >"$d/nreq.out"; then
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
cg_measure() {   # NAME ROUTING HOST PATH [LABEL] -> a results line
	local a b
	cg_run "$1" "$2" "$3" "$4" $CG_N1
	a=$CG_TOTAL
	cg_run "$1" "$2" "$3" "$4" $CG_N2
	b=$CG_TOTAL
	log "callgrind $1 ${5:-$2}: $a instructions at $CG_N1 requests, $b at $CG_N2"
	echo -e "instr\t${5:-$2}\t$1\t$a\t$b\t$CG_N1\t$CG_N2" >>"$RES"
}
if want cpu || want routing || want edge; then
	command -v valgrind >/dev/null || die "valgrind not found"
fi
if want cpu; then
	for n in "${NAMES[@]}"; do cg_measure "$n" one localhost /; done
fi
if want routing; then
	# the same request against 1 server/1 route and against 10 servers/50 routes, so only
	# the configuration differs (path normalisation depends on the path's length)
	for n in "${NAMES[@]}"; do
		cg_measure "$n" one "$ROUTE_HOST" "$ROUTE_PATH" onesame
		cg_measure "$n" many "$ROUTE_HOST" "$ROUTE_PATH"
	done
fi

# ---------------------------------------------------------------- edge protection cost
# edge_measure LABEL GH_EXTRA GH_ROUTE_EXTRA [NREQ-ARGS...]: cg_measure of gatehouse with one
# route and these settings added; nreq gets the arguments (the denied client is 127.0.0.2,
# so the 200 that wait_ready needs comes from 127.0.0.1). Requests per run: CG_N1, CG_N2.
edge_measure() {
	local label=$1
	GH_EXTRA=$2 GH_ROUTE_EXTRA=$3
	shift 3
	CG_NREQ=("$@") CG_TAG=$label
	cg_measure gh one localhost / "edge-$label"
	GH_EXTRA= GH_ROUTE_EXTRA= CG_NREQ=() CG_TAG=
}
if want edge && [ "$GH_OK" = 1 ]; then
	deny='access = { deny = ["127.0.0.2"]; };'
	# P, the proxied keep-alive request, is the cpu section's figure when it ran
	want cpu || edge_measure P "" ""
	# D1: deny_action = "close", a new connection per attempt, closed at accept (RST)
	edge_measure D1 'access = { deny = ["127.0.0.2"]; deny_action = "close"; };' "" -b 127.0.0.2 -C -e 0
	# D2: the default action, a new connection per attempt: head read, 403, close
	edge_measure D2 "$deny" "" -b 127.0.0.2 -C -e 403
	# R: the keep-alive request of P on a route whose limit never refuses ($remote_addr)
	edge_measure R 'rate_limits = ( { name = "hi"; key = "$remote_addr"; rate = 1000000; burst = 1000000; } );' \
		'rate_limit = "hi";'
	# 429: a limit that admits 127.0.0.2's first request only (wait_ready's 127.0.0.1 has
	# its own bucket), then refuses on keep-alive connections
	edge_measure L 'rate_limits = ( { name = "lo"; key = "$remote_addr"; rate = 0.001; burst = 0; } );' \
		'rate_limit = "lo";' -b 127.0.0.2 -e 429 -a 1
fi

# ---------------------------------------------------------------- report
echo -e "env\tend\tload average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" >>"$RES"
$PY "$here/report.py" "$RES" "$W/wrk" "$W" | tee ${OUT:+"$OUT"}
