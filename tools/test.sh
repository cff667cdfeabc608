#!/bin/sh
# Runs every test suite and ends with one line "N passed, N failed".
#   1. everything registered with meson test (C suite, bindings) in a normal build
#   2. the C, Python and scenario suites again under AddressSanitizer +
#      UndefinedBehaviorSanitizer (the interpreter preloads the ASan runtime)
#   3. the Python suite once more with a second interpreter whose cffi is 2.x
#      (e.g. a pyenv python3 first on PATH), when the machine has one
#   4. the normal build's C, Python, Lua and Ruby suites again on the fallback
#      backend (RINGKIT_BACKEND=fallback: what runs where io_uring is
#      refused), and the C suite on it under the sanitizers, logged apart as
#      testlog-fallback.json
# Build dirs: build-test, build-test-asan, build-test-cffi2 (prefix: RK_BUILD_PREFIX).
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

# The same tests on the fallback backend, from the same build.
echo "== C, Python, Lua and Ruby suites on the fallback backend (RINGKIT_BACKEND=fallback)"
rm -f "$prefix/meson-logs/testlog-fallback.json"
RINGKIT_BACKEND=fallback meson test -C "$prefix" --num-processes "$jobs" --print-errorlogs \
	--logbase testlog-fallback --suite c --suite python --suite lua --suite ruby || status=1

configure "$prefix-asan" --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all &&
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	suite "$prefix-asan" --suite c --suite python --suite scenarios || status=1

# The fallback's threads and queues under the sanitizers too (C suite).
echo "== C suite on the fallback backend under ASan+UBSan"
rm -f "$prefix-asan/meson-logs/testlog-fallback.json"
[ -f "$prefix-asan/build.ninja" ] &&
	RINGKIT_BACKEND=fallback ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C "$prefix-asan" --num-processes "$jobs" --print-errorlogs \
	--logbase testlog-fallback --suite c || status=1

# The binding must build and pass with cffi 1.15 (Debian) and 2.x.
logs="$prefix/meson-logs/testlog.json $prefix/meson-logs/testlog-fallback.json"
logs="$logs $prefix-asan/meson-logs/testlog.json $prefix-asan/meson-logs/testlog-fallback.json"
alt=$(command -v python3 || true)
if [ -n "$alt" ] && [ "$(readlink -f "$alt")" != "$(readlink -f /usr/bin/python3)" ] &&
	"$alt" -c 'import sys, cffi; sys.exit(int(cffi.__version__.split(".")[0]) < 2)' 2>/dev/null; then
	echo "== Python suite with $alt (cffi $("$alt" -c 'import cffi; print(cffi.__version__)'))"
	configure "$prefix-cffi2" --buildtype=debugoptimized -Dpython="$alt" &&
		suite "$prefix-cffi2" --suite python || status=1
	logs="$logs $prefix-cffi2/meson-logs/testlog.json"
fi

# Sum what meson recorded in every run: a build or setup failure above counts
# as one failure so it can never pass silently.
passed=0; failed=0; skipped=0
for log in $logs; do
	# Each failure is named again here, next to the sum: CI may keep only the
	# tail of this output, and each run's own report scrolled past long ago.
	if [ ! -f "$log" ]; then
		echo "FAILED: no results in $log (its build or setup failed)"
		failed=$((failed + 1)); continue
	fi
	p=$(grep -c '"result": "OK"' "$log")
	s=$(grep -c '"result": "SKIP"' "$log")
	t=$(grep -c '"result":' "$log")
	passed=$((passed + p)); skipped=$((skipped + s)); failed=$((failed + t - p - s))
	[ $((t - p - s)) -eq 0 ] ||
		grep -v -e '"result": "OK"' -e '"result": "SKIP"' "$log" | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    t = json.loads(line)
    out = (t.get("stdout") or "") + (t.get("stderr") or "")
    print("FAILED: %s (%s, %.1f s) in %s" % (t["name"], t["result"], t["duration"], sys.argv[1]))
    for l in out.splitlines()[-15:]:
        print("    " + l)
' "$log"
done
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
