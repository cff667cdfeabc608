#!/bin/sh
# Runs every test suite and ends with one line "N passed, N failed".
#   1. everything registered with meson test (C suite, bindings) in a normal build
#   2. the C suite again under AddressSanitizer + UndefinedBehaviorSanitizer
# Build dirs: build-test and build-test-asan (override with RK_BUILD_PREFIX).
set -u
cd "$(dirname "$0")/.."
sh tools/deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

prefix=${RK_BUILD_PREFIX:-build-test}
jobs=$(nproc 2>/dev/null || echo 2)
status=0

# configure DIR [meson options...]: set up a build dir once, reconfigure after.
configure() {
	dir=$1; shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1
	else
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1
	fi || { cat "$dir.setup.log"; return 1; }
}

# suite DIR [meson test options...]: build and run; results land in testlog.json.
suite() {
	dir=$1; shift
	rm -f "$dir/meson-logs/testlog.json"
	ninja -C "$dir" >"$dir.build.log" 2>&1 || { cat "$dir.build.log"; return 1; }
	meson test -C "$dir" --num-processes "$jobs" --print-errorlogs "$@"
}

configure "$prefix" --buildtype=debugoptimized && suite "$prefix" || status=1

configure "$prefix-asan" --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all &&
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	suite "$prefix-asan" --suite c || status=1

# Sum what meson recorded in both runs: a build or setup failure above counts
# as one failure so it can never pass silently.
passed=0; failed=0; skipped=0
for log in "$prefix/meson-logs/testlog.json" "$prefix-asan/meson-logs/testlog.json"; do
	if [ ! -f "$log" ]; then failed=$((failed + 1)); continue; fi
	p=$(grep -c '"result": "OK"' "$log")
	s=$(grep -c '"result": "SKIP"' "$log")
	t=$(grep -c '"result":' "$log")
	passed=$((passed + p)); skipped=$((skipped + s)); failed=$((failed + t - p - s))
done
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
