#!/bin/sh
# Issue 18's instruction counts: user-space instructions per op inside the
# benchmarks' own loops (callgrind, setup excluded), ringkit's side, for the
# tables of doc/benchmarks.md. Deterministic for the NOP columns; the read
# columns move by about one instruction between counts (how many completions
# each reap finds depends on timing).
#   sh bench/count.sh [BUILD_DIR]   (default build-bench, a release build)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build-bench}
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" bench/ringkit-bench-nop bench/ringkit-bench-randread >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# per_op OPS TOGGLE CMD...: callgrind's total inside TOGGLE, divided by OPS
per_op() {
	ops=$1 toggle=$2; shift 2
	valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
		--toggle-collect="$toggle" "$@" >/dev/null 2>&1
	callgrind_annotate "$out" | awk -v ops="$ops" \
		'/PROGRAM TOTALS/ { gsub(",", "", $1); printf "%.2f\n", $1 / ops; exit }'
}
for side in ringkit liburing tuned; do
	for b in 32 256; do
		echo "nop $side b$b: $(per_op 640000 'loop_*' "$build/bench/ringkit-bench-nop" $side $b 640000)"
	done
done
echo "nop desc b32: $(per_op 640000 'loop_*' "$build/bench/ringkit-bench-nop" desc 32 640000)"
for side in fixed plain fixed-file; do
	echo "read $side: $(per_op 400000 run_ringkit "$build/bench/ringkit-bench-randread" -c $side 32)"
done
for side in liburing liburing-fixed liburing-fixed-file; do
	echo "read $side: $(per_op 400000 run_liburing "$build/bench/ringkit-bench-randread" -c $side 32)"
done
