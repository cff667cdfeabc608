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
# The servers are started fresh together, each gets a 1 s warm-up, then
# RK_BENCH_RUNS runs of `wrk -t1 -c$CONNS -d${DURATION}s` each, the servers
# taking turns run by run, each run with fresh connections (a server that
# breaks when connections come and go shows it from the second run on). Per run: requests/s, the server's CPU time (utime + stime from
# /proc of the server and its child processes, before and after) divided by
# the requests served, and wrk's socket errors (connect, read, write,
# timeout) plus non-2xx responses. All that for RK_BENCH_ROUNDS rounds, so
# drift of a shared machine hits all of them alike.
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
. bench/lib.sh
bench_settings

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

bench_build
bench_setup http

bench_placements

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

# The server list (bench/lib.sh): one group, all under wrk.
list="$tmp/servers"
printf -- '-\tnginx\twrk\trequest\t0\t%s\n' "$(nginx_command)" >"$list"
printf -- '-\tringkit-http (C)\twrk\trequest\t0\texec %s/examples/ringkit-http $RK_PORT\n' "$build" >>"$list"
[ ! -f examples/lua/http.lua ] || printf -- '-\tringkit Lua\twrk\trequest\t0\tLUA_CPATH="%s/bindings/lua/?.so" LUA_PATH="%s/bindings/lua/?.lua;;" exec lua5.4 examples/lua/http.lua $RK_PORT\n' "$build" "$src" >>"$list"
[ ! -f examples/python/http_aio.py ] || printf -- '-\tringkit Python\twrk\trequest\t0\tPYTHONPATH="%s/bindings/python" exec /usr/bin/python3 examples/python/http_aio.py $RK_PORT\n' "$build" >>"$list"
[ ! -f examples/python/http_asyncio.py ] || printf -- '-\tasyncio (reference)\twrk\trequest\t0\texec /usr/bin/python3 examples/python/http_asyncio.py $RK_PORT\n' >>"$list"
! /usr/bin/python3 -c 'import uvloop' 2>/dev/null ||
	printf -- '-\tuvloop Protocol\twrk\trequest\t0\texec /usr/bin/python3 bench/http/protocol_server.py uvloop $RK_PORT\n' >>"$list"
printf -- '-\tringkit loop Protocol\twrk\trequest\t0\tPYTHONPATH="%s/bindings/python" exec /usr/bin/python3 bench/http/protocol_server.py ringkit $RK_PORT\n' "$build" >>"$list"
for arg in "$@"; do
	printf -- '-\t%s\twrk\trequest\t0\texec %s\n' "${arg%%=*}" "$(echo "${arg#*=}" | sed 's/\bPORT\b/$RK_PORT/g')" >>"$list"
done

# bench_load KIND PORT SECONDS (bench/lib.sh): wrk, for every server here.
bench_load() {
	$load_cpu wrk -t1 -c"$conns" -d"$3s" "http://127.0.0.1:$2/" >"$tmp/load.out" 2>&1 || true
	wrk_parse "$tmp/load.out"
}

bench_machine
echo "== load: wrk -t1 -c$conns, a 1 s warm-up then $runs runs of ${duration}s per server start, $rounds rounds, placements: $placements"

bench_all "$list"

bench_report wrk nginx
