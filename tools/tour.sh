#!/bin/sh
# The main job: build ringkit and run the examples tour.
#   1. ringkit-cp copies a few hundred MiB through a registered region, the
#      copy is checked with cmp, and its throughput is printed next to cp(1)
#      on the same, page-cached file.
#   2. the binding tours (Python, Lua) when they are present.
# Usage: sh tools/tour.sh   (RK_TOUR_BUILD=dir, RK_TOUR_MIB=size to override)
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh

build=${RK_TOUR_BUILD:-build-tour}
mib=${RK_TOUR_MIB:-384}
if [ -f "$build/build.ninja" ]; then
	meson setup --reconfigure "$build" --buildtype=release >/dev/null
else
	meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" >/dev/null

# The data lives next to the build, on the same filesystem as a real copy.
work=$(mktemp -d "$PWD/$build/tour.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
echo "== ringkit-cp: generating $mib MiB of random data"
head -c "$((mib * 1024 * 1024))" /dev/urandom >"$work/src"

# Best of three for each tool, destination removed before every run, the
# source already in the page cache (it was just written) for both.
best() { sort -n | head -n 1; }
secs() { # secs CMD...: wall time of one run, in seconds
	start=$(date +%s.%N)
	"$@"
	end=$(date +%s.%N)
	echo "$start $end" | awk '{printf "%.4f\n", $2 - $1}'
}
for i in 1 2 3; do
	rm -f "$work/dst"
	secs "$build/examples/ringkit-cp" --quiet "$work/src" "$work/dst"
done | best >"$work/rk.t"
cmp "$work/src" "$work/dst" || { echo "ringkit-cp: the copy differs from the source"; exit 1; }
for i in 1 2 3; do
	rm -f "$work/dst.cp"
	secs cp "$work/src" "$work/dst.cp"
done | best >"$work/cp.t"

awk -v mib="$mib" -v rk="$(cat "$work/rk.t")" -v cp="$(cat "$work/cp.t")" 'BEGIN {
	printf "ringkit-cp  %6.3f s  %7.1f MiB/s   (copy verified with cmp)\n", rk, mib / rk
	printf "cp          %6.3f s  %7.1f MiB/s\n", cp, mib / cp
	printf "ringkit-cp / cp throughput: %.2fx\n", cp / rk
}'

for part in python lua; do
	if [ -f "tools/tour-$part.sh" ]; then
		echo "== $part"
		sh "tools/tour-$part.sh" "$build"
	fi
done
