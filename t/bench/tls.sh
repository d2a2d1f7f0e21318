#!/bin/bash
# t/bench/tls.sh: TLS termination, gatehouse beside Debian's nginx and HAProxy (issue 11). All
# three run at once in front of the same origin (t/bench/origin.c) with the same certificate,
# 2 workers each. Run by hand; not part of the test suite. See t/bench/README ("tls.sh").
#
#   t/bench/tls.sh [-r ROUNDS] [-d SECS] [-c CONC] [-R HS_ROUNDS] [-N CONNS] [-i IDLE] [-K ecdsa|rsa]
#                  [-x GROUPS] [-s SECTIONS] [-g GATEHOUSE] [-n NGINX] [-a HAPROXY] [-k] [-o FILE]
#
#   -r ROUNDS    wrk rounds of the keep-alive figure (default 5)
#   -d SECS      seconds per wrk run (default 10)
#   -c CONC      wrk connections, one thread (default 50)
#   -R ROUNDS    rounds of the handshake figures (default 3)
#   -N CONNS     new TLS connections per handshake run (default 4000)
#   -i IDLE      idle TLS connections for the memory figure (default 2000)
#   -K KEY       certificate key: ecdsa (P-256, default) or rsa (RSA-2048)
#   -x GROUPS    key exchange groups the client offers (OpenSSL list, e.g. P-256; default
#                OpenSSL's, which puts X25519 first)
#   -s SECTIONS  comma list of: keepalive,handshake,memory (default: all)
#   -g PATH      gatehouse binary (default: build/gatehouse under the repository)
#   -n PATH      nginx binary (default /usr/sbin/nginx)
#   -a PATH      haproxy binary (default /usr/sbin/haproxy)
#   -k           keep the work directory (certificates, configurations, logs, raw output)
#   -o FILE      also write the result lines to FILE
#
# The defaults take about 7 minutes on a 2-core machine.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ROUNDS=5 DURATION=10 CONC=50 HS_ROUNDS=3 HS_N=4000 IDLE=2000 KEYTYPE=ecdsa KX_GROUPS=
SECTIONS=keepalive,handshake,memory GH=$repo/build/gatehouse NGINX=/usr/sbin/nginx HAPROXY=/usr/sbin/haproxy
KEEP=0 OUT=
while getopts "r:d:c:R:N:i:K:x:s:g:n:a:ko:h" opt; do
	case $opt in
	r) ROUNDS=$OPTARG ;; d) DURATION=$OPTARG ;; c) CONC=$OPTARG ;; R) HS_ROUNDS=$OPTARG ;;
	N) HS_N=$OPTARG ;; i) IDLE=$OPTARG ;; K) KEYTYPE=$OPTARG ;; x) KX_GROUPS=$OPTARG ;;
	s) SECTIONS=$OPTARG ;; g) GH=$OPTARG ;; n) NGINX=$OPTARG ;; a) HAPROXY=$OPTARG ;;
	k) KEEP=1 ;; o) OUT=$OPTARG ;;
	*) sed -n '2,25p' "$0"; exit 2 ;;
	esac
done
case $KEYTYPE in ecdsa | rsa) ;; *) echo "-K: ecdsa or rsa" >&2; exit 2 ;; esac
HS_CONC=50       # handshake client: connections at once
HS_PROCS=2       # ... shared by this many client processes (one would be the bottleneck)
KEEPALIVE=256    # upstream idle connections per worker, all three proxies
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

BENCH_TAG=tls
. "$here/lib.sh"    # want, log, die, children, cleanup, free_port, stop_pid, start_origin

for t in wrk cc openssl; do command -v $t >/dev/null || die "$t not found"; done
[ -x "$NGINX" ] || die "nginx not found at $NGINX"
[ -x "$HAPROXY" ] || die "haproxy not found at $HAPROXY (apt-get install haproxy, or t/deps.sh)"
NAMES=(gh nginx haproxy)
if [ ! -x "$GH" ]; then
	log "gatehouse binary $GH not found: its column will be n/a"
	NAMES=(nginx haproxy)
fi
declare -A LABEL=([gh]=gatehouse [nginx]=nginx [haproxy]=haproxy)

# Descriptors: the idle connections and their upstream side. HAProxy wants about 2 per
# maxconn for itself and refuses to start when the limit is lower.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
MAXCONN=8000   # max_connections (per worker), worker_connections (per worker), maxconn (process)
[ $((2 * MAXCONN + 500)) -le "$NOFILE" ] || MAXCONN=$(((NOFILE - 500) / 2))
if [ $((IDLE + 500)) -gt "$MAXCONN" ]; then
	IDLE=$((MAXCONN - 500))
	log "fd limit $NOFILE: idle connections lowered to $IDLE"
fi

W=$(mktemp -d /tmp/ghtls.XXXXXX)
RES=$W/results.tsv
: >"$RES"
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

T_START=$SECONDS
echo -e "env\tstart\t$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" >>"$RES"

log "building helpers"
cc -O2 -o "$W/origin" "$here/origin.c" || die "origin.c does not build"
cc -O2 -o "$W/tls_client" "$here/tls_client.c" -lssl -lcrypto || die "tls_client.c does not build (libssl-dev?)"
TC=$W/tls_client

# ---------------------------------------------------------------- certificates
# A CA and a server certificate for localhost and 127.0.0.1 signed by it, both of KEYTYPE.
P=$W/pki
mkdir -p "$P"
newkey() {
	if [ "$KEYTYPE" = rsa ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
	else
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
	fi
}
{
	newkey "$P/ca.key" && newkey "$P/site.key" &&
		openssl req -x509 -new -key "$P/ca.key" -sha256 -days 2 -subj "/CN=gatehouse tls bench CA" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
			-out "$P/ca.crt" &&
		openssl req -new -key "$P/site.key" -subj "/CN=localhost" -out "$P/site.csr" &&
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature%s\nextendedKeyUsage=serverAuth\n' \
			"$([ "$KEYTYPE" = rsa ] && echo ,keyEncipherment)" >"$P/ext.cnf" &&
		openssl x509 -req -in "$P/site.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
			-sha256 -extfile "$P/ext.cnf" -out "$P/site.crt" &&
		openssl verify -CAfile "$P/ca.crt" "$P/site.crt" &&
		cat "$P/site.crt" "$P/site.key" >"$P/site.pem"   # HAProxy: certificate and key in one file
} >"$P/openssl.log" 2>&1 || { cat "$P/openssl.log" >&2; die "could not make the test certificates"; }
CERTDESC=$([ "$KEYTYPE" = rsa ] && echo "RSA-2048" || echo "ECDSA P-256")
log "test CA and $CERTDESC certificate in $P"


# tls_probe PORT: one full TLS handshake and a 200, verified against the test CA, 3 s at most.
tls_probe() { timeout 10 "$TC" -p "$1" -n 1 -c 1 -A "$P/ca.crt" -w 2 -t 3 >/dev/null 2>&1; }


# ---------------------------------------------------------------- origin
start_origin

# ---------------------------------------------------------------- configurations
# All three: 2 workers (HAProxy: 2 threads), access logs off, TLSv1.2 and TLSv1.3 with the
# proxy's own defaults otherwise (ciphers, groups, session tickets, cache), keep-alive to the
# origin with up to 256 idle connections, and the same header work as t/bench/bench.sh
# (X-Forwarded-For, Forwarded, X-Forwarded-Proto/Host, Via and X-Request-ID upstream, Via and
# X-Request-ID on the response), which gatehouse does by itself.
write_gh_conf() {   # DIR PORT
	local admin
	admin=$(free_port)
	mkdir -p "$1"
	cat >"$1/gatehouse.conf" <<EOF
workers = 2;
pid_file = "gatehouse.pid";
shutdown_timeout = "2s";
error_log = { path = "error.log"; level = "notice"; };
access_log = { path = "access.log"; format = "off"; };
limits = { max_connections = $MAXCONN; };
compression = { gzip = false; };
admin = { address = "127.0.0.1:$admin"; };
listen = ( { address = "127.0.0.1:$2"; tls = true; } );
tls = { certificates = ( { cert = "$P/site.crt"; key = "$P/site.key"; } ); protocols = ["TLSv1.2", "TLSv1.3"]; };
upstreams = ( { name = "o"; keepalive = $KEEPALIVE; keepalive_timeout = "4s"; keepalive_requests = 10000;
                servers = ( { address = "127.0.0.1:$OPORT"; } ); } );
servers = ( { names = ["default"]; routes = ( { path = "/"; upstream = "o"; } ); } );
EOF
}

write_nginx_conf() {   # DIR PORT
	mkdir -p "$1/tmp"
	cat >"$1/nginx.conf" <<EOF
user $(id -un);
worker_processes 2;
master_process on;
worker_rlimit_nofile $NOFILE;
error_log $1/error.log warn;
pid $1/nginx.pid;
events { worker_connections $MAXCONN; use epoll; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $1/tmp/body; proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi; uwsgi_temp_path $1/tmp/uwsgi; scgi_temp_path $1/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    ssl_protocols TLSv1.2 TLSv1.3;
    upstream o {
        server 127.0.0.1:$OPORT;
        keepalive $KEEPALIVE;
        keepalive_timeout 4s;
        keepalive_requests 10000;
    }
$NGINX_PROXY_HEADERS
    proxy_max_temp_file_size 0;
    server {
        listen 127.0.0.1:$2 ssl default_server;
        ssl_certificate $P/site.crt;
        ssl_certificate_key $P/site.key;
        location / { proxy_pass http://o; }
    }
}
EOF
}

# HAProxy 2.6: one process, nbthread 2; no log line is configured, so none is written.
# http-reuse always: the default (safe) gives the first request of every client connection
# a new upstream connection, and each new TLS connection here carries one request only.
write_haproxy_conf() {   # DIR PORT
	mkdir -p "$1"
	cat >"$1/haproxy.cfg" <<EOF
global
    nbthread 2
    maxconn $MAXCONN
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 75s
    timeout server 30s
    timeout http-keep-alive 75s
    timeout http-request 30s
    http-reuse always
frontend f
    bind 127.0.0.1:$2 ssl crt $P/site.pem
    unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid
    option forwardfor
    http-request set-header Forwarded "for=%[src];host=\"%[req.hdr(host)]\";proto=https"
    http-request set-header X-Forwarded-Proto https
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

# proxy_up NAME DIR PORT: a fresh proxy in the background of this script; PROXY_PID. Returns
# 1 (and leaves nothing running) when it does not answer a TLS request within 10 s.
proxy_up() {
	local n=$1 d=$2 port=$3 i
	case $n in
	gh) write_gh_conf "$d" "$port"; "$GH" -c "$d/gatehouse.conf" -p "$d" >"$d/stdout.log" 2>&1 & ;;
	nginx) write_nginx_conf "$d" "$port"; "$NGINX" -p "$d" -c "$d/nginx.conf" -g 'daemon off;' >"$d/stdout.log" 2>&1 & ;;
	haproxy) write_haproxy_conf "$d" "$port"; "$HAPROXY" -db -f "$d/haproxy.cfg" >"$d/stdout.log" 2>&1 & ;;
	esac
	PROXY_PID=$!
	PIDS+=($PROXY_PID)
	local end=$((SECONDS + 10))
	while [ $SECONDS -lt $end ]; do
		kill -0 "$PROXY_PID" 2>/dev/null || break
		tls_probe "$port" && return 0
		sleep 0.3
	done
	log "${LABEL[$n]} did not answer a TLS request on port $port: n/a. Its logs:"
	tail -n 5 "$d"/*.log >&2
	timeout 5 "$TC" -p "$port" -n 1 -c 1 -A "$P/ca.crt" -w 2 -t 3 2>&1 | head -3 >&2
	stop_pid "$PROXY_PID" TERM 5
	return 1
}

declare -A PORT PID
# up_all TAG: start the proxies that are not known to fail; PID[n] empty for those that failed
up_all() {
	local n
	for n in "${NAMES[@]}"; do
		PORT[$n]=$(free_port)
		if proxy_up "$n" "$W/$1-$n" "${PORT[$n]}"; then
			PID[$n]=$PROXY_PID
			log "${LABEL[$n]} on 127.0.0.1:${PORT[$n]} (pid $PROXY_PID)"
		else
			PID[$n]=
			echo -e "fail\t$1\t$n" >>"$RES"
		fi
	done
}
down_all() {
	local n
	for n in "${NAMES[@]}"; do [ -z "${PID[$n]}" ] || stop_pid "${PID[$n]}" TERM 10; done
}
alive() {   # NAME TAG: still running? Otherwise mark it failed from now on
	[ -n "${PID[$1]}" ] || return 1
	kill -0 "${PID[$1]}" 2>/dev/null && return 0
	log "${LABEL[$1]} died during $2"
	echo -e "fail\t$2\t$1" >>"$RES"
	PID[$1]=
	return 1
}

# wrk_fig FILE: "req_per_s p99_ms non2xx socket_errors"
wrk_fig() {
	awk '
	function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
	/^Requests\/sec:/ { rps = $2 }
	/Non-2xx/ { non = $NF }
	/Socket errors/ { gsub(",", ""); sock = $4 + $6 + $8 + $10 }
	$1 == "99%" { p99 = ms($2) }
	END { printf "%.1f %.3f %d %d\n", rps, p99, non, sock }' "$1"
}

CLIENT_ARGS=(-A "$P/ca.crt")
[ -z "$KX_GROUPS" ] || CLIENT_ARGS+=(-G "$KX_GROUPS")

# ---------------------------------------------------------------- 1. keep-alive req/s
CLK=$(getconf CLK_TCK)
echo -e "clk\t$CLK" >>"$RES"
if want keepalive; then
	up_all ka
	mkdir -p "$W/wrk"
	for n in "${NAMES[@]}"; do   # warm-up, not recorded
		[ -n "${PID[$n]}" ] && timeout 30 wrk -t1 -c"$CONC" -d2 "https://127.0.0.1:${PORT[$n]}/" >/dev/null 2>&1
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		for n in "${NAMES[@]}"; do
			alive "$n" keepalive || continue
			log "wrk keep-alive round $r/$ROUNDS: ${LABEL[$n]}"
			f=$W/wrk/$n-$r.txt
			c0=$(cpu_ticks "${PID[$n]}")
			timeout $((DURATION + 30)) wrk -t1 -c"$CONC" -d"$DURATION" --latency "https://127.0.0.1:${PORT[$n]}/" >"$f" 2>&1
			c1=$(cpu_ticks "${PID[$n]}")
			read -r rps p99 non sock < <(wrk_fig "$f")
			nreq=$(awk '/requests in/ { print $1; exit }' "$f")
			echo -e "ka\t$n\t$r\t$rps\t$p99\t$non\t$sock\t$(load1)\t$((c1 - c0))\t${nreq:-0}" >>"$RES"
		done
	done
	down_all
fi

# ---------------------------------------------------------------- 2 and 3. handshakes
# Per round and proxy, four runs of HS_N new connections (HS_CONC at once, HS_PROCS client
# processes), each a handshake, one request (Connection: close) and the close: full TLS 1.3,
# resumed TLS 1.3 (the ticket of the slot's previous connection), full TLS 1.2, resumed
# TLS 1.2. For each: the client's rate and the proxy's CPU ticks during the run.
if want handshake; then
	up_all hs
	for n in "${NAMES[@]}"; do   # warm-up: every mode once, not recorded
		[ -n "${PID[$n]}" ] || continue
		for m in "" "-r"; do timeout 60 "$TC" -p "${PORT[$n]}" -n 500 -c $HS_CONC -P $HS_PROCS $m "${CLIENT_ARGS[@]}" >/dev/null 2>&1; done
	done
	for ((r = 1; r <= HS_ROUNDS; r++)); do
		for n in "${NAMES[@]}"; do
			for mode in full13 res13 full12 res12; do
				alive "$n" handshake || continue
				args=(-V 1.${mode: -1})
				[ "${mode:0:3}" = res ] && args+=(-r)
				c0=$(cpu_ticks "${PID[$n]}")
				out=$(timeout 300 "$TC" -p "${PORT[$n]}" -n "$HS_N" -c $HS_CONC -P $HS_PROCS -t 240 "${args[@]}" "${CLIENT_ARGS[@]}" 2>"$W/tc.err")
				rc=$?
				c1=$(cpu_ticks "${PID[$n]}")
				log "round $r/$HS_ROUNDS ${LABEL[$n]} $mode: $out, proxy CPU $(((c1 - c0) * 1000 / CLK)) ms"
				[ "$rc" = 0 ] || log "  tls_client exit $rc: $(head -c 300 "$W/tc.err")"
				# conns N ok N resumed N errors N secs S rate R/s proto P cipher C group G
				read -ra f <<<"$out"
				rate=${f[11]:-0}
				echo -e "hs\t$mode\t$n\t$r\t${f[1]:-0}\t${f[3]:-0}\t${f[5]:-0}\t${f[7]:-0}\t${rate%/s}\t$((c1 - c0))\t${f[13]:--}\t${f[15]:--}\t${f[17]:--}\t$rc\t$(load1)" >>"$RES"
			done
		done
	done
	down_all
fi

# ---------------------------------------------------------------- 4. idle TLS connections
# Fresh proxies; a warm-up of 2,000 new connections, 256 at once (the idle client's own
# concurrency), so the allocators' free lists are as full before as after; then IDLE
# connections, each a handshake and one keep-alive request, left open and idle. RSS of the
# master and all its children before and with them.
if want memory; then
	up_all mem
	for n in "${NAMES[@]}"; do
		[ -n "${PID[$n]}" ] || continue
		d=$W/mem-$n
		timeout 120 "$TC" -p "${PORT[$n]}" -n 2000 -c 256 "${CLIENT_ARGS[@]}" >"$d/warm.out" 2>&1
		sleep 1
		alive "$n" memory || continue
		before=$(rss_kb "${PID[$n]}")
		# two clients of IDLE/2 each, RSS after each: the second half's slope has no heap
		# left over from the warm-up to reuse
		h1=$((IDLE / 2)) h2=$((IDLE - IDLE / 2)) ok=0 open=0 ics=() mid=
		for h in $h1 $h2; do
			k=${#ics[@]}
			"$TC" -p "${PORT[$n]}" -i "$h" -c 256 -t 300 "${CLIENT_ARGS[@]}" >"$d/idle$k.out" 2>"$d/idle$k.err" &
			ics+=($!)
			PIDS+=($!)
			for ((i = 0; i < 1200; i++)); do grep -qs ready "$d/idle$k.out" && break; sleep 0.1; done
			sleep 1
			[ -n "$mid" ] || mid=$(rss_kb "${PID[$n]}")
		done
		after=$(rss_kb "${PID[$n]}")
		for k in 0 1; do
			kill -USR1 "${ics[$k]}" 2>/dev/null
		done
		sleep 0.5
		for k in 0 1; do
			v=$(awk '/ready/ { print $4 }' "$d/idle$k.out")
			ok=$((ok + ${v:-0}))
			v=$(awk '/^open/ { print $2 }' "$d/idle$k.out" | tail -1)
			open=$((open + ${v:-0}))
		done
		log "${LABEL[$n]}: RSS $before kB, with $h1 idle TLS connections $mid kB, with $IDLE $after kB (answered $ok, open $open)"
		echo -e "mem\t$n\t$before\t$after\t$ok\t$open\t$IDLE\t$(load1)\t$mid\t$h2" >>"$RES"
		for k in 0 1; do stop_pid "${ics[$k]}" TERM 10; done
		alive "$n" memory
	done
	down_all
fi

# ---------------------------------------------------------------- report
echo -e "env\tend\tload average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), $((SECONDS - T_START)) s" >>"$RES"
$PY - "$RES" "$CERTDESC" "$ROUNDS" "$DURATION" "$CONC" "$HS_ROUNDS" "$HS_N" "$HS_CONC" "$HS_PROCS" "$IDLE" <<'EOF' | tee ${OUT:+"$OUT"}
import sys
res, cert, rounds, dur, conc, hsr, hsn, hsc, hsp, idle = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(res) if l.strip()]
names = ["gh", "nginx", "haproxy"]
label = {"gh": "gatehouse", "nginx": "nginx", "haproxy": "haproxy"}
clk = next((int(r[1]) for r in rows if r[0] == "clk"), 100)
failed = {}
for r in rows:
    if r[0] == "fail":
        failed.setdefault(r[2], []).append(r[1])

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

def loads(v):
    v = [float(x) for x in v]
    return f"load {min(v):.2f}-{max(v):.2f}" if v else "load ?"

def verdict(ok):
    return "n/a" if ok is None else ("pass" if ok else "FAIL")

def line(title, vals, d, target="", load="", rat=None):
    """vals: name -> figure; rat: (gh/nginx, gh/haproxy) or computed from vals."""
    if rat is None:
        rat = (ratio(vals.get("gh"), vals.get("nginx")), ratio(vals.get("gh"), vals.get("haproxy")))
    s = f"{title:<34}" + "".join(f" {label[n]} {fmt(vals.get(n), d):>9}" for n in names)
    s += f"  gh/nginx {fmt(rat[0], 2):>5}  gh/haproxy {fmt(rat[1], 2):>5}"
    if target:
        s += f"  {target}"
    if load:
        s += f"  ({load})"
    print(s)

env = [r[2] for r in rows if r[0] == "env"]
print(f"tls: {env[0]}; {cert} certificate, 2 workers each (haproxy: nbthread 2)")
for n, where in failed.items():
    print(f"note: {label[n]} failed in: {', '.join(sorted(set(where)))} (n/a there; the log above says how)")

# 1. keep-alive
ka = [r for r in rows if r[0] == "ka"]
if ka:
    rps = {n: med([float(r[3]) for r in ka if r[1] == n and float(r[3]) > 0]) for n in names}
    p99 = {n: med([float(r[4]) for r in ka if r[1] == n and float(r[3]) > 0]) for n in names}
    # the ratio: median of the per-round ratios (a round's runs are adjacent in time)
    def rr(b, col):
        v = []
        for k in set(r[2] for r in ka):
            a = [float(r[col]) for r in ka if r[1] == "gh" and r[2] == k and float(r[3]) > 0]
            c = [float(r[col]) for r in ka if r[1] == b and r[2] == k and float(r[3]) > 0]
            if a and c and c[0] > 0:
                v.append(a[0] / c[0])
        return med(v)
    errs = {n: sum(int(r[5]) + int(r[6]) for r in ka if r[1] == n) for n in names}
    r1, r2 = rr("nginx", 3), rr("haproxy", 3)
    t = f"target >= 1.1x nginx: {verdict(None if r1 is None else r1 >= 1.1)}, >= haproxy: {verdict(None if r2 is None else r2 >= 1.0)}"
    ld = loads([r[7] for r in ka])
    line(f"1 keep-alive req/s (wrk c{conc}, {dur}s x{rounds})", rps, 0, t, ld, (r1, r2))
    line("1 keep-alive p99 ms", p99, 2, "info", ld, (rr("nginx", 4), rr("haproxy", 4)))
    # CPU of the proxy's processes per request served: less sensitive than req/s to what
    # else runs on the machine (a proxy that needs less CPU per request serves more when
    # it has the cores to itself)
    cpr = {n: med([int(r[8]) * 1e6 / clk / int(r[9]) for r in ka if r[1] == n and len(r) > 9 and int(r[9]) > 0]) for n in names}
    c1, c2 = ratio(cpr.get("gh"), cpr.get("nginx")), ratio(cpr.get("gh"), cpr.get("haproxy"))
    line("1 keep-alive proxy CPU us per request", cpr, 1, "info: lower is better", ld, (c1, c2))
    bad = [f"{label[n]} {e}" for n, e in errs.items() if e]
    if bad:
        print(f"note: wrk errors (non-2xx + socket): {', '.join(bad)}")

# 2 and 3. handshakes
hs = [r for r in rows if r[0] == "hs"]
def hsf(mode, n, what):
    v = []
    for r in hs:
        if r[1] != mode or r[2] != n or r[13] != "0":
            continue
        ok = int(r[5])
        if what == "rate":
            v.append(float(r[8]))
        elif what == "cpu" and ok > 0:
            v.append(int(r[9]) * 1e6 / clk / ok)
        elif what == "share" and ok > 0:
            v.append(100.0 * int(r[6]) / ok)
    return med(v)
if hs:
    ld = loads([r[14] for r in hs])
    cpu = {n: hsf("full13", n, "cpu") for n in names}
    r2 = ratio(cpu.get("gh"), cpu.get("haproxy"))
    line(f"2 CPU us per new TLS 1.3 conn", cpu, 0,
         f"target <= 0.9x haproxy: {verdict(None if r2 is None else r2 <= 0.9)}", ld)
    for v in ("13", "12"):
        full = {n: hsf("full" + v, n, "rate") for n in names}
        resd = {n: hsf("res" + v, n, "rate") for n in names}
        rat = {n: ratio(resd[n], full[n]) for n in names}
        line(f"3 TLS 1.{v[1]} full handshakes/s", full, 0, "", ld)
        line(f"3 TLS 1.{v[1]} resumed handshakes/s", resd, 0, "", ld)
        # a slot's first connection is full: (conns - slots) / conns is all a client can resume
        line(f"3 TLS 1.{v[1]} % of conns resumed", {n: hsf("res" + v, n, "share") for n in names}, 1,
             f"info: at most {100 * (int(hsn) - int(hsc)) / int(hsn):.1f}", ld)
        line(f"3 TLS 1.{v[1]} resumed/full", rat, 2,
             f"target gatehouse >= 3: {verdict(None if rat['gh'] is None else rat['gh'] >= 3)}", ld)
        cf = {n: hsf("full" + v, n, "cpu") for n in names}
        cr = {n: hsf("res" + v, n, "cpu") for n in names}
        line(f"3 TLS 1.{v[1]} proxy CPU us full", cf, 0, "info", ld)
        line(f"3 TLS 1.{v[1]} proxy CPU us resumed", cr, 0, "info", ld)
        line(f"3 TLS 1.{v[1]} CPU full/resumed", {n: ratio(cf[n], cr[n]) for n in names}, 2,
             "info: resumed/full per proxy CPU-second", ld)
    # what was negotiated, and runs that did not all succeed
    for n in names:
        seen = sorted(set(f"{r[1]}: {r[10]} {r[11]} {r[12]}" for r in hs if r[2] == n and r[10] != "-"))
        if seen:
            print(f"note: {label[n]} negotiated " + "; ".join(seen))
        bad = [f"{r[1]} round {r[3]}: ok {r[5]}/{r[4]}, resumed {r[6]}, errors {r[7]}" for r in hs if r[2] == n and r[13] != "0"]
        if bad:
            print(f"note: {label[n]} runs left out (not all 200, or resumption not as asked): " + "; ".join(bad))
    print(f"note: handshake runs: {hsn} connections, {hsc} at once from {hsp} client processes, {hsr} rounds, medians")

# 4. memory
mem = [r for r in rows if r[0] == "mem"]
if mem:
    per = {}
    for r in mem:
        n, b, a, ok, op, k = r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6])
        per[n] = (a - b) * 1024 / k if ok == k and op == k else None
        if ok != k or op != k:
            print(f"note: {label[n]}: only {ok} of {k} idle connections answered, {op} still open: n/a")
        print(f"note: {label[n]} RSS (master and children) {b:,} kB before, {int(r[8]):,} kB with {k - int(r[9])} and {a:,} kB with {k} idle TLS connections")
    r1 = ratio(per.get("gh"), per.get("nginx"))
    ld = loads([r[7] for r in mem])
    line(f"4 RSS bytes per idle TLS conn ({idle})", per, 0,
         f"target <= nginx: {verdict(None if r1 is None else r1 <= 1.0)}", ld)
    slope = {r[1]: (int(r[3]) - int(r[8])) * 1024 / int(r[9]) if per.get(r[1]) is not None else None for r in mem}
    line(f"4 RSS bytes per idle conn, 2nd half", slope, 0, "info", ld)
print(f"tls: {env[-1]}")
EOF
