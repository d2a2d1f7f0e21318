# t/bench/lib.sh: what bench.sh, soak.sh and tls.sh share. Sourced (bash), after the script
# has set BENCH_TAG (its name in log lines) and PY; cleanup uses the script's PIDS (what
# it started), W (its work directory) and KEEP (-k).

load1() { cut -d' ' -f1 /proc/loadavg; }

want() { case ",$SECTIONS," in *,$1,*) return 0 ;; esac; return 1; }
log() { printf '[%s %s] %s\n' "$BENCH_TAG" "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' '; }

# At exit: the processes we started and their children (TERM, then KILL), then the work
# directory unless kept.
cleanup() {
	local p all=()
	for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && all+=("$p" $(children "$p")); done
	[ ${#all[@]} = 0 ] || kill -TERM "${all[@]}" 2>/dev/null
	sleep 0.5
	[ ${#all[@]} = 0 ] || kill -KILL "${all[@]}" 2>/dev/null
	if [ "$KEEP" = 1 ]; then log "work directory kept: $W"; else rm -rf "$W"; fi
}

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stop_pid() {   # PID SIGNAL SECS: a process we started, and the children it had
	local i kids
	kids=$(children "$1")
	kill -"$2" "$1" 2>/dev/null || return 0
	for ((i = 0; i < $3 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
		sleep 0.1
	done
	log "pid $1 did not exit after SIG$2 in $3 s; killing it"
	kill -KILL "$1" $kids 2>/dev/null
	wait "$1" 2>/dev/null
	return 1
}

# start_origin: run the built origin ($W/origin, from origin.c) on a free port; sets ORIGIN
# (its pid, also added to PIDS) and OPORT, or dies.
start_origin() {
	local i
	"$W/origin" "$W/origin.port" &
	ORIGIN=$!
	PIDS+=($ORIGIN)
	for ((i = 0; i < 50; i++)); do [ -s "$W/origin.port" ] && break; sleep 0.1; done
	OPORT=$(cat "$W/origin.port" 2>/dev/null)
	[ -n "$OPORT" ] || die "origin did not start"
	log "origin on 127.0.0.1:$OPORT (pid $ORIGIN)"
}

# tree_sum PID FILE PROGRAM: the sum over a master and its children of what the awk
# PROGRAM prints from /proc/PID/FILE (0 for a process that is gone).
tree_sum() {
	local p s=0 v
	for p in "$1" $(children "$1"); do
		v=$(awk "$3" /proc/"$p"/"$2" 2>/dev/null)
		s=$((s + ${v:-0}))
	done
	echo $s
}

# CPU ticks (utime + stime, and those of reaped children) of a master and its children;
# HAProxy is one process whose figures cover all its threads.
cpu_ticks() { tree_sum "$1" stat '{ print $14 + $15 + $16 + $17 }'; }
rss_kb() { tree_sum "$1" status '/^VmRSS:/ { print $2 }'; }   # VmRSS, kB

# The header work every script gives nginx so that it matches what gatehouse does by itself
# (X-Forwarded-For, Forwarded, X-Forwarded-Proto/Host, Via and X-Request-ID upstream; Via and
# X-Request-ID on the response), for an http {} block of a heredoc.
NGINX_PROXY_HEADERS='    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
    proxy_set_header Connection "";
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header Forwarded "for=$remote_addr;host=\"$host\";proto=$scheme";
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $host;
    proxy_set_header Via "1.1 nginx";
    proxy_set_header X-Request-ID $request_id;
    add_header X-Request-ID $request_id;
    add_header Via "1.1 nginx";'
