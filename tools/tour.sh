#!/bin/sh
# The main job: build ringkit and run the examples tour.
#   1. ringkit-cp copies a few hundred MiB through a registered region, the
#      copy is checked with cmp, and its throughput is printed next to cp(1)
#      on the same, page-cached file.
#   2. the binding tours (Python, Lua) when they are present.
# Usage: sh tools/tour.sh
#   RK_TOUR_BUILD=dir  the build directory (default build-tour; made with
#                      --buildtype=release when it does not exist yet)
#   RK_TOUR_MIB=n      MiB that ringkit-cp copies (default 384); also the size
#                      of the Lua copy and, at 4 files per MiB, of the Python
#                      hashing when set
#   RK_TOUR_NO_DEPS=1  do not run tools/deps.sh (no apt-get)
# Interrupted (Ctrl-C, kill, hangup, or `| head` closing its output) it
# removes its temporary files.
set -eu
cd "$(dirname "$0")/.."
. tools/tour-common.sh
[ -n "${RK_TOUR_NO_DEPS:-}" ] || sh tools/deps.sh   # RK_TOUR_NO_DEPS=1: installs nothing

build=${RK_TOUR_BUILD:-build-tour}
mib=${RK_TOUR_MIB:-384}
tour_build "$build"

echo "== ringkit-cp (examples/cp) against cp on the same $mib MiB file"
tour_backend "$build"
# The data lives next to the build, on the same filesystem as a real copy.
case $build in
/*) work=$(mktemp -d "$build/tour.XXXXXX") ;;
*) work=$(mktemp -d "$PWD/$build/tour.XXXXXX") ;;
esac
tour_rm "$work"
echo "   generating $mib MiB of random data in $work"
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
echo "   copying it three times with each tool"
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
	printf "ringkit-cp / cp throughput: %.2fx (best of three each)\n", cp / rk
}'
# Since coreutils 9.0, cp copies with copy_file_range(2): the kernel moves
# the data itself, where ringkit-cp reads it into user memory and writes it out.
cpv=$(cp --version 2>/dev/null | sed -n '1s/.* \([0-9][0-9]*\)\.[0-9.]*$/\1/p')
if [ "${cpv:-0}" -ge 9 ]; then
	echo "   cp is coreutils $(cp --version | sed -n '1s/.* //p'): it copies in the kernel with"
	echo "   copy_file_range(2), no user-space buffer (on btrfs or XFS it may share the blocks"
	echo "   instead); ringkit-cp reads into a registered region and writes from it, so this"
	echo "   compares user-space IO through io_uring with an in-kernel copy"
fi
tour_noise
rm -rf "$work"

for part in python lua; do
	if [ -f "tools/tour-$part.sh" ]; then
		sh "tools/tour-$part.sh" "$build"
	fi
done
