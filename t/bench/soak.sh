#!/bin/bash
# t/bench/soak.sh: reloads, worker kills and a slowloris flood under load, gatehouse beside
# Debian's nginx, both in front of the same origin (t/bench/origin.c). Run by hand; too long
# for CI. See t/bench/README ("soak.sh") for what each line means.
#
#   t/bench/soak.sh [-q] [-s SECTIONS] [-c CONC] [-g GATEHOUSE] [-n NGINX] [-k] [-o FILE]
#
#   -q           quick: 10 HUPs, 3 kills, 500 slowloris connections, shorter runs
#   -s SECTIONS  comma list of: reload,kill,loris (default: all)
#   -c CONC      wrk connections (default 50; one wrk thread)
#   -g PATH      gatehouse binary (default: build/gatehouse under the repository)
#   -n PATH      nginx binary (default /usr/sbin/nginx)
#   -k           keep the work directory (wrk output, logs, loris close times)
#   -o FILE      also write the result lines to FILE
#
# The full run takes about 25 minutes on a 2-core machine; -q about 5.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
QUICK=0 SECTIONS=reload,kill,loris CONC=50 GH=$repo/build/gatehouse NGINX=/usr/sbin/nginx KEEP=0 OUT=
while getopts "qs:c:g:n:ko:h" opt; do
	case $opt in
	q) QUICK=1 ;; s) SECTIONS=$OPTARG ;; c) CONC=$OPTARG ;; g) GH=$OPTARG ;; n) NGINX=$OPTARG ;;
	k) KEEP=1 ;; o) OUT=$OPTARG ;;
	*) sed -n '2,16p' "$0"; exit 2 ;;
	esac
done
if [ "$QUICK" = 1 ]; then
	HUPS=10 RPAIRS=2 KILLS=3 LORIS=500 LORIS_SECS=24 CALM_SECS=10 WAVE_SECS=20
else
	HUPS=100 RPAIRS=4 KILLS=20 LORIS=5000 LORIS_SECS=60 CALM_SECS=30 WAVE_SECS=20
fi
HUP_GAP=0.5          # seconds between HUPs
# The HUPs are spread over RPAIRS pairs of back-to-back wrk runs (one without reloads, one
# with): load drifting on a shared machine between two runs moves one pair's ratio, not
# the figure (the median of the pairs' ratios).
KILL_GAP=3           # seconds between kills (a worker younger than 2 s that dies counts as a crash)
HEADER_TIMEOUT=10    # client header timeout, both proxies: the loris waves come this often
LORIS_ADDRS=20       # source addresses 127.0.0.2 .. 127.0.0.21
LORIS_LINE_MS=3000   # a loris connection sends one more header line this often
WINDOW=2             # seconds per wrk window in the loris section
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

BENCH_TAG=soak
. "$here/lib.sh"    # want, log, die, children, cleanup, free_port, stop_pid, start_origin

for t in wrk cc ss; do command -v $t >/dev/null || die "$t not found"; done
[ -x "$NGINX" ] || die "nginx not found at $NGINX"
NAMES=(gh nginx)
if [ ! -x "$GH" ]; then
	log "gatehouse binary $GH not found: only nginx will be measured"
	NAMES=(nginx)
fi
declare -A LABEL=([gh]=gatehouse [nginx]=nginx)

# Descriptors: the loris connections, the wrk client and the proxies' upstream connections.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
# max_connections / worker_connections, both proxies. Room for twice the loris connections,
# so that a worker stays out of the last tenth of max_connections, where gatehouse closes idle
# keep-alive clients (wrk's, between two requests) to make room (server/conn.c). Until issue
# 17's fix gatehouse lingered on a timed-out connection until the client's FIN, so a wave
# held the timed-out connections and their reconnections together; now it closes them at once.
MAXCONN=$((2 * LORIS + CONC + 500))
# the descriptors that are really open: the loris connections twice in a wave, wrk's and
# their upstream connections, and the proxies' own
if [ $((2 * LORIS + 2 * CONC + 600)) -gt "$NOFILE" ]; then
	LORIS=$(((NOFILE - 2 * CONC - 600) / 2))
	MAXCONN=$((2 * LORIS + CONC + 500))
	log "fd limit $NOFILE: slowloris connections lowered to $LORIS"
fi

W=$(mktemp -d /tmp/ghsoak.XXXXXX)
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

RESULT=$W/result.txt
: >"$RESULT"
say() { echo "$*" | tee -a "$RESULT"; }   # a result line

log "building helpers"
cc -O2 -o "$W/origin" "$here/origin.c" || die "origin.c does not build"
cc -O2 -o "$W/nreq" "$here/nreq.c" || die "nreq.c does not build"
cc -O2 -o "$W/loris" "$here/soak_loris.c" || die "soak_loris.c does not build"


wait_ready() {   # PORT SECS: until one request through PORT gets a 200
	local i n=$(($2 * 5))
	for ((i = 0; i < n; i++)); do
		"$W/nreq" -p "$1" -n 1 -c 1 -t 5 >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}


# ---------------------------------------------------------------- origin
start_origin
wait_ready "$OPORT" 5 || die "origin did not start"

# ---------------------------------------------------------------- configurations
# As t/bench/bench.sh (one worker, upstream keep-alive 256, the same header work), with
# equal client header timeouts and max_connections sized for the slowloris connections.
write_gh_conf() {   # DIR PORT
	local admin
	admin=$(free_port)
	mkdir -p "$1"
	cat >"$1/gatehouse.conf" <<EOF
workers = 1;
pid_file = "gatehouse.pid";
shutdown_timeout = "2s";
error_log = { path = "error.log"; level = "info"; };
access_log = { path = "access.log"; format = "off"; };
timeouts = { client_header = "${HEADER_TIMEOUT}s"; };
limits = { max_connections = $MAXCONN; };
compression = { gzip = false; };
admin = { address = "127.0.0.1:$admin"; };
listen = ( { address = "127.0.0.1:$2"; } );
upstreams = ( { name = "o"; keepalive = 256; keepalive_timeout = "4s"; keepalive_requests = 10000;
                servers = ( { address = "127.0.0.1:$OPORT"; } ); } );
servers = ( { names = ["default"]; routes = ( { path = "/"; upstream = "o"; } ); } );
EOF
}

write_nginx_conf() {   # DIR PORT
	mkdir -p "$1/tmp"
	cat >"$1/nginx.conf" <<EOF
user $(id -un);
worker_processes 1;
master_process on;
worker_rlimit_nofile $NOFILE;
error_log $1/error.log notice;
pid $1/nginx.pid;
events { worker_connections $MAXCONN; use epoll; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $1/tmp/body; proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi; uwsgi_temp_path $1/tmp/uwsgi; scgi_temp_path $1/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_header_timeout ${HEADER_TIMEOUT}s;
    upstream o {
        server 127.0.0.1:$OPORT;
        keepalive 256;
        keepalive_timeout 4s;
        keepalive_requests 10000;
    }
$NGINX_PROXY_HEADERS
    proxy_max_temp_file_size 0;
    server { listen 127.0.0.1:$2 default_server; location / { proxy_pass http://o; } }
}
EOF
}

# proxy_up NAME DIR PORT: a fresh proxy in the foreground of a background job; PROXY_PID.
proxy_up() {
	local n=$1 d=$2 port=$3
	if [ "$n" = gh ]; then
		write_gh_conf "$d" "$port"
		"$GH" -c "$d/gatehouse.conf" -p "$d" >"$d/stdout.log" 2>&1 &
	else
		write_nginx_conf "$d" "$port"
		"$NGINX" -p "$d" -c "$d/nginx.conf" -g 'daemon off;' >"$d/stdout.log" 2>&1 &
	fi
	PROXY_PID=$!
	PIDS+=($PROXY_PID)
	if ! wait_ready "$port" 10; then
		log "$n did not serve a 200 on port $port within 10 s; its logs:"
		tail -n 20 "$d"/*.log >&2
		stop_pid "$PROXY_PID" TERM 5
		return 1
	fi
}

workers_of() {   # NAME MASTER: worker pids (not the gatehouse helper, not nginx cache processes)
	local p
	for p in $(children "$2"); do
		if [ "$1" = gh ]; then
			[ "$(cat /proc/$p/comm 2>/dev/null)" = gh-helper ] || tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -q helper || echo "$p"
		else
			tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -q 'worker process' && echo "$p"
		fi
	done
}

fds_of() { ls /proc/"$1"/fd 2>/dev/null | wc -l; }
rss_of() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status 2>/dev/null; }

# wrk_run OUTFILE SECS ARGS...: wrk -t1 -cCONC --latency, bounded in time
wrk_run() {
	local f=$1 s=$2
	shift 2
	timeout $((s + 30)) wrk -t1 -c"$CONC" -d"$s" --latency "$@" >"$f" 2>&1
}
# wrk_fig FILE: "requests non2xx socket_errors p99_ms"
wrk_fig() {
	awk '
	function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
	/requests in/ { req = $1 }
	/Non-2xx/ { non = $NF }
	/Socket errors/ { gsub(",", ""); sock = $4 + $6 + $8 + $10 }
	$1 == "99%" { p99 = ms($2) }
	END { printf "%d %d %d %.2f\n", req, non, sock, p99 }' "$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
passfail() { [ "$1" = 1 ] && echo pass || echo FAIL; }

echo "soak: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start, $(date -u +%FT%TZ)$([ $QUICK = 1 ] && echo ', quick run (-q)')" | tee -a "$RESULT"

# ---------------------------------------------------------------- reloads
# HUPS HUPs HUP_GAP apart under wrk, keep-alive and Connection: close, in RPAIRS pairs of
# runs of the same length, one without reloads and then one with HUPS/RPAIRS of them; the
# master's descriptors and RSS before and after. The HUPs come from one Python process per
# run: a shell loop forks and execs sleep(1) at every HUP (1.6 ms of CPU, more than the
# master's reload), which the run without reloads does not pay.
# hups_send PID N GAP DELAY: N HUPs GAP s apart after DELAY s; prints how many went
hups_send() {
	$PY - "$@" <<'EOF'
import os, signal, sys, time
pid, n, gap, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
time.sleep(delay)
t, sent = time.monotonic(), 0
for i in range(n):
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError:
        break
    sent += 1
    t += gap
    time.sleep(max(0.0, t - time.monotonic()))
print(sent)
EOF
}
# med: the median of the numbers on stdin, the higher middle one of an even count ("n/a"
# for none)
med() { tr ' ' '\n' | sort -g | awk 'NF { v[n++] = $1 } END { print n ? v[int(n / 2)] : "n/a" }'; }
if want reload; then
	PHUPS=$(((HUPS + RPAIRS - 1) / RPAIRS))
	RSECS=$(awk -v h=$PHUPS -v g=$HUP_GAP 'BEGIN { printf "%d", h * g + 3 }')
	for n in "${NAMES[@]}"; do
		d=$W/reload-$n port=$(free_port)
		proxy_up "$n" "$d" "$port" || continue
		m=$PROXY_PID
		for mode in keep-alive close; do
			hdr=()
			[ $mode = close ] && hdr=(-H 'Connection: close')
			timeout 20 wrk -t1 -c"$CONC" -d2 "${hdr[@]}" "http://127.0.0.1:$port/" >/dev/null 2>&1   # warm-up
			sleep 1
			f0=$(fds_of $m) r0=$(rss_of $m)
			r_before=$(grep -c -e 'reload done' -e ': reconfiguring$' "$d/error.log" 2>/dev/null)
			log "$n $mode: $RPAIRS pairs of $RSECS s runs, without reloads and with $PHUPS HUPs $HUP_GAP s apart"
			q0=0 x0=0 s0=0 q1=0 x1=0 s1=0 sent=0 p0s= p1s= rts=
			for ((k = 0; k < RPAIRS; k++)); do
				wrk_run "$d/wrk-$mode-none-$k.txt" "$RSECS" "${hdr[@]}" "http://127.0.0.1:$port/"
				wrk_run "$d/wrk-$mode-hup-$k.txt" "$RSECS" "${hdr[@]}" "http://127.0.0.1:$port/" &
				wk=$!
				# from 1 s into the run; the last one about 2 s before it ends
				left=$((HUPS - sent))
				c=$(hups_send $m $((left < PHUPS ? left : PHUPS)) $HUP_GAP 1)
				sent=$((sent + ${c:-0}))
				wait $wk
				read -r a b e p < <(wrk_fig "$d/wrk-$mode-none-$k.txt")
				q0=$((q0 + a)) x0=$((x0 + b)) s0=$((s0 + e)) p0s="$p0s $p"
				read -r a b e p1 < <(wrk_fig "$d/wrk-$mode-hup-$k.txt")
				q1=$((q1 + a)) x1=$((x1 + b)) s1=$((s1 + e)) p1s="$p1s $p1"
				rts="$rts $(ratio "$p1" "$p")"
			done
			sleep 3   # the old generations drain (shutdown_timeout 2 s; nginx: its idle ones)
			f1=$(fds_of $m) r1=$(rss_of $m)
			r_after=$(grep -c -e 'reload done' -e ': reconfiguring$' "$d/error.log" 2>/dev/null)
			e1=$((x1 + s1)) e0=$((x0 + s0))
			p0=$(echo $p0s | med) p1=$(echo $p1s | med) rt=$(echo $rts | med)
			if [ "$n" = gh ]; then
				ok=0; [ "$e1" = 0 ] && ok=1
				t1="target 0: $(passfail $ok)"
				ok=$(awk -v r="$rt" 'BEGIN { print (r != "n/a" && r <= 2) ? 1 : 0 }')
				t2="target <= 2: $(passfail $ok)"
			else
				t1="(comparison)" t2="(comparison)"
			fi
			say "$(printf 'reload %-10s %-9s %d HUPs: requests %d (no-reload %d), errors %d (non-2xx %d, socket %d; no-reload %d)  %s' \
				$mode "${LABEL[$n]}" "$sent" "$q1" "$q0" "$e1" "$x1" "$s1" "$e0" "$t1")"
			say "$(printf 'reload %-10s %-9s p99 median %.2f ms, no-reload %.2f ms; ratio per pair%s, median %s  %s' \
				$mode "${LABEL[$n]}" "$p1" "$p0" "$rts" "$rt" "$t2")"
			say "$(printf 'reload %-10s %-9s master fds %d -> %d, RSS %d -> %d kB (%d reloads logged, %d workers now)' \
				$mode "${LABEL[$n]}" "$f0" "$f1" "$r0" "$r1" $((r_after - r_before)) "$(workers_of "$n" $m | wc -l)")"
		done
		stop_pid $m QUIT 10
	done
fi

# ---------------------------------------------------------------- worker kills
# KILLS SIGKILLs KILL_GAP apart to the (only) worker under wrk keep-alive: wrk's errors against
# the client connections the killed workers held; the time from each kill to a new worker pid
# and to a new connection's answer (it waits in the listening socket's queue meanwhile).
if want kill; then
	KSECS=$((KILLS * KILL_GAP + 4))
	for n in "${NAMES[@]}"; do
		d=$W/kill-$n port=$(free_port)
		proxy_up "$n" "$d" "$port" || continue
		m=$PROXY_PID
		timeout 20 wrk -t1 -c"$CONC" -d2 "http://127.0.0.1:$port/" >/dev/null 2>&1
		log "$n: $KILLS worker SIGKILLs $KILL_GAP s apart under wrk"
		wrk_run "$d/wrk-kill.txt" "$KSECS" "http://127.0.0.1:$port/" &
		wk=$!
		sleep 1.5
		timeout $((KILLS * (KILL_GAP + 12) + 60)) $PY "$here/soak_kill.py" "$n" $m "$port" "$KILLS" "$KILL_GAP" >"$d/kills.txt" 2>&1
		wait $wk
		read -r q x s p < <(wrk_fig "$d/wrk-kill.txt")
		held=$(awk '$1 == "kill" { h += $6 } END { print h + 0 }' "$d/kills.txt")
		done_k=$(grep -c '^kill .* pid_ms' "$d/kills.txt")
		stats() {   # FIELD -> "median M max X ms" over the kills (-1: did not happen in 10 s)
			$PY - "$1" "$d/kills.txt" <<'EOF'
import sys
f = sys.argv[1]
v, miss = [], 0
for l in open(sys.argv[2]):
    w = l.split()
    if w[:1] == ["kill"] and f in w:
        x = float(w[w.index(f) + 1])
        if x < 0:
            miss += 1
        else:
            v.append(x)
v.sort()
print(f"median {v[(len(v) - 1) // 2]:.1f} max {v[-1]:.1f} ms" if v else "n/a", end="")
print(f" ({miss} not within 10 s)" if miss else "")
EOF
		}
		if [ "$n" = gh ]; then
			deaths=$(grep -c 'killed by signal 9' "$d/error.log")
			readies=$(grep -c 'is ready' "$d/error.log")
			logged="log: $deaths deaths by signal 9, $((readies - 1)) respawned workers ready"
		else
			deaths=$(grep -c 'exited on signal 9' "$d/error.log")
			logged="log: $deaths workers exited on signal 9"
		fi
		e=$((x + s))
		ok=0; [ "$e" -le "$held" ] && ok=1
		say "$(printf 'kill %-9s %d SIGKILLs: requests %d, errors %d (non-2xx %d, socket %d) against %d client connections held by the killed workers  target <= held: %s' \
			"${LABEL[$n]}" "$done_k" "$q" "$e" "$x" "$s" "$held" "$(passfail $ok)")"
		say "$(printf 'kill %-9s respawn: new worker pid %s; first answer to a new connection %s; %s' \
			"${LABEL[$n]}" "$(stats pid_ms)" "$(stats served_ms)" "$logged")"
		stop_pid $m QUIT 10
	done
fi

# ---------------------------------------------------------------- slowloris
# LORIS connections from LORIS_ADDRS source addresses, each sending a partial head slowly, so
# that all of them time out together every HEADER_TIMEOUT s and come back at once; wrk in
# back-to-back WINDOW s runs measures p99 per window. A window "with a wave" saw at least 10 %
# of the loris connections closed by the proxy. Then WAVE_SECS without wrk: the worker's CPU
# time per timed-out connection (its timeout, the close, the reconnect, the trickled lines).
# windows TAG PORT SECS: wrk windows into $d/win-TAG.txt as "START_MS END_MS P99 ERRORS REQUESTS"
windows() {
	local tag=$1 port=$2 secs=$3 i a b
	: >"$d/win-$tag.txt"
	for ((i = 0; i < secs / WINDOW; i++)); do
		a=$(date +%s%3N)
		wrk_run "$d/w.txt" $WINDOW "http://127.0.0.1:$port/"
		b=$(date +%s%3N)
		read -r q x s p < <(wrk_fig "$d/w.txt")
		echo "$a $b $p $((x + s)) $q" >>"$d/win-$tag.txt"
	done
}
cpu_ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat 2>/dev/null; }
declare -A WAVE_MED
if want loris; then
	CLK=$(getconf CLK_TCK)
	for n in "${NAMES[@]}"; do
		d=$W/loris-$n port=$(free_port)
		proxy_up "$n" "$d" "$port" || continue
		m=$PROXY_PID
		wk=$(workers_of "$n" $m | head -1)
		timeout 20 wrk -t1 -c"$CONC" -d2 "http://127.0.0.1:$port/" >/dev/null 2>&1
		log "$n: $CALM_SECS s of $WINDOW s wrk windows without an attack"
		windows calm "$port" "$CALM_SECS"
		log "$n: $LORIS slowloris connections from $LORIS_ADDRS addresses, $LORIS_SECS s of windows"
		"$W/loris" -p "$port" -n "$LORIS" -b 2 -a $LORIS_ADDRS -i $LORIS_LINE_MS \
			-t $((LORIS_SECS + WAVE_SECS + 60)) -o "$d/closes.txt" 2>"$d/loris.err" &
		lp=$!
		PIDS+=($lp)
		for ((i = 0; i < 300; i++)); do grep -q ready "$d/loris.err" && break; sleep 0.1; done
		grep -q ready "$d/loris.err" || log "$n: the loris connections were not all open after 30 s"
		windows attack "$port" "$LORIS_SECS"
		# the cost of a wave with nothing else running
		c0=$(cpu_ticks "$wk") t0=$(date +%s%3N)
		sleep "$WAVE_SECS"
		c1=$(cpu_ticks "$wk") t1=$(date +%s%3N)
		open=$(ss -Htn state established "( dport = :$port )" | wc -l)
		stop_pid $lp TERM 10
		sum=$(tail -1 "$d/loris.err")
		quiet_closes=$(awk -v a="$t0" -v b="$t1" '$1 > a && $1 <= b { c += $2 } END { print c + 0 }' "$d/closes.txt")
		# classify the windows
		$PY - "$d" "$LORIS" <<'EOF' >"$d/loris.fig"
import sys
d, n = sys.argv[1], int(sys.argv[2])
closes = [tuple(map(int, l.split())) for l in open(f"{d}/closes.txt") if l.strip()]
def rows(tag):
    out = []
    for l in open(f"{d}/win-{tag}.txt"):
        a, b, p, e, q = l.split()
        c = sum(x[1] for x in closes if int(a) < x[0] <= int(b) + 100)
        out.append((float(p), c, int(e), int(q)))
    return out
def st(v):
    v = sorted(v)
    return f"median {v[(len(v) - 1) // 2]:.2f} max {v[-1]:.2f} ms ({len(v)} windows)" if v else "n/a (0 windows)"
calm = rows("calm")
att = rows("attack")
wave = [r[0] for r in att if r[1] >= 0.1 * n]
nowave = [r[0] for r in att if r[1] < 0.1 * n]
med = lambda v: sorted(v)[(len(v) - 1) // 2] if v else 0
print(st([r[0] for r in calm]))
print(st(nowave))
print(st(wave))
print(f"{med(nowave) / med([r[0] for r in calm]):.2f}" if nowave and calm else "n/a")
print(f"{med(wave):.2f}" if wave else "0")
print(sum(r[2] for r in calm + att))
EOF
		{ read -r fcalm; read -r fnowave; read -r fwave; read -r rnw; read -r mwave; read -r werr; } <"$d/loris.fig"
		WAVE_MED[$n]=$mwave
		ok=$(awk -v r="$rnw" 'BEGIN { print (r != "n/a" && r <= 2) ? 1 : 0 }')
		tgt="(comparison)"
		[ "$n" = gh ] && tgt="target no-wave/no-attack <= 2: $(passfail $ok)"
		say "$(printf 'loris %-9s p99 per %d s window: no attack %s; attack, no wave %s; with a wave %s; ratio no-wave/no-attack %s; wrk errors %d  %s' \
			"${LABEL[$n]}" $WINDOW "$fcalm" "$fnowave" "$fwave" "$rnw" "$werr" "$tgt")"
		cpu_us=$(awk -v c=$((c1 - c0)) -v k="$CLK" -v q="$quiet_closes" 'BEGIN { if (q > 0) printf "%.1f", c * 1e6 / k / q; else print "n/a" }')
		say "$(printf 'loris %-9s %s (%d open at the end); in %d s without wrk: %d timed out, worker CPU %d ms, %s us per timed-out connection' \
			"${LABEL[$n]}" "${sum#loris }" "$open" $(((t1 - t0) / 1000)) "$quiet_closes" $(((c1 - c0) * 1000 / CLK)) "$cpu_us")"
		stop_pid $m QUIT 10
	done
	if [ -n "${WAVE_MED[gh]-}" ] && [ -n "${WAVE_MED[nginx]-}" ]; then
		ok=$(awk -v a="${WAVE_MED[gh]}" -v b="${WAVE_MED[nginx]}" 'BEGIN { print (a > 0 && b > 0 && a <= b) ? 1 : 0 }')
		say "$(printf 'loris wave windows, median p99: gatehouse %.2f ms, nginx %.2f ms  target gatehouse <= nginx: %s' \
			"${WAVE_MED[gh]}" "${WAVE_MED[nginx]}" "$(passfail $ok)")"
	fi
fi

echo "soak: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end, $(date -u +%FT%TZ)" | tee -a "$RESULT"
[ -z "$OUT" ] || cp "$RESULT" "$OUT"
