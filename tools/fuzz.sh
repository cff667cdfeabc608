#!/bin/sh
# The stateful API fuzzer (tests/fuzz/api_fuzz.c) under libFuzzer, with
# AddressSanitizer and UndefinedBehaviorSanitizer, built with clang:
#
#   sh tools/fuzz.sh [SECONDS] [libFuzzer options...]   fuzz (default 600 s)
#   sh tools/fuzz.sh merge                              fold new finds into the seeds
#   sh tools/fuzz.sh --diff [SECONDS] [--seed N]        the differential mode (default 600 s)
#
# Inputs it finds go to build-fuzz/corpus; the seed corpus tests/fuzz/corpus
# is read, never written, except by "merge" (libFuzzer's -merge=1 keeps only
# inputs that add coverage). A crash leaves crash-<hash> in build-fuzz/;
# replay it with build-test/tests/fuzz/api_fuzz FILE (RK_FUZZ_TRACE=1
# prints the program it runs). The test command replays the seeds only.
set -eu
cd "$(dirname "$0")/.."

# The differential mode (tests/fuzz/diff.c): random programs on an io_uring
# ring and a fallback ring, compared; needs no clang. Built by meson with
# ASan+UBSan in build-fuzz-diff; every mismatching input is written to
# build-fuzz-diff/mismatches, replay it with
#   build-fuzz-diff/tests/fuzz/api_fuzz --diff --replay FILE
# (RK_FUZZ_TRACE=1 prints the program, RK_FUZZ_VERBOSE=1 the known differences).
if [ "${1:-}" = --diff ]; then
	shift
	secs=${1:-600}
	[ $# -gt 0 ] && shift
	out=${RK_FUZZ_DIFF_BUILD:-build-fuzz-diff} # another dir runs a second campaign beside
	[ -f "$out/build.ninja" ] || meson setup "$out" --buildtype=debugoptimized \
		-Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all \
		>/dev/null
	ninja -C "$out" tests/fuzz/api_fuzz >/dev/null
	mkdir -p "$out/mismatches"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	exec "$out/tests/fuzz/api_fuzz" --diff --run "$secs" --out "$out/mismatches" "$@"
fi
command -v clang >/dev/null 2>&1 || {
	[ "$(id -u)" -eq 0 ] || { echo "needs clang (apt-get install clang)"; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang >/dev/null
}
out=build-fuzz
mkdir -p "$out/corpus"
# The whole core is compiled in, so coverage guides the fuzzer through it.
clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Iinclude -Isrc src/*.c tests/fuzz/api_fuzz.c -luring \
	-o "$out/api_fuzz"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [ "${1:-}" = merge ]; then
	exec "$out/api_fuzz" -merge=1 tests/fuzz/corpus "$out/corpus"
fi
secs=${1:-600}
[ $# -gt 0 ] && shift
cd "$out"
exec ./api_fuzz -max_total_time="$secs" -max_len=2048 -timeout=60 -rss_limit_mb=4096 \
	-print_final_stats=1 "$@" corpus ../tests/fuzz/corpus
