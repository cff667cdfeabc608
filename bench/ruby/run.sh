#!/bin/sh
# The Ruby examples on Ringkit::Scheduler next to the same programs on plain
# Ruby threads (their --threads mode: no ringkit loaded), in one run; and the
# Ruby copies next to cp. doc/benchmarks-ruby.md says what is measured and
# how to read it.
#
#   sh bench/ruby/run.sh
#
# Servers (examples/ruby, each started as `ruby -I bindings/ruby/lib
# examples/ruby/X.rb [--threads] PORT`):
#   echo 1 KiB    echo.rb, loaded by ringkit-echo-load (bench/python/
#                 echo_load.c): CONNS connections, each sending a 1 KiB
#                 message and reading its echo before the next, every byte
#                 checked
#   echo 100 KiB  the same with 100 KiB messages
#   HTTP hello    http.rb under wrk -t1 -cCONNS
# The method is bench/http/run.sh's (bench/lib.sh): a block's servers started
# fresh together, a 1 s warm-up each, RK_BENCH_RUNS runs with fresh
# connections, the servers taking turns run by run, for RK_BENCH_ROUNDS
# rounds; the server's CPU time (utime + stime from /proc, before and after)
# divided by the requests or messages served, errors counted; pinned (server on CPU 0, load on CPU 1) and
# unpinned, each with its own table: a block per server, a row per mode,
# medians over every run, ratios against the threads row of the same block.
# A row with any error says "invalid".
#
# Copy: a file of RK_BENCH_COPY_MIB MiB of random bytes (page cache warm),
# copied RK_BENCH_COPY_REPS times by each of cp, copy.rb (the ring) and
# copy.rb --threads, taking turns, after one untimed copy each; every copy
# compared with the source afterwards (cmp, not timed). Per copy: MB/s and
# CPU us per MB (user + sys of the process and its threads) from start to
# exit (what a user waits for; Ruby's start-up is in it) and, for the Ruby
# ones, of the copy alone (copy.rb's own clocks, from the open of DST to its
# close). Medians and ranges, and the ratios against cp and threads.
#
# Environment: RK_BENCH_BUILD (build dir, default build-bench, a release
# build), RK_BENCH_DURATION (seconds per run, default 3), RK_BENCH_RUNS
# (default 4), RK_BENCH_CONNS (default 64), RK_BENCH_ROUNDS (default 2),
# RK_BENCH_PIN (1 pinned only, 0 unpinned only, unset both),
# RK_BENCH_COPY_MIB (default 256), RK_BENCH_COPY_REPS (default 3),
# BENCH_DIR (where the copy's files go, default $TMPDIR or /tmp). Installs
# wrk with apt-get when missing. Load only ever goes to 127.0.0.1.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_settings
copy_mib=${RK_BENCH_COPY_MIB:-256}
copy_reps=${RK_BENCH_COPY_REPS:-3}
command -v ruby >/dev/null || { echo "no ruby (Debian: ruby)" >&2; exit 1; }
bench_need_wrk
bench_build
RINGKIT_LIB=$(pwd)/$build/src/libringkit.so
export RINGKIT_LIB

[ -z "${BENCH_DIR-}" ] || TMPDIR=$BENCH_DIR # the copy's files go to $tmp
bench_setup ruby

bench_placements

# The server list (bench/lib.sh): a group per server, a row per mode.
list="$tmp/servers"
: >"$list"
add() { # GROUP KIND UNIT BYTES SCRIPT
	printf '%s\tscheduler\t%s\t%s\t%s\texec ruby -I bindings/ruby/lib %s $RK_PORT\n' \
		"$1" "$2" "$3" "$4" "$5" >>"$list"
	printf '%s\tthreads\t%s\t%s\t%s\texec ruby %s --threads $RK_PORT\n' \
		"$1" "$2" "$3" "$4" "$5" >>"$list"
}
add "echo, 1 KiB messages" echo1k message 1024 examples/ruby/echo.rb
add "echo, 100 KiB messages" echo100k message 102400 examples/ruby/echo.rb
add "HTTP hello" wrk request 0 examples/ruby/http.rb

# bench_load KIND PORT SECONDS (bench/lib.sh).
bench_load() { bench_load_std "$@"; }

bench_machine
echo "== $(ruby --version)"
echo "== load: $conns connections (echo: ringkit-echo-load; HTTP: wrk -t1), a 1 s warm-up then $runs runs of ${duration}s per server start, $rounds rounds, placements: $placements"

bench_all "$list"
bench_report load threads

# --- copy ----------------------------------------------------------------------
# Rows in $results's format (bench/lib.sh), placement "copy", unit
# "megabyte" (10^6 bytes): MB/s and CPU us per MB, from start to exit (the
# process's user + sys, from the shell's `times` for its children) and, for
# copy.rb, of the copy alone (its own clocks); a copy that differs from the
# source is an error, which makes its row "invalid".
src=$tmp/src dst=$tmp/dst
dd if=/dev/urandom of="$src" bs=1M count="$copy_mib" status=none
cat "$src" >/dev/null
mb=$(stat -c %s "$src" | awk '{ print $1 / 1e6 }')
whole="copy of $copy_mib MiB, start to exit"
alone="copy of $copy_mib MiB, the copy alone (copy.rb's clocks)"
now() { date +%s.%N; }
# The children's user + sys seconds in the output of `times` (line 2: 0m1.23s 0m0.45s).
child_cpu() { awk 'NR == 2 { gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' "$1"; }
# copy NAME CMD...: one timed copy, compared with the source afterwards.
copy() {
	name=$1
	shift
	rm -f "$dst"
	t0=$(now)
	times >"$tmp/times0" # the shell's own (no subshell): its children's CPU so far
	"$@" >"$tmp/copy.out" || true
	times >"$tmp/times1"
	t1=$(now)
	c0=$(child_cpu "$tmp/times0")
	c1=$(child_cpu "$tmp/times1")
	errors=0
	cmp -s "$src" "$dst" || { echo "$name: the copy differs from the source" >&2; errors=1; }
	awk -v p=copy -v g="$whole" -v a="$alone" -v n="$name" -v mb="$mb" -v e="$errors" \
		-v t="$t0 $t1 $c0 $c1" '
		BEGIN { split(t, x, " ")
		        printf "%s\t%s\t%s\t%.1f\t%.2f\t%d\tmegabyte\t0\n", p, g, n, mb / (x[2] - x[1]),
		               (x[4] - x[3]) / mb * 1e6, e }
		/^copied / { gsub(/[(),]/, " "); # copied N bytes in S s CPU C s: ...
		             printf "%s\t%s\t%s\t%.1f\t%.2f\t%d\tmegabyte\t0\n", p, a, n, $2 / $5 / 1e6,
		                    $8 / ($2 / 1e6) * 1e6, e }' "$tmp/copy.out" >>"$results"
}
copy_all() {
	copy cp cp "$src" "$dst"
	copy ring ruby -I bindings/ruby/lib examples/ruby/copy.rb --no-verify "$src" "$dst"
	copy threads ruby examples/ruby/copy.rb --threads --no-verify "$src" "$dst"
}
copy_all # untimed (its rows are dropped): the first copies into a new file run slower
grep -v "^copy$tab" "$results" >"$tmp/kept" || true
mv "$tmp/kept" "$results"
rep=0
while [ "$rep" -lt "$copy_reps" ]; do
	rep=$((rep + 1))
	copy_all
done

echo
echo "== copy: $copy_mib MiB of random bytes, page cache warm, $copy_reps runs each taking turns; copy.rb: depth 32, chunk 256 KiB"
bench_table copy cp threads
