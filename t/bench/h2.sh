#!/bin/bash
# t/bench/h2.sh: HTTP/2 to clients, gatehouse beside Debian's nginx and HAProxy (issue 12). The
# three run at once in front of the same origin (t/bench/origin.c, HTTP/1.1 keep-alive), over
# h2c (prior knowledge) and over TLS (ALPN h2, one ECDSA P-256 certificate for all three). Run
# by hand; not part of the test suite. See t/bench/README ("h2.sh").
#
#   t/bench/h2.sh [-r ROUNDS] [-n REQS] [-c CLIENTS] [-m STREAMS] [-i IDLE] [-s SECTIONS]
#                 [-g GATEHOUSE] [-N NGINX] [-a HAPROXY] [-k] [-o FILE]
#
#   -r ROUNDS    h2load rounds per mode, the proxies interleaved (default 5)
#   -n REQS      requests per h2load run (default 100000)
#   -c CLIENTS   h2load clients (default 10)
#   -m STREAMS   concurrent streams per client (default 10)
#   -i IDLE      idle h2 connections for the memory figure (default 2000)
#   -s SECTIONS  comma list of: rps,cpu,memory (default: all)
#   -g PATH      gatehouse binary (default: build/gatehouse under the repository)
#   -N PATH      nginx binary (default /usr/sbin/nginx)
#   -a PATH      haproxy binary (default /usr/sbin/haproxy)
#   -k           keep the work directory (certificates, configurations, logs, raw output)
#   -o FILE      also write the result lines to FILE
#
# rps: 2 workers each (HAProxy nbthread 2). cpu: 1 worker each (nbthread 1) under
# valgrind --tool=callgrind, h2load serving CG_N1 and then CG_N2 requests over h2c, the
# difference of the whole process tree's instructions divided by CG_N2 - CG_N1 (start-up and
# shutdown cancel; user space only: no hardware counters here). memory: 1 worker each, RSS of
# the process tree before and with IDLE connections that each made one request and went idle.
# The defaults take about 8 minutes on a 2-core machine.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ROUNDS=5 NREQ=100000 CLIENTS=10 STREAMS=10 IDLE=2000
SECTIONS=rps,cpu,memory GH=$repo/build/gatehouse NGINX=/usr/sbin/nginx HAPROXY=/usr/sbin/haproxy
KEEP=0 OUT=
while getopts "r:n:c:m:i:s:g:N:a:ko:h" opt; do
	case $opt in
	r) ROUNDS=$OPTARG ;; n) NREQ=$OPTARG ;; c) CLIENTS=$OPTARG ;; m) STREAMS=$OPTARG ;;
	i) IDLE=$OPTARG ;; s) SECTIONS=$OPTARG ;; g) GH=$OPTARG ;; N) NGINX=$OPTARG ;;
	a) HAPROXY=$OPTARG ;; k) KEEP=1 ;; o) OUT=$OPTARG ;;
	*) sed -n '2,27p' "$0"; exit 2 ;;
	esac
done
CG_N1=${CG_N1:-2000} CG_N2=${CG_N2:-12000}
KEEPALIVE=256    # upstream idle connections per worker, all three proxies
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

BENCH_TAG=h2
. "$here/lib.sh"    # want, log, die, children, cleanup, free_port, stop_pid, start_origin

for t in h2load cc openssl; do command -v $t >/dev/null || die "$t not found (t/deps.sh installs it)"; done
[ -x "$NGINX" ] || die "nginx not found at $NGINX"
[ -x "$HAPROXY" ] || die "haproxy not found at $HAPROXY"
want cpu && { command -v valgrind >/dev/null || die "valgrind not found"; }
$PY -c 'import h2' 2>/dev/null || die "python3-h2 not found (t/deps.sh installs it)"
NAMES=(gh nginx haproxy)
[ -x "$GH" ] || die "gatehouse binary $GH not found (cmake --build build)"
declare -A LABEL=([gh]=gatehouse [nginx]=nginx [haproxy]=haproxy)

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
MAXCONN=8000
[ $((2 * MAXCONN + 500)) -le "$NOFILE" ] || MAXCONN=$(((NOFILE - 500) / 2))
[ $((IDLE + 500)) -le "$MAXCONN" ] || { IDLE=$((MAXCONN - 500)); log "fd limit $NOFILE: idle connections lowered to $IDLE"; }

W=$(mktemp -d /tmp/ghh2.XXXXXX)
RES=$W/results.tsv
: >"$RES"
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

T_START=$SECONDS
echo -e "env\tstart\t$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" >>"$RES"

cc -O2 -o "$W/origin" "$here/origin.c" || die "origin.c does not build"
P=$W/pki
mkdir -p "$P"
{
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/ca.key" &&
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/site.key" &&
		openssl req -x509 -new -key "$P/ca.key" -sha256 -days 2 -subj "/CN=gatehouse h2 bench CA" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out "$P/ca.crt" &&
		openssl req -new -key "$P/site.key" -subj "/CN=localhost" -out "$P/site.csr" &&
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >"$P/ext.cnf" &&
		openssl x509 -req -in "$P/site.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
			-sha256 -extfile "$P/ext.cnf" -out "$P/site.crt" &&
		cat "$P/site.crt" "$P/site.key" >"$P/site.pem"
} >"$P/openssl.log" 2>&1 || { cat "$P/openssl.log" >&2; die "could not make the test certificates"; }

start_origin

# ---------------------------------------------------------------- configurations
# All three: WORKERS workers (HAProxy: threads), access logs off, keep-alive to the origin,
# idle client connections kept for 10 minutes, at most 128 concurrent streams, the same
# header work as t/bench/bench.sh (gatehouse does it by itself). MODE: h2c or tls.
write_gh_conf() {   # DIR PORT MODE WORKERS
	local admin listen
	admin=$(free_port)
	mkdir -p "$1"
	listen="address = \"127.0.0.1:$2\"; http2 = true;"
	[ "$3" = tls ] && listen="$listen tls = true;"
	cat >"$1/gatehouse.conf" <<EOF
workers = $4;
pid_file = "gatehouse.pid";
shutdown_timeout = "2s";
error_log = { path = "error.log"; level = "notice"; };
access_log = { path = "access.log"; format = "off"; };
limits = { max_connections = $MAXCONN; };
timeouts = { keepalive = "600s"; };
compression = { gzip = false; };
admin = { address = "127.0.0.1:$admin"; };
listen = ( { $listen } );
tls = { certificates = ( { cert = "$P/site.crt"; key = "$P/site.key"; } ); };
upstreams = ( { name = "o"; keepalive = $KEEPALIVE; keepalive_timeout = "4s"; keepalive_requests = 100000;
                servers = ( { address = "127.0.0.1:$OPORT"; } ); } );
servers = ( { names = ["default"]; routes = ( { path = "/"; upstream = "o"; } ); } );
EOF
}

write_nginx_conf() {   # DIR PORT MODE WORKERS
	local listen="listen 127.0.0.1:$2 http2 default_server;"
	[ "$3" = tls ] && listen="listen 127.0.0.1:$2 ssl http2 default_server;"
	mkdir -p "$1/tmp"
	cat >"$1/nginx.conf" <<EOF
user $(id -un);
worker_processes $4;
master_process on;
${RLIMIT_LINE-worker_rlimit_nofile $NOFILE;}
error_log $1/error.log warn;
pid $1/nginx.pid;
events { worker_connections $MAXCONN; use epoll; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $1/tmp/body; proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi; uwsgi_temp_path $1/tmp/uwsgi; scgi_temp_path $1/tmp/scgi;
    keepalive_timeout 600s;
    keepalive_requests 1000000;
    http2_idle_timeout 600s;
    http2_max_requests 1000000;
    http2_max_concurrent_streams 128;
    upstream o {
        server 127.0.0.1:$OPORT;
        keepalive $KEEPALIVE;
        keepalive_timeout 4s;
        keepalive_requests 100000;
    }
$NGINX_PROXY_HEADERS
    proxy_max_temp_file_size 0;
    server {
        $listen
        # nginx 1.22's default is TLSv1 to TLSv1.2: without this line it speaks TLS 1.2
        # while the other two speak 1.3 (which keeps its key shares to the end)
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate $P/site.crt;
        ssl_certificate_key $P/site.key;
        location / { proxy_pass http://o; }
    }
}
EOF
}

# HAProxy 2.6: one process; no log line is configured, so none is written.
write_haproxy_conf() {   # DIR PORT MODE WORKERS
	local bind="bind 127.0.0.1:$2 proto h2"
	[ "$3" = tls ] && bind="bind 127.0.0.1:$2 ssl crt $P/site.pem alpn h2"
	mkdir -p "$1"
	cat >"$1/haproxy.cfg" <<EOF
global
    nbthread $4
    maxconn $MAXCONN
    tune.h2.max-concurrent-streams 128
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 600s
    timeout server 30s
    timeout http-keep-alive 600s
    timeout http-request 30s
    http-reuse always
frontend f
    $bind
    unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid
    option forwardfor
    http-request set-header Forwarded "for=%[src];host=\"%[req.hdr(host)]\";proto=%[ssl_fc,iif(https,http)]"
    http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request set-header Via "1.1 haproxy"
    http-request set-header X-Request-ID %[unique-id]
    http-response set-header X-Request-ID %[unique-id]
    http-response set-header Via "1.1 haproxy"
    default_backend o
backend o
    server o1 127.0.0.1:$OPORT
EOF
}

url_of() { [ "$2" = tls ] && echo "https://127.0.0.1:$1/" || echo "http://127.0.0.1:$1/"; }

# h2_probe PORT MODE: one h2 request answered 200 (h2load), 5 s at most; h2load's output
# is left in PROBE_OUT
h2_probe() {
	PROBE_OUT=$(timeout 5 h2load -n 1 -c 1 "$(url_of "$1" "$2")" 2>&1) || return 1
	grep -q "1 succeeded" <<<"$PROBE_OUT" && grep -q "status codes: 1 2xx" <<<"$PROBE_OUT"
}

# proxy_up NAME DIR PORT MODE WORKERS [WRAPPER...]: PROXY_PID, or 1 when it does not answer
proxy_up() {
	local n=$1 d=$2 port=$3 mode=$4 wk=$5 end
	shift 5
	case $n in
	gh) write_gh_conf "$d" "$port" "$mode" "$wk"; "$@" "$GH" -c "$d/gatehouse.conf" -p "$d" >"$d/stdout.log" 2>&1 & ;;
	nginx) write_nginx_conf "$d" "$port" "$mode" "$wk"; "$@" "$NGINX" -p "$d" -c "$d/nginx.conf" -g 'daemon off;' >"$d/stdout.log" 2>&1 & ;;
	haproxy) write_haproxy_conf "$d" "$port" "$mode" "$wk"; "$@" "$HAPROXY" -db -f "$d/haproxy.cfg" >"$d/stdout.log" 2>&1 & ;;
	esac
	PROXY_PID=$!
	PIDS+=($PROXY_PID)
	end=$((SECONDS + ${UP_SECS:-10}))
	while [ $SECONDS -lt $end ]; do
		kill -0 "$PROXY_PID" 2>/dev/null || break
		if h2_probe "$port" "$mode"; then
			# the three must speak the same TLS version for the TLS figures to compare
			[ "$mode" = tls ] && log "${LABEL[$n]} negotiates $(grep -m1 -o 'TLS Protocol: .*' <<<"$PROBE_OUT")"
			return 0
		fi
		sleep 0.3
	done
	log "${LABEL[$n]} ($mode) did not answer an h2 request on port $port. Its logs:"
	tail -n 5 "$d"/*.log >&2
	stop_pid "$PROXY_PID" KILL 5
	return 1
}


# h2load_fig FILE: "req_per_s succeeded errored"
h2load_fig() {
	awk '/^finished in/ { gsub(",", ""); for (i = 1; i <= NF; i++) if ($(i+1) ~ /^req\/s/) rps = $i }
	     /^requests:/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "succeeded,") ok = $i; if ($(i+1) == "errored,") err = $i } }
	     END { printf "%.1f %d %d\n", rps, ok, err }' "$1"
}

declare -A PORT PID

# ---------------------------------------------------------------- 1. h2load req/s
if want rps; then
	mkdir -p "$W/h2load"
	for mode in h2c tls; do
		for n in "${NAMES[@]}"; do
			PORT[$n]=$(free_port)
			if proxy_up "$n" "$W/rps-$mode-$n" "${PORT[$n]}" "$mode" 2; then PID[$n]=$PROXY_PID; else PID[$n]=; fi
		done
		for n in "${NAMES[@]}"; do   # warm-up, not recorded
			[ -n "${PID[$n]}" ] && timeout 60 h2load -n 20000 -c "$CLIENTS" -m "$STREAMS" -t 1 "$(url_of "${PORT[$n]}" $mode)" >/dev/null 2>&1
		done
		for ((r = 1; r <= ROUNDS; r++)); do
			for n in "${NAMES[@]}"; do
				[ -n "${PID[$n]}" ] || continue
				f=$W/h2load/$mode-$n-$r.txt
				timeout 300 h2load -n "$NREQ" -c "$CLIENTS" -m "$STREAMS" -t 1 "$(url_of "${PORT[$n]}" $mode)" >"$f" 2>&1
				read -r rps ok err < <(h2load_fig "$f")
				log "h2load $mode round $r/$ROUNDS ${LABEL[$n]}: $rps req/s ($ok succeeded, $err errored)"
				echo -e "rps\t$mode\t$n\t$r\t$rps\t$ok\t$err\t$(load1)" >>"$RES"
			done
		done
		for n in "${NAMES[@]}"; do [ -z "${PID[$n]}" ] || stop_pid "${PID[$n]}" TERM 10; done
	done
fi

# ---------------------------------------------------------------- 2. instructions per request
cg_run() {   # NAME N -> CG_TOTAL (0 when it could not be measured)
	local n=$1 d=$W/cg-$1-$2 port f v
	CG_TOTAL=0
	port=$(free_port)
	RLIMIT_LINE= UP_SECS=60 proxy_up "$n" "$d" "$port" h2c 1 valgrind --tool=callgrind --trace-children=yes \
		--vgdb=no --callgrind-out-file="$d/callgrind.out.%p" || return
	local pid=$PROXY_PID
	if ! timeout 900 h2load -n "$2" -c "$CLIENTS" -m "$STREAMS" -t 1 "http://127.0.0.1:$port/" >"$d/h2load.out" 2>&1 ||
		! grep -q "$2 succeeded" "$d/h2load.out"; then
		log "${LABEL[$n]} under callgrind: $(grep -E '^requests:' "$d/h2load.out")"
		stop_pid "$pid" KILL 5
		return
	fi
	stop_pid "$pid" "$([ "$n" = haproxy ] && echo USR1 || echo QUIT)" 120
	for f in "$d"/callgrind.out.*; do
		v=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
		CG_TOTAL=$((CG_TOTAL + ${v:-0}))
	done
}
if want cpu; then
	for n in "${NAMES[@]}"; do
		cg_run "$n" "$CG_N1"
		a=$CG_TOTAL
		cg_run "$n" "$CG_N2"
		b=$CG_TOTAL
		log "callgrind ${LABEL[$n]}: $a instructions at $CG_N1 requests, $b at $CG_N2"
		echo -e "instr\t$n\t$a\t$b\t$CG_N1\t$CG_N2" >>"$RES"
	done
fi

# ---------------------------------------------------------------- 3. idle h2 connections
# A fresh proxy per mode, 1 worker; a warm-up of 500 connections held and released, so the
# allocators' free lists are as full before as after; then IDLE connections, each one request
# and idle. RSS of the process tree before and with them.
if want memory; then
	for mode in h2c tls; do
		for n in "${NAMES[@]}"; do
			d=$W/mem-$mode-$n
			port=$(free_port)
			proxy_up "$n" "$d" "$port" "$mode" 1 || { echo -e "mem\t$mode\t$n\t0\t0\t0\t0\t$IDLE\t$(load1)\t0\t1" >>"$RES"; continue; }
			pid=$PROXY_PID
			tls=()
			[ "$mode" = tls ] && tls=(--tls "$P/ca.crt")
			timeout 120 $PY "$here/h2_idle.py" -p "$port" -n 500 -t 60 "${tls[@]}" >"$d/warm.out" 2>&1 &
			wc=$!
			for ((i = 0; i < 600; i++)); do grep -qs ready "$d/warm.out" && break; sleep 0.1; done
			stop_pid $wc TERM 10
			sleep 1
			before=$(rss_kb "$pid")
			# two clients of IDLE/2 each, RSS after each: the second half's slope has no heap
			# left over from the warm-up to reuse
			h1=$((IDLE / 2)) h2=$((IDLE - IDLE / 2)) ics=() mid= ok=0 open=0
			for h in $h1 $h2; do
				k=${#ics[@]}
				$PY "$here/h2_idle.py" -p "$port" -n "$h" -t 600 "${tls[@]}" >"$d/idle$k.out" 2>"$d/idle$k.err" &
				ics+=($!)
				PIDS+=($!)
				for ((i = 0; i < 3000; i++)); do grep -qs ready "$d/idle$k.out" && break; sleep 0.1; done
				sleep 1
				[ -n "$mid" ] || mid=$(rss_kb "$pid")
			done
			after=$(rss_kb "$pid")
			for k in 0 1; do kill -USR1 "${ics[$k]}" 2>/dev/null; done
			for k in 0 1; do
				for ((i = 0; i < 50; i++)); do grep -qs '^open' "$d/idle$k.out" && break; sleep 0.1; done
				v=$(awk '/^ready/ { print $2 }' "$d/idle$k.out")
				ok=$((ok + ${v:-0}))
				v=$(awk '/^open/ { print $2 }' "$d/idle$k.out")
				open=$((open + ${v:-0}))
			done
			log "${LABEL[$n]} $mode: RSS $before kB, with $h1 idle h2 connections $mid kB, with $IDLE $after kB (answered $ok, open $open)"
			echo -e "mem\t$mode\t$n\t$before\t$after\t$ok\t$open\t$IDLE\t$(load1)\t$mid\t$h2" >>"$RES"
			for k in 0 1; do stop_pid "${ics[$k]}" TERM 10; done
			stop_pid "$pid" TERM 10
		done
	done
fi

# ---------------------------------------------------------------- report
echo -e "env\tend\tload average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), $((SECONDS - T_START)) s" >>"$RES"
$PY - "$RES" "$ROUNDS" "$NREQ" "$CLIENTS" "$STREAMS" "$IDLE" <<'EOF' | tee ${OUT:+"$OUT"}
import sys
res, rounds, nreq, clients, streams, idle = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(res) if l.strip()]
names = ["gh", "nginx", "haproxy"]
label = {"gh": "gatehouse", "nginx": "nginx", "haproxy": "haproxy"}

def med(v):
    v = sorted(v)
    if not v:
        return None
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2

def fmt(v, d=0):
    return "n/a" if v is None else f"{v:,.{d}f}"

def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b

def verdict(ok):
    return "n/a" if ok is None else ("pass" if ok else "FAIL")

def loads(v):
    v = [float(x) for x in v]
    return f"load {min(v):.2f}-{max(v):.2f}" if v else "load ?"

def line(title, vals, d, rat, target="", load=""):
    s = f"{title:<36}" + "".join(f" {label[n]} {fmt(vals.get(n), d):>9}" for n in names)
    s += f"  gh/nginx {fmt(rat[0], 2):>5}  gh/haproxy {fmt(rat[1], 2):>5}"
    if target:
        s += f"  {target}"
    if load:
        s += f"  ({load})"
    print(s)

env = [r[2] for r in rows if r[0] == "env"]
print(f"h2: {env[0]}")
rps = [r for r in rows if r[0] == "rps"]
for mode in ("h2c", "tls"):
    m = [r for r in rps if r[1] == mode and int(r[5]) == int(nreq)]
    if not m:
        continue
    vals = {n: med([float(r[4]) for r in m if r[2] == n]) for n in names}
    def rr(b):   # the median of the per-round ratios (a round's runs are adjacent in time)
        v = []
        for k in set(r[3] for r in m):
            a = [float(r[4]) for r in m if r[2] == "gh" and r[3] == k]
            c = [float(r[4]) for r in m if r[2] == b and r[3] == k]
            if a and c and c[0] > 0:
                v.append(a[0] / c[0])
        return med(v)
    r1, r2 = rr("nginx"), rr("haproxy")
    t = f"target >= 1.4x nginx: {verdict(None if r1 is None else r1 >= 1.4)}, >= 1.1x haproxy: {verdict(None if r2 is None else r2 >= 1.1)}"
    line(f"1 h2load {mode} req/s ({clients}x{streams}, x{rounds})", vals, 0, (r1, r2), t, loads([r[7] for r in m]))
bad = [f"{r[1]} {label[r[2]]} round {r[3]}: {r[5]} of {nreq} succeeded" for r in rps if int(r[5]) != int(nreq)]
if bad:
    print("note: runs left out: " + "; ".join(bad))
ins = {r[1]: (int(r[3]) - int(r[2])) / (int(r[5]) - int(r[4])) for r in rows if r[0] == "instr" and int(r[2]) > 0 and int(r[3]) > 0}
if any(r[0] == "instr" for r in rows):
    r1 = ratio(ins.get("gh"), ins.get("nginx"))
    line("2 instructions per h2c request", ins, 0, (r1, ratio(ins.get("gh"), ins.get("haproxy"))),
         f"target <= nginx: {verdict(None if r1 is None else r1 <= 1.0)}", "callgrind, 1 worker")
mem = [r for r in rows if r[0] == "mem"]
for mode in ("h2c", "tls"):
    m = [r for r in mem if r[1] == mode]
    if not m:
        continue
    per = {}
    for r in m:
        n, b, a, ok, op, k = r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6]), int(r[7])
        per[n] = (a - b) * 1024 / k if ok == k and op == k else None
        print(f"note: {label[n]} {mode}: RSS {b:,} kB before, {a:,} kB with {k} idle connections (answered {ok}, open {op})")
    r1 = ratio(per.get("gh"), per.get("nginx"))
    line(f"3 RSS bytes per idle {mode} conn ({idle})", per, 0, (r1, ratio(per.get("gh"), per.get("haproxy"))),
         f"target <= nginx: {verdict(None if r1 is None else r1 <= 1.0)}", loads([r[8] for r in m]))
    slope = {r[2]: (int(r[4]) - int(r[9])) * 1024 / int(r[10]) for r in m if per.get(r[2]) is not None and len(r) > 10}
    line(f"3 RSS bytes per idle {mode} conn, 2nd half", slope, 0,
         (ratio(slope.get("gh"), slope.get("nginx")), ratio(slope.get("gh"), slope.get("haproxy"))), "info")
print(f"h2: {env[-1]}")
EOF
