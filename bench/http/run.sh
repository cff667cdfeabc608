#!/bin/sh
# HTTP servers under the same wrk load, side by side with nginx.
#
#   sh bench/http/run.sh [NAME=COMMAND ...]
#
# Every server answers "Hello, world!\n" to every request on 127.0.0.1.
# Built in: nginx (one worker, `return 200`), examples/http (C on ringkit),
# and, when their files exist, examples/lua/http.lua (Lua binding),
# examples/python/http_aio.py (Python binding),
# examples/python/http_asyncio.py (plain asyncio streams, for reference) and,
# when uvloop is installed, bench/http/protocol_server.py on uvloop (an
# asyncio.Protocol server: the fast-Python peer), and the same server on
# ringkit's EventLoop (ringkit.aio.EventLoop). Extra servers are
# arguments NAME=COMMAND, where the command contains the word PORT, replaced
# by the port to listen on.
#
# Each server is started fresh, gets a 1 s warm-up, then RK_BENCH_RUNS runs of
# `wrk -t1 -c$CONNS -d${DURATION}s` in a row, each with fresh connections (a
# server that breaks when connections come and go shows it from the second
# run on). Per run: requests/s, the server's CPU time (utime + stime from
# /proc of the server and its child processes, before and after) divided by
# the requests served, and wrk's socket errors (connect, read, write,
# timeout) plus non-2xx responses. The servers take turns for RK_BENCH_ROUNDS
# rounds, so drift of a shared machine hits all of them alike.
#
# Two placements: pinned (server on CPU 0, wrk on CPU 1, with taskset) and
# unpinned (the scheduler places both, as on a laptop). RK_BENCH_PIN=1 runs
# only the first, RK_BENCH_PIN=0 only the second; unset, both, each with its
# own table. A table row gives the median and the range over every run of
# every round, the median CPU per request, the errors summed over the
# warm-ups and runs, and ratios against the first server's (nginx) medians.
# A server with any error in a placement gets no figure there: its row says
# "invalid" (a figure from a broken run measures the breakage).
#
# Environment: RK_BENCH_BUILD (build dir, default build-bench, a release
# build), RK_BENCH_DURATION (seconds per run, default 3), RK_BENCH_RUNS (runs
# per server start, default 4), RK_BENCH_CONNS (default 64), RK_BENCH_ROUNDS
# (default 2), RK_BENCH_PIN (1, 0 or unset: see above).
# Installs nginx-light and wrk with apt-get when missing (no service is
# started: nginx runs from its own temporary prefix). Load only ever goes to
# 127.0.0.1, for a bounded time.
set -eu
cd "$(dirname "$0")/../.."
src=$(pwd)
build=${RK_BENCH_BUILD:-build-bench}
duration=${RK_BENCH_DURATION:-3}
conns=${RK_BENCH_CONNS:-64}
rounds=${RK_BENCH_ROUNDS:-2}
runs=${RK_BENCH_RUNS:-4}
case ${RK_BENCH_PIN-both} in
1) placements=pinned ;;
0) placements=unpinned ;;
both) placements="pinned unpinned" ;;
*) echo "RK_BENCH_PIN: 1, 0 or unset, not '$RK_BENCH_PIN'" >&2; exit 2 ;;
esac

# --- tools -------------------------------------------------------------------
NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || [ ! -x /usr/sbin/nginx ] || NGINX=/usr/sbin/nginx
missing=""
[ -n "$NGINX" ] || missing="$missing nginx-light"
command -v wrk >/dev/null || missing="$missing wrk"
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	# Keep the package's init script from starting a system nginx.
	blocker=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod +x /usr/sbin/policy-rc.d
		blocker=1
	fi
	echo "installing:$missing" >&2
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
			$(echo "$missing" | sed 's/nginx-light/nginx/') >/dev/null
	[ -z "$blocker" ] || $SUDO rm -f /usr/sbin/policy-rc.d
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi

sh tools/deps.sh
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null

tmp=$(mktemp -d /tmp/ringkit-bench-http.XXXXXX)
server_pid=""
cleanup() {
	[ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ncpu=$(nproc)
if [ "$ncpu" -lt 2 ] || ! command -v taskset >/dev/null; then
	case $placements in
	*unpinned*) ;;
	*) echo "pinning needs two CPUs and taskset" >&2; exit 1 ;;
	esac
	echo "== pinned placement skipped: it needs two CPUs and taskset"
	placements=unpinned
fi
hz=$(getconf CLK_TCK)

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
	python3 - "$1" <<'EOF'
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# CPU ticks (utime + stime) of a process and its direct children (nginx's
# worker). Fields after the ") " that ends the command name: 1 state,
# 2 ppid, 12 utime, 13 stime.
cpu_ticks() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
		{ pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
		  if (pid == root || f[2] == root) total += f[12] + f[13] }
		END { print total + 0 }'
}

nginx_command() {
	mkdir -p "$tmp/nginx"
	cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 100000000;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	default_type text/plain;
	server {
		listen 127.0.0.1:PORT;
		location / { return 200 "Hello, world!\n"; }
	}
}
EOF
	echo "sed s/PORT/\$RK_PORT/ $tmp/nginx/nginx.conf >$tmp/nginx/run.conf && exec $NGINX -p $tmp/nginx -c $tmp/nginx/run.conf"
}

# name<TAB>command lines; the command is run by sh with $RK_PORT set.
list="$tmp/servers"
printf 'nginx\t%s\n' "$(nginx_command)" >"$list"
printf 'ringkit-http (C)\texec %s/examples/ringkit-http $RK_PORT\n' "$build" >>"$list"
[ ! -f examples/lua/http.lua ] || printf 'ringkit Lua\tLUA_CPATH="%s/bindings/lua/?.so" LUA_PATH="%s/bindings/lua/?.lua;;" exec lua5.4 examples/lua/http.lua $RK_PORT\n' "$build" "$src" >>"$list"
[ ! -f examples/python/http_aio.py ] || printf 'ringkit Python\tPYTHONPATH="%s/bindings/python" exec /usr/bin/python3 examples/python/http_aio.py $RK_PORT\n' "$build" >>"$list"
[ ! -f examples/python/http_asyncio.py ] || printf 'asyncio (reference)\texec /usr/bin/python3 examples/python/http_asyncio.py $RK_PORT\n' >>"$list"
! /usr/bin/python3 -c 'import uvloop' 2>/dev/null ||
	printf 'uvloop Protocol\texec /usr/bin/python3 bench/http/protocol_server.py uvloop $RK_PORT\n' >>"$list"
printf 'ringkit loop Protocol\tPYTHONPATH="%s/bindings/python" exec /usr/bin/python3 bench/http/protocol_server.py ringkit $RK_PORT\n' "$build" >>"$list"
for arg in "$@"; do
	printf '%s\texec %s\n' "${arg%%=*}" "$(echo "${arg#*=}" | sed 's/\bPORT\b/$RK_PORT/g')" >>"$list"
done

# errors_in FILE: wrk's socket errors and non-2xx responses, summed; 0 when
# wrk said nothing of them.
errors_in() {
	awk '/Socket errors:/ { gsub(/[^0-9]+/, " "); for (i = 1; i <= NF; i++) n += $i }
		/Non-2xx or 3xx responses:/ { n += $NF }
		END { print n + 0 }' "$1"
}

echo "== machine: $ncpu cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== load: wrk -t1 -c$conns, a 1 s warm-up then $runs runs of ${duration}s per server start, $rounds rounds, placements: $placements"

results="$tmp/results" # placement<TAB>name<TAB>requests/s<TAB>CPU us/request<TAB>errors, one line per run
: >"$results"
tab=$(printf '\t')
for placement in $placements; do
server_cpu=""; load_cpu=""
[ "$placement" = unpinned ] || { server_cpu="taskset -c 0"; load_cpu="taskset -c 1"; }
round=0
while [ "$round" -lt "$rounds" ]; do
round=$((round + 1))
while IFS="$tab" read -r name cmd; do
	port=$(free_port)
	RK_PORT=$port $server_cpu sh -c "$cmd" >"$tmp/server.log" 2>&1 &
	server_pid=$!
	if ! wait_port "$port"; then
		printf '%-22s did not start: %s\n' "$name" "$(tail -n 3 "$tmp/server.log" | tr '\n' ' ')"
		kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true
		server_pid=""
		printf '%s\t%s\t0\t0\t1\n' "$placement" "$name" >>"$results"
		continue
	fi
	$load_cpu wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port/" >"$tmp/wrk.out" 2>&1 || true
	warm_errors=$(errors_in "$tmp/wrk.out")
	run=0
	while [ "$run" -lt "$runs" ]; do
		run=$((run + 1))
		before=$(cpu_ticks "$server_pid")
		$load_cpu wrk -t1 -c"$conns" -d"${duration}s" "http://127.0.0.1:$port/" >"$tmp/wrk.out" 2>&1 || true
		after=$(cpu_ticks "$server_pid")
		requests=$(awk '/requests in/ { print $1 }' "$tmp/wrk.out")
		rps=$(awk '/^Requests\/sec/ { print $2 }' "$tmp/wrk.out")
		errors=$(( $(errors_in "$tmp/wrk.out") + warm_errors ))
		warm_errors=0
		if [ -z "$requests" ] || [ "$requests" -eq 0 ]; then
			printf '%-22s %s round %d run %d: no requests served: %s\n' "$name" "$placement" \
				"$round" "$run" "$(tr '\n' ' ' <"$tmp/wrk.out")"
			requests=0; rps=0; errors=$((errors + 1))
		fi
		cpu_us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" \
			'BEGIN { printf "%.2f", n ? t / hz / n * 1e6 : 0 }')
		printf '%-22s %s round %d run %d: %10.0f requests/s %8s CPU us/request %6d errors\n' \
			"$name" "$placement" "$round" "$run" "$rps" "$cpu_us" "$errors"
		printf '%s\t%s\t%s\t%s\t%s\n' "$placement" "$name" "$rps" "$cpu_us" "$errors" >>"$results"
	done
	kill -TERM "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
	tracebacks=$(grep -c -i 'traceback\|exception' "$tmp/server.log" || true)
	[ "$tracebacks" -eq 0 ] ||
		printf '%-22s %s round %d: the server logged %d traceback/exception lines\n' \
			"$name" "$placement" "$round" "$tracebacks"
done <"$list"
done
done

for placement in $placements; do
echo
if [ "$placement" = pinned ]; then
	echo "== pinned: server on CPU 0, wrk on CPU 1"
else
	echo "== unpinned: server and wrk placed by the scheduler"
fi
printf '%-22s %12s %17s %14s %8s %10s %10s\n' server "requests/s" "range" "CPU us/request" \
	errors "rps/nginx" "cpu/nginx"
awk -F "$tab" -v want="$placement" '
	function median(list, k,   v, m, i, j, t) {
		m = split(list, v, " ")
		for (i = 2; i <= m; i++)
			for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		lo = v[1]; hi = v[m]
		return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
	}
	$1 != want { next }
	!($2 in err) { order[n++] = $2; err[$2] = 0 }
	{ rps[$2] = rps[$2] " " $3; cpu[$2] = cpu[$2] " " $4; err[$2] += $5 }
	END {
		for (i = 0; i < n; i++) {
			s = order[i]
			if (err[s]) {
				printf "%-22s %12s %17s %14s %8d %10s %10s\n", s, "invalid", "-", "invalid", err[s], "-", "-"
				continue
			}
			c = median(cpu[s]); r = median(rps[s])
			if (i == 0) { br = r; bc = c }
			printf "%-22s %12.0f %17s %14.2f %8d %10s %10s\n", s, r, sprintf("%.0f-%.0f", lo, hi), c, 0,
			       (i == 0 || err[order[0]] ? (i == 0 ? "1.00" : "-") : sprintf("%.2f", r / br)),
			       (i == 0 || err[order[0]] ? (i == 0 ? "1.00" : "-") : (bc > 0 ? sprintf("%.2f", c / bc) : "-"))
		}
	}' "$results"
done
