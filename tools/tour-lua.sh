#!/bin/sh
# The Lua step of the main-job tour: builds the embedding host
# (examples/lua-host: a C program with a Lua 5.4 VM, ringkit linked in
# statically and ringkit.loop compiled in) and runs the coroutine-loop file
# copy (examples/lua/copy.lua) through it: one copy op of the core
# (rk_prep_copy, its lanes in parallel), verified byte for byte, with its throughput next to
# cp (and ringkit-cp, the C example, when it is built) on the same file; then
# the HTTP example server under the host, driven by a client and stopped with
# SIGINT; then two threads, each with its own Lua VM and ring, passing work
# items to each other with messages between rings (examples/lua-host/threads.c).
#   sh tools/tour-lua.sh [builddir [MiB]]      (defaults: build-tour, RK_TOUR_MIB or 256)
# Interrupted (Ctrl-C, kill, hangup, a closed output pipe) it removes its files.
set -eu
cd "$(dirname "$0")/.."
. tools/tour-common.sh
B=${1:-build-tour}
MIB=${2:-${RK_TOUR_MIB:-256}}
[ -n "${RK_TOUR_NO_DEPS:-}" ] || sh tools/deps.sh   # RK_TOUR_NO_DEPS=1: installs nothing
tour_build "$B"
HOST=$B/bindings/lua/ringkit-lua-host
[ -x "$HOST" ] || { echo "tour-lua: $HOST was not built (is liblua5.4-dev installed?)"; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/rk-tour-lua.XXXXXX")
tour_rm "$DIR"
SRC=$DIR/src DST=$DIR/dst

echo "== Lua: the embedding host runs a coroutine-loop copy of $MIB MiB"
echo "   $HOST examples/lua/copy.lua SRC DST"
tour_backend "$B"
echo "   generating $MIB MiB of random data in $DIR, then one untimed copy to warm up"
dd if=/dev/urandom of="$SRC" bs=1M count="$MIB" status=none
sync; cat "$SRC" >/dev/null
# No LUA_CPATH/LUA_PATH: both modules are inside the host binary. The first
# copy into a new file on this machine runs several times slower than the
# next ones (the first pass warms the page cache and the filesystem): one
# untimed pass first, then the measured, verified one.
env -u LUA_CPATH -u LUA_PATH "$HOST" examples/lua/copy.lua "$SRC" "$DST" --quiet --no-verify
rm -f "$DST"
now() { date +%s.%N; }
rate() { awk -v m="$MIB" -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", m / (b - a) }'; }
t0=$(now)
env -u LUA_CPATH -u LUA_PATH "$HOST" examples/lua/copy.lua "$SRC" "$DST"
t1=$(now)
echo "ringkit-lua-host: $(rate "$t0" "$t1") MiB/s as a whole process (start, copy, verify, exit)"
rm -f "$DST"
t0=$(now)
env -u LUA_CPATH -u LUA_PATH "$HOST" examples/lua/copy.lua "$SRC" "$DST" --quiet --no-verify
t1=$(now)
echo "ringkit-lua-host: $(rate "$t0" "$t1") MiB/s as a whole process without the verification"

rm -f "$DST"
t0=$(now); cp "$SRC" "$DST"; t1=$(now)
echo "cp: $(rate "$t0" "$t1") MiB/s on the same file (an in-kernel copy_file_range with coreutils 9)"
CP_C=$B/examples/ringkit-cp
if [ -x "$CP_C" ]; then
	rm -f "$DST"
	t0=$(now); "$CP_C" --quiet --depth 32 --chunk 256 "$SRC" "$DST" >/dev/null; t1=$(now)
	cmp -s "$SRC" "$DST" && echo "ringkit-cp: $(rate "$t0" "$t1") MiB/s on the same file"
fi
tour_noise
rm -rf "$DIR"
echo "== Lua: the host serves HTTP/1.1 from examples/lua/http.lua (keep-alive, pipelining,"
echo "   one multishot accept, multishot recvs over a shared pool), driven by a Lua client,"
echo "   then stopped with SIGINT"
env -u LUA_CPATH -u LUA_PATH sh tests/lua/server_test.sh "$HOST" examples/lua/http.lua \
	tests/lua/client_http.lua
THREADS=$B/bindings/lua/ringkit-lua-threads
if [ -x "$THREADS" ]; then
	echo "== Lua: one ring per thread — two pthreads, a Lua VM and a ring each, pass 20000 work"
	echo "   items and their answers to each other with msg_ring (examples/lua-host/threads.lua)"
	env -u LUA_CPATH -u LUA_PATH "$THREADS" examples/lua-host/threads.lua 20000 64
fi
echo "== Lua step done (tests: meson test -C $B --suite lua)"
