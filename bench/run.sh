#!/bin/sh
# Runs every benchmark against a release build and prints the figures.
#   sh bench/run.sh [BUILD_DIR]   (default build-bench)
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh
build=${1:-build-bench}
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null
echo "== machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== NOPs"
"$build/bench/ringkit-bench-nop"
echo "== random reads"
"$build/bench/ringkit-bench-randread"
echo "== the fallback backend next to io_uring"
"$build/bench/ringkit-bench-backends"
echo "== copy (the examples tour)"
RK_TOUR_BUILD="$build" sh tools/tour.sh | awk '/^ringkit-cp  /{p=1} p{print} /throughput/{exit}'
