#!/bin/sh
# asyncio event loops side by side: the same servers on asyncio's default
# loop, on uvloop and on ringkit's EventLoop (ringkit.aio.EventLoop), under
# the same load generators, in one run. doc/benchmarks-python.md says what
# is measured and how to read it.
#
#   sh bench/python/loops.sh
#
# Servers (each an asyncio program that takes the loop's name):
#   echo 1 KiB    bench/python/echo_server.py (asyncio.Protocol writing back
#                 what it receives), loaded by ringkit-echo-load
#                 (bench/python/echo_load.c): CONNS connections, each sending
#                 a 1 KiB message and reading its echo before the next, every
#                 byte checked
#   echo 100 KiB  the same with 100 KiB messages
#   HTTP Protocol bench/http/protocol_server.py under wrk -t1 -cCONNS
#   aiohttp       bench/python/aiohttp_server.py (an aiohttp hello app) under
#                 the same wrk
# Every loop is chosen by name through PYTHONPATH=<build>/bindings/python
# and /usr/bin/python3, the same environment for all three. uvloop (Debian
# python3-uvloop) or aiohttp (python3-aiohttp) missing: their rows are left
# out with a note.
#
# The method is bench/http/run.sh's (bench/lib.sh): a block's servers started
# fresh together, a 1 s warm-up each, RK_BENCH_RUNS runs with fresh
# connections, the servers taking turns run by run, the
# server's CPU time (utime + stime from /proc, before and after) divided by
# the requests or messages served, errors counted (wrk's socket errors and
# non-2xx responses; the echo client's failed, reset or closed connections,
# wrong bytes, stalled connections); the blocks follow one another for
# RK_BENCH_ROUNDS rounds. Pinned (server on CPU 0, load on CPU 1) and
# unpinned, each with its own table: a block per server, a row per loop,
# medians over every run, ratios against uvloop and against asyncio of the
# same block and placement, and the paired CPU ratio against uvloop. A row with any error says "invalid".
#
# Environment: RK_BENCH_BUILD (build dir, default build-bench, a release
# build), RK_BENCH_DURATION (seconds per run, default 3), RK_BENCH_RUNS
# (default 4), RK_BENCH_CONNS (default 64), RK_BENCH_ROUNDS (default 2),
# RK_BENCH_PIN (1 pinned only, 0 unpinned only, unset both). Installs wrk
# with apt-get when missing. Load only ever goes to 127.0.0.1.
set -eu
cd "$(dirname "$0")/../.."
py=/usr/bin/python3

. bench/lib.sh
bench_settings
bench_need_wrk
bench_build

bench_setup loops

bench_placements

loops="asyncio"
if $py -c 'import uvloop' 2>/dev/null; then
	loops="$loops uvloop"
else
	echo "== uvloop rows left out: no uvloop for $py (Debian: python3-uvloop)"
fi
loops="$loops ringkit"
# The server list (bench/lib.sh): a group per server, a row per loop.
list="$tmp/servers"
: >"$list"
add() { # GROUP KIND UNIT BYTES SCRIPT
	for loop in $loops; do
		printf '%s\t%s\t%s\t%s\t%s\tPYTHONPATH="%s/bindings/python" exec %s %s %s $RK_PORT\n' \
			"$1" "$loop" "$2" "$3" "$4" "$build" "$py" "$5" "$loop" >>"$list"
	done
}
add "echo (Protocol), 1 KiB messages" echo1k message 1024 bench/python/echo_server.py
add "echo (Protocol), 100 KiB messages" echo100k message 102400 bench/python/echo_server.py
add "HTTP hello (Protocol)" wrk request 0 bench/http/protocol_server.py
if $py -c 'import aiohttp' 2>/dev/null; then
	add "aiohttp hello app" wrk request 0 bench/python/aiohttp_server.py
else
	echo "== aiohttp rows left out: no aiohttp for $py (Debian: python3-aiohttp)"
fi

# bench_load KIND PORT SECONDS (bench/lib.sh).
bench_load() { bench_load_std "$@"; }

bench_machine
echo "== $($py --version), loops: $loops$($py -c 'import uvloop; print(" (uvloop " + uvloop.__version__ + ")")' 2>/dev/null || true)"
echo "== load: $conns connections (echo: ringkit-echo-load; HTTP: wrk -t1), a 1 s warm-up then $runs runs of ${duration}s per server start, $rounds rounds, placements: $placements"

bench_all "$list"

bench_report load uvloop asyncio
