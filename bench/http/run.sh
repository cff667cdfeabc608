#!/bin/sh
# HTTP servers under the same wrk load, side by side with nginx.
#
#   sh bench/http/run.sh [NAME=COMMAND ...]
#
# Every server answers "Hello, world!\n" to every request on 127.0.0.1.
# Built in: nginx (one worker, `return 200`), examples/http (C on ringkit),
# and, when their files exist, examples/lua/http.lua (Lua binding),
# examples/python/http_aio.py (Python binding) and
# examples/python/http_asyncio.py (plain asyncio, for reference). Extra
# servers are arguments NAME=COMMAND, where the command contains the word
# PORT, replaced by the port to listen on.
#
# For each: a 1 s warm-up, then `wrk -t1 -c$CONNS -d${DURATION}s`, and the
# server's CPU time (utime + stime from /proc of the server and its child
# processes, before and after) divided by the requests served. The server
# runs on CPU 0 and wrk on CPU 1 when there are two or more (taskset). The
# servers take turns for RK_BENCH_ROUNDS rounds, so drift of a shared machine
# hits all of them alike; each one's best round (most requests/s, least CPU
# per request) is reported, ratios against nginx's.
#
# Environment: RK_BENCH_BUILD (build dir, default build-bench, a release
# build), RK_BENCH_DURATION (seconds, default 5), RK_BENCH_CONNS (default 64),
# RK_BENCH_ROUNDS (default 3).
# Installs nginx-light and wrk with apt-get when missing (no service is
# started: nginx runs from its own temporary prefix). Load only ever goes to
# 127.0.0.1, for a bounded time.
set -eu
cd "$(dirname "$0")/../.."
src=$(pwd)
build=${RK_BENCH_BUILD:-build-bench}
duration=${RK_BENCH_DURATION:-5}
conns=${RK_BENCH_CONNS:-64}
rounds=${RK_BENCH_ROUNDS:-3}

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
server_cpu=""; load_cpu=""
if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
	server_cpu="taskset -c 0"; load_cpu="taskset -c 1"
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
for arg in "$@"; do
	printf '%s\texec %s\n' "${arg%%=*}" "$(echo "${arg#*=}" | sed 's/\bPORT\b/$RK_PORT/g')" >>"$list"
done

echo "== machine: $ncpu cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== load: wrk -t1 -c$conns -d${duration}s http://127.0.0.1:PORT/ (after a 1 s warm-up), $rounds rounds${server_cpu:+; server on CPU 0, wrk on CPU 1}"

results="$tmp/results" # name<TAB>requests/s<TAB>CPU us per request, one line per round
: >"$results"
tab=$(printf '\t')
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
		continue
	fi
	$load_cpu wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1 || true
	before=$(cpu_ticks "$server_pid")
	$load_cpu wrk -t1 -c"$conns" -d"${duration}s" "http://127.0.0.1:$port/" >"$tmp/wrk.out" 2>&1 || true
	after=$(cpu_ticks "$server_pid")
	kill -TERM "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""

	requests=$(awk '/requests in/ { print $1 }' "$tmp/wrk.out")
	rps=$(awk '/^Requests\/sec/ { print $2 }' "$tmp/wrk.out")
	if [ -z "$requests" ] || [ "$requests" -eq 0 ]; then
		printf '%-22s no requests served: %s\n' "$name" "$(tr '\n' ' ' <"$tmp/wrk.out")"
		continue
	fi
	errors=$(awk '/Socket errors|Non-2xx/ { printf "%s ", $0 }' "$tmp/wrk.out")
	[ -z "$errors" ] || printf '%-22s round %d: %s\n' "$name" "$round" "$errors"
	cpu_us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN { printf "%.2f", t / hz / n * 1e6 }')
	printf '%s\t%s\t%s\n' "$name" "$rps" "$cpu_us" >>"$results"
done <"$list"
done

printf '%-22s %12s %14s %10s %10s\n' server "requests/s" "CPU us/request" "rps/nginx" "cpu/nginx"
awk -F "$tab" '
	!($1 in rps) { order[n++] = $1 }
	!($1 in rps) || $2 + 0 > rps[$1] { rps[$1] = $2 + 0 }
	!($1 in cpu) || $3 + 0 < cpu[$1] { cpu[$1] = $3 + 0 }
	END {
		b = order[0]
		for (i = 0; i < n; i++) {
			s = order[i]
			printf "%-22s %12.0f %14.2f %10.2f %10.2f\n", s, rps[s], cpu[s], rps[s] / rps[b],
			       (cpu[b] > 0 ? cpu[s] / cpu[b] : 0)
		}
	}' "$results"
