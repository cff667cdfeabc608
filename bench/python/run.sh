#!/bin/sh
# Runs the Python benchmarks against a release build. Prints figures only.
#   sh bench/python/run.sh [builddir]      (default build-bench)
# (The asyncio event loops side by side, with servers: bench/python/loops.sh.)
set -eu
cd "$(dirname "$0")/../.."
sh tools/deps.sh
build=${1:-build-bench}
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null
export PYTHONPATH="$PWD/$build/bindings/python:$PWD/bench/python"
py=/usr/bin/python3
echo "# machine: $(nproc) cores, kernel $(uname -r), $($py --version), cffi $($py -c 'import cffi; print(cffi.__version__)')"
$py bench/python/nop.py
echo
$py bench/python/randread.py
echo
$py bench/python/aio_read.py
