#!/bin/sh
# Copy benchmark: the ringkit.loop copy (examples/lua/copy.lua) under Lua 5.4
# (C module), LuaJIT (ffi module) and the embedding host, against the C
# example ringkit-cp (examples/cp; like the Lua copy, the core's copy op with
# its own choice of lanes and chunk) when built, and plain cp — same file, same
# run, page cache warm, each copy timed from start to exit (no fsync).
#   sh bench/lua/copy.sh [builddir [MiB [reps]]]    (defaults: build-lua 512 3)
# RINGKIT_CP=path overrides where ringkit-cp is looked for; BENCH_DIR the
# directory for the files (default: $TMPDIR or /tmp).
set -eu
cd "$(dirname "$0")/../.."
B=${1:-build-lua}
MIB=${2:-512}
REPS=${3:-3}
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}/rk-lua-copy.$$
mkdir -p "$DIR"
trap 'rm -rf "$DIR"' EXIT INT TERM
SRC=$DIR/src DST=$DIR/dst
LB=$B/bindings/lua
export LUA_CPATH="$LB/?.so" LUA_PATH="bindings/lua/?.lua" RINGKIT_LIB="$B/src/libringkit.so"
CP_C=${RINGKIT_CP:-$B/examples/ringkit-cp}
COPY=examples/lua/copy.lua
ARGS="--no-verify --quiet"

dd if=/dev/urandom of="$SRC" bs=1M count="$MIB" status=none
sync; cat "$SRC" >/dev/null

now() { date +%s.%N; }
# run NAME CMD...: times one copy, verifies it, prints NAME MiB/s
run() {
	name=$1; shift
	rm -f "$DST"
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	cmp -s "$SRC" "$DST" || { echo "$name: copy differs" >&2; exit 1; }
	echo "$name $(awk -v m="$MIB" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", m / (b - a) }')"
}

have_cp_c=0
if [ -x "$CP_C" ]; then have_cp_c=1; fi
have_jit=0
if command -v luajit >/dev/null 2>&1; then have_jit=1; fi

echo "# copy of $MIB MiB, $REPS runs each (alternating), MiB/s; $(uname -r), $(nproc) cores"
out=$DIR/results
: >"$out"
# One untimed pass of each first: the first copies into new files run
# several times slower than the rest on this machine.
[ $have_cp_c -eq 1 ] && run ringkit-cp "$CP_C" --quiet "$SRC" "$DST" >/dev/null
run cp cp "$SRC" "$DST" >/dev/null
run lua5.4-loop lua5.4 $COPY "$SRC" "$DST" $ARGS >/dev/null
i=0
while [ $i -lt "$REPS" ]; do
	[ $have_cp_c -eq 1 ] && run ringkit-cp "$CP_C" --quiet "$SRC" "$DST" >>"$out"
	run cp cp "$SRC" "$DST" >>"$out"
	run lua5.4-loop lua5.4 $COPY "$SRC" "$DST" $ARGS >>"$out"
	[ $have_jit -eq 1 ] && run luajit-loop luajit $COPY "$SRC" "$DST" $ARGS >>"$out"
	run lua-host-loop "$LB/ringkit-lua-host" $COPY "$SRC" "$DST" $ARGS >>"$out"
	i=$((i + 1))
done
[ $have_cp_c -eq 1 ] || echo "# ringkit-cp not built ($CP_C): comparing with plain cp only"
# median per name, and the ratio to the C reference (ringkit-cp, else cp)
ref=cp
[ $have_cp_c -eq 1 ] && ref=ringkit-cp
for name in ringkit-cp cp lua5.4-loop luajit-loop lua-host-loop; do
	vals=$(awk -v n="$name" '$1 == n { print $2 }' "$out" | sort -g)
	[ -n "$vals" ] || continue
	cnt=$(echo "$vals" | wc -l)
	med=$(echo "$vals" | sed -n "$(( (cnt + 1) / 2 ))p")
	echo "$name $med $(echo $vals)"
done >"$DIR/med"
refv=$(awk -v n="$ref" '$1 == n { print $2 }' "$DIR/med")
awk -v r="$refv" -v rn="$ref" '{ runs = ""; for (i = 3; i <= NF; i++) runs = runs " " int($i)
	printf "%-14s %8.0f MiB/s  %5.2fx %s  (runs:%s)\n", $1, $2, $2 / r, rn, runs }' "$DIR/med"
