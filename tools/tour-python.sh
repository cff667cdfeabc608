#!/bin/sh
# The Python step of the main-job tour: hashes a directory of files
# concurrently with ringkit.aio (examples/python/hash_aio.py) and with a
# thread pool (hash_threads.py), checks both against sha256sum, and prints
# the times side by side. Files are written fresh, so they are page-cached.
#   sh tools/tour-python.sh [builddir [files [KiB-per-file]]]   (build-tour 400 256)
set -eu
cd "$(dirname "$0")/.."
B=${1:-build-tour}
N=${2:-400}
KIB=${3:-256}
sh tools/deps.sh
if [ ! -f "$B/build.ninja" ]; then
	meson setup "$B" --buildtype=release >/dev/null
fi
ninja -C "$B" >/dev/null
export PYTHONPATH="$PWD/$B/bindings/python"
PY=/usr/bin/python3

DIR=$(mktemp -d "${TMPDIR:-/tmp}/rk-tour-py.XXXXXX")
trap 'rm -rf "$DIR"' EXIT INT TERM
echo "== Python: sha256 of $N files of $KIB KiB, ringkit.aio against a thread pool"
i=0
while [ "$i" -lt "$N" ]; do
	head -c "$((KIB * 1024))" /dev/urandom >"$DIR/f$i"
	i=$((i + 1))
done
(cd "$DIR" && sha256sum f* | sort -k2) | awk -v d="$DIR" '{print $1, d "/" $2}' >"$DIR.ref"
trap 'rm -rf "$DIR" "$DIR.ref" "$DIR.aio" "$DIR.thr"' EXIT INT TERM

best() { sort -n | head -n 1; }
run() { # run OUT SCRIPT: best wall time of three, output kept from the last
	out=$1; shift
	for k in 1 2 3; do
		t0=$(date +%s.%N)
		$PY "$@" --concurrency 64 --chunk 65536 "$DIR" 2>/dev/null | sort -k2 >"$out"
		t1=$(date +%s.%N)
		echo "$t0 $t1" | awk '{printf "%.4f\n", $2 - $1}'
	done | best
}
ta=$(run "$DIR.aio" examples/python/hash_aio.py)
tt=$(run "$DIR.thr" examples/python/hash_threads.py)
cmp -s "$DIR.aio" "$DIR.ref" || { echo "hash_aio.py: digests differ from sha256sum"; exit 1; }
cmp -s "$DIR.thr" "$DIR.ref" || { echo "hash_threads.py: digests differ from sha256sum"; exit 1; }
awk -v a="$ta" -v t="$tt" -v n="$N" -v k="$KIB" 'BEGIN {
	mib = n * k / 1024
	printf "hash_aio.py (ringkit.aio)   %6.3f s  %7.1f MiB/s   (digests match sha256sum)\n", a, mib / a
	printf "hash_threads.py (64 threads) %5.3f s  %7.1f MiB/s   (digests match sha256sum)\n", t, mib / t
	printf "ringkit.aio / threads throughput: %.2fx\n", t / a
}'
