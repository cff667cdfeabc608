#!/bin/sh
# Line and branch coverage of the core (src/) by the C suite, with gcovr:
#   sh tools/coverage.sh            summary and per-file table
#   sh tools/coverage.sh --html     also build-cov/coverage/index.html
# Build dir: build-cov (-Db_coverage=true, gcc). Needs gcovr (apt).
set -eu
cd "$(dirname "$0")/.."
command -v gcovr >/dev/null 2>&1 || {
	[ "$(id -u)" -eq 0 ] || { echo "needs gcovr (apt-get install gcovr)"; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcovr >/dev/null
}
dir=build-cov
# From scratch: notes files of objects that no longer exist (a renamed
# library version, say) would be merged with the current ones.
rm -rf "$dir"
meson setup "$dir" -Db_coverage=true --buildtype=debug >/dev/null
ninja -C "$dir" >/dev/null
meson test -C "$dir" --suite c --num-processes "$(nproc)" >"$dir/test.log" 2>&1 || {
	grep -E 'FAIL|TIMEOUT' "$dir/test.log"
	echo "the C suite failed ($dir/meson-logs/testlog.txt): coverage not measured"; exit 1; }
# Both the shared and the static library are built from src/: gcovr merges
# their counts per source line.
gcovr -r . "$dir" --filter 'src/' --txt "$dir/coverage-lines.txt" --print-summary
gcovr -r . "$dir" --filter 'src/' --branches --txt "$dir/coverage-branches.txt" >/dev/null
echo "== lines"; cat "$dir/coverage-lines.txt"
echo "== branches"; cat "$dir/coverage-branches.txt"
if [ "${1:-}" = --html ]; then
	mkdir -p "$dir/coverage"
	gcovr -r . "$dir" --filter 'src/' --html-details "$dir/coverage/index.html"
	echo "html: $dir/coverage/index.html"
fi
