#!/bin/sh
# Issue 18's gap to liburing in one table: RUNS runs (default 5) of the NOP
# and random-read benchmarks, each ratio measured in the same run
# (alternating rounds), then the median of the runs.
#   sh bench/ratios.sh [BUILD_DIR [RUNS]]   (default build-bench, 5)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build-bench}
runs=${2:-5}
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" bench/ringkit-bench-nop bench/ringkit-bench-randread >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "== $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), $runs runs"
i=1
while [ "$i" -le "$runs" ]; do
	"$build/bench/ringkit-bench-nop" | awk -v r="$i" '
		$1 == 32 || $1 == 256 {
			printf "%s nop%-3s rk/liburing %s\n", r, $1, $10
			printf "%s nop%-3s rk/tuned %s\n", r, $1, $11 }' >>"$out"
	"$build/bench/ringkit-bench-randread" | awk -v r="$i" '
		/ringkit fixed / {
			printf "%s read%-3s fixed/liburing-plain %s\n", r, $2, $6
			printf "%s read%-3s fixed/liburing-fixed %s\n", r, $2, $9
			printf "%s read%-3s fixed/liburing-fixed-tuned %s\n", r, $2, $11 }
		/ringkit fixed-file/ {
			printf "%s read%-3s fixed-file/liburing-plain %s\n", r, $2, $6
			printf "%s read%-3s fixed-file/liburing-fixed %s\n", r, $2, $9
			printf "%s read%-3s fixed-file/liburing-fixed-file %s\n", r, $2, $11 }
		/ringkit plain/ {
			printf "%s read%-3s plain/liburing-plain %s\n", r, $2, $6
			printf "%s read%-3s plain/liburing-plain-tuned %s\n", r, $2, $9 }' >>"$out"
	i=$((i + 1))
done
# one line per ratio: the value of every run, then their median
awk '{ k = $2 " " $3; gsub("x", "", $4); v[k] = v[k] " " $4; n[k]++; if (!(k in seen)) { seen[k] = 1; order[++m] = k } }
	END { for (j = 1; j <= m; j++) { k = order[j]; split(substr(v[k], 2), a, " ");
		c = n[k]; for (x = 1; x <= c; x++) for (y = x + 1; y <= c; y++) if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
		med = c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
		printf "%-40s median %.3f   runs:%s\n", k, med, v[k] } }' "$out"
