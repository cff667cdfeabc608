#!/bin/sh
# The Python step of the main-job tour: hashes a directory of files
# concurrently with ringkit.aio (examples/python/hash_aio.py) and with a
# thread pool (hash_threads.py), checks both against sha256sum, and prints
# the times side by side. Files are written fresh, so they are page-cached.
#   sh tools/tour-python.sh [builddir [files [KiB-per-file]]]   (build-tour 400 256;
#   with RK_TOUR_MIB set, 4 files per MiB by default)
# Interrupted (Ctrl-C, kill, hangup, a closed output pipe) it removes its files.
set -eu
cd "$(dirname "$0")/.."
. tools/tour-common.sh
B=${1:-build-tour}
if [ -n "${RK_TOUR_MIB:-}" ]; then
	N=${2:-$((RK_TOUR_MIB * 4 > 0 ? RK_TOUR_MIB * 4 : 1))}
else
	N=${2:-400}
fi
KIB=${3:-256}
[ -n "${RK_TOUR_NO_DEPS:-}" ] || sh tools/deps.sh   # RK_TOUR_NO_DEPS=1: installs nothing
tour_build "$B"
export PYTHONPATH="$PWD/$B/bindings/python"
PY=/usr/bin/python3

DIR=$(mktemp -d "${TMPDIR:-/tmp}/rk-tour-py.XXXXXX")
tour_rm "$DIR" "$DIR.ref" "$DIR.aio" "$DIR.thr"
echo "== Python: sha256 of $N files of $KIB KiB, ringkit.aio against a thread pool"
tour_backend "$B"
echo "   writing the files to $DIR"
i=0
while [ "$i" -lt "$N" ]; do
	head -c "$((KIB * 1024))" /dev/urandom >"$DIR/f$i"
	i=$((i + 1))
done
(cd "$DIR" && sha256sum f* | sort -k2) | awk -v d="$DIR" '{print $1, d "/" $2}' >"$DIR.ref"
echo "   hashing them three times with each program"

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
	printf "ringkit.aio / threads throughput: %.2fx (best of three each)\n", t / a
}'
tour_noise
