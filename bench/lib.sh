# Shell functions shared by the server benchmarks (bench/http/run.sh,
# bench/python/loops.sh, bench/ruby/run.sh). Sourced after `set -eu`, from
# the source root.
#
# The caller sets: tmp (a private temporary directory), results (a file, one
# line per run: placement, group, name, rate, CPU us per unit, errors, unit,
# bytes per unit, round, run, TAB-separated) — bench_setup makes both — and defines
#   bench_load KIND PORT SECONDS   one load run against 127.0.0.1:PORT, under
#                                  $load_cpu, setting load_count (requests or
#                                  messages done), load_rate (per second) and
#                                  load_errors
# A server list is a file of lines
#   GROUP<TAB>NAME<TAB>KIND<TAB>UNIT<TAB>BYTES<TAB>COMMAND
# rows of one GROUP are compared with each other ("-": no group heading),
# KIND is passed to bench_load, UNIT names what it counts (request,
# message), BYTES is the payload of one unit (0: no MB/s column), and
# COMMAND is run by sh with $RK_PORT set to the port to listen on.

# bench_load_std (below) is the bench_load of the scripts whose servers take
# wrk and the echo client.

tab=$(printf '\t')

# The settings every server benchmark takes from the environment.
bench_settings() {
	build=${RK_BENCH_BUILD:-build-bench}
	duration=${RK_BENCH_DURATION:-3}
	conns=${RK_BENCH_CONNS:-64}
	rounds=${RK_BENCH_ROUNDS:-2}
	runs=${RK_BENCH_RUNS:-4}
}

# The Debian packages (tools/deps.sh) and the release build in $build;
# sets echo_load, the echo servers' client built there.
bench_build() {
	sh tools/deps.sh
	[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
	ninja -C "$build" >/dev/null
	echo_load=$build/bench/ringkit-echo-load
}
hz=$(getconf CLK_TCK)

# Sets placements from RK_BENCH_PIN (1: pinned, 0: unpinned, unset: both);
# pinned needs two CPUs and taskset, and is skipped with a note without them.
bench_placements() {
	case ${RK_BENCH_PIN-both} in
	1) placements=pinned ;;
	0) placements=unpinned ;;
	both) placements="pinned unpinned" ;;
	*) echo "RK_BENCH_PIN: 1, 0 or unset, not '$RK_BENCH_PIN'" >&2; exit 2 ;;
	esac
	ncpu=$(nproc)
	if [ "$ncpu" -lt 2 ] || ! command -v taskset >/dev/null; then
		case $placements in
		*unpinned*) ;;
		*) echo "pinning needs two CPUs and taskset" >&2; exit 1 ;;
		esac
		echo "== pinned placement skipped: it needs two CPUs and taskset"
		placements=unpinned
	fi
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
	python3 - "$1" <<'EOF'
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# CPU ticks (utime + stime) of a process and its direct children (nginx's
# worker). Fields after the ") " that ends the command name: 1 state,
# 2 ppid, 12 utime, 13 stime.
cpu_ticks() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
		{ pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
		  if (pid == root || f[2] == root) total += f[12] + f[13] }
		END { print total + 0 }'
}

# wrk_parse FILE: load_count, load_rate and load_errors from wrk's output
# (errors: socket errors and non-2xx responses, summed).
wrk_parse() {
	load_count=$(awk '/requests in/ { print $1 }' "$1")
	load_rate=$(awk '/^Requests\/sec/ { print $2 }' "$1")
	load_errors=$(awk '/Socket errors:/ { gsub(/[^0-9]+/, " "); for (i = 1; i <= NF; i++) n += $i }
		/Non-2xx or 3xx responses:/ { n += $NF }
		END { print n + 0 }' "$1")
}

# bench_list PLACEMENT ROUND LIST: bench_group for each group of LIST, in
# the order the groups first appear.
bench_list() {
	rm -f "$tmp"/group.*
	awk -F "$tab" -v dir="$tmp" '!($1 in g) { g[$1] = ++n } { print > (dir "/group." g[$1]) }' "$3"
	gi=1
	while [ -f "$tmp/group.$gi" ]; do
		bench_group "$1" "$2" "$tmp/group.$gi"
		gi=$((gi + 1))
	done
}

# bench_group PLACEMENT ROUND GROUPFILE: every server of one group started
# fresh and at once, each warmed up for 1 s, then $runs runs of $duration s
# in which the servers take turns run by run (the order rotating from one
# run to the next), so that the rows a block compares are measured seconds
# apart, not a server's whole series apart: a shared machine's drift hits
# them alike, and run k of each row can be paired. Each bench_load opens
# fresh connections; only the server under load is read (an idle one
# costs nothing). The server's CPU time is read from /proc before and after
# each run; one line per run appended to $results. A server that does not
# start counts one error; so does a run that served nothing. Server
# placement: $server_cpu (a taskset prefix or empty).
bench_group() {
	started="$tmp/started"
	: >"$started"
	i=0
	while IFS="$tab" read -r group name kind unit bytes cmd; do
		i=$((i + 1))
		port=$(free_port)
		RK_PORT=$port $server_cpu sh -c "$cmd" >"$tmp/server.$i.log" 2>&1 &
		pid=$!
		server_pids="$server_pids $pid"
		if ! wait_port "$port"; then
			printf '%-22s did not start: %s\n' "$name" "$(tail -n 3 "$tmp/server.$i.log" | tr '\n' ' ')"
			kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
			printf '%s\t%s\t%s\t0\t0\t1\t%s\t%s\n' "$1" "$group" "$name" "$unit" "$bytes" >>"$results"
			continue
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$pid" "$port" "$group" "$name" "$kind" \
			"$unit" "$bytes" >>"$started"
	done <"$3"
	while IFS="$tab" read -r i pid port group name kind unit bytes; do
		bench_load "$kind" "$port" 1
		echo "$load_errors" >"$tmp/warm.$i"
	done <"$started"
	n=$(wc -l <"$started")
	run=0
	while [ "$n" -gt 0 ] && [ "$run" -lt "$runs" ]; do
		off=$((run % n))
		run=$((run + 1))
		{ tail -n +$((off + 1)) "$started"; head -n "$off" "$started"; } >"$tmp/order"
		while IFS="$tab" read -r i pid port group name kind unit bytes; do
			label=$name
			[ "$group" = - ] || label="$group, $name"
			before=$(cpu_ticks "$pid")
			bench_load "$kind" "$port" "$duration"
			after=$(cpu_ticks "$pid")
			# Errors of the warm-up count with the first run.
			errors=$((load_errors + $(cat "$tmp/warm.$i")))
			echo 0 >"$tmp/warm.$i"
			if [ -z "$load_count" ] || [ "$load_count" -eq 0 ]; then
				printf '%s %s round %d run %d: nothing served: %s\n' "$label" "$1" \
					"$2" "$run" "$(tr '\n' ' ' <"$tmp/load.out")"
				load_count=0; load_rate=0; errors=$((errors + 1))
			fi
			cpu_us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$load_count" \
				'BEGIN { printf "%.2f", n ? t / hz / n * 1e6 : 0 }')
			printf '%-30s %s round %d run %d: %10.0f %ss/s %8s CPU us/%s %6d errors\n' \
				"$label" "$1" "$2" "$run" "$load_rate" "$unit" "$cpu_us" "$unit" "$errors"
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$group" "$name" \
				"$load_rate" "$cpu_us" "$errors" "$unit" "$bytes" "$2" "$run" >>"$results"
		done <"$tmp/order"
	done
	while IFS="$tab" read -r i pid port group name kind unit bytes; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		label=$name
		[ "$group" = - ] || label="$group, $name"
		tracebacks=$(grep -c -i 'traceback\|exception' "$tmp/server.$i.log" || true)
		if [ "$tracebacks" -ne 0 ]; then
			printf '%s %s round %d: the server logged %d traceback/exception lines; the first:\n' \
				"$label" "$1" "$2" "$tracebacks"
			grep -m 1 -i -A 15 'traceback\|exception' "$tmp/server.$i.log" | sed 's/^/    /'
		fi
	done <"$started"
	server_pids=""
}

# bench_all LIST: bench_list over every placement and round (servers take
# turns within a round); sets server_cpu/load_cpu, the taskset prefixes
# bench_list and the scripts' bench_load use.
bench_all() {
	for placement in $placements; do
		server_cpu=""; load_cpu=""
		[ "$placement" = unpinned ] || { server_cpu="taskset -c 0"; load_cpu="taskset -c 1"; }
		round=0
		while [ "$round" -lt "$rounds" ]; do
			round=$((round + 1))
			bench_list "$placement" "$round" "$1"
		done
	done
}

# bench_table PLACEMENT BASE...: the table of one placement from
# $results, a block per group. A row: the median and the range of the rate
# over every run of every round, the median CPU per unit, the errors summed
# over the warm-ups and runs, MB/s (median rate x bytes per unit, when the
# group has a payload size), for each BASE (a row name of the same group)
# the ratios rate/BASE and cpu/BASE of the medians, and for the first BASE
# pcpu/BASE: the median over runs of the row's CPU per unit divided by
# BASE's in the run of the same round and number (bench_group runs them
# seconds apart; a group whose lines name no round and run, such as a
# script's own, has no such column), "-" where no run pairs. A row with any
# error says "invalid" instead of figures (a figure from a broken run
# measures the breakage), and ratios against it are "-", as against a BASE
# the group lacks.
bench_table() {
	placement=$1
	shift
	awk -F "$tab" -v want="$placement" -v bases="$*" '
		function median(list,   v, m, i, j, t) {
			m = split(list, v, " ")
			for (i = 2; i <= m; i++)
				for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
			lo = v[1]; hi = v[m]
			return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
		}
		function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
		function paired(g, s, k,   keys, m, i, list) {
			if (!((g, k) in err) || err[g, k]) return "-"
			m = split(runs_of[g, s], keys, " ")
			list = ""
			for (i = 1; i <= m; i++)
				if ((g, k, keys[i]) in runcpu && runcpu[g, k, keys[i]] > 0)
					list = list " " runcpu[g, s, keys[i]] / runcpu[g, k, keys[i]]
			return list == "" ? "-" : sprintf("%.2f", median(list))
		}
		$1 != want { next }
		!($2 in seen) { seen[$2] = 1; groups[ng++] = $2 }
		!(($2, $3) in err) { rows[$2, nr[$2]++] = $3; err[$2, $3] = 0; unit[$2] = $7; bytes[$2] = $8 }
		{ rps[$2, $3] = rps[$2, $3] " " $4; cpu[$2, $3] = cpu[$2, $3] " " $5; err[$2, $3] += $6 }
		NF >= 10 { runcpu[$2, $3, $9 "." $10] = $5; runs_of[$2, $3] = runs_of[$2, $3] " " $9 "." $10; paired_in[$2] = 1 }
		END {
			nb = split(bases, base, " ")
			for (g = 0; g < ng; g++) {
				grp = groups[g]
				mbs = bytes[grp] > 0
				if (g) print ""
				if (grp != "-") print "-- " grp
				printf "%-22s %12s %17s %14s %8s", "server", unit[grp] "s/s", "range",
				       "CPU us/" unit[grp], "errors"
				if (mbs) printf " %9s", "MB/s"
				for (b = 1; b <= nb; b++) printf " %12s %12s", "rate/" base[b], "cpu/" base[b]
				pc = nb && (grp in paired_in)
				if (pc) printf " %12s", "pcpu/" base[1]
				printf "\n"
				for (i = 0; i < nr[grp]; i++) {
					s = rows[grp, i]
					if (err[grp, s]) continue
					r[s] = median(rps[grp, s]); rlo[s] = lo; rhi[s] = hi
					c[s] = median(cpu[grp, s])
				}
				for (i = 0; i < nr[grp]; i++) {
					s = rows[grp, i]
					if (err[grp, s]) {
						printf "%-22s %12s %17s %14s %8d", s, "invalid", "-", "invalid", err[grp, s]
						if (mbs) printf " %9s", "-"
						for (b = 1; b <= nb; b++) printf " %12s %12s", "-", "-"
						if (pc) printf " %12s", "-"
						printf "\n"
						continue
					}
					printf "%-22s %12.0f %17s %14.2f %8d", s, r[s], sprintf("%.0f-%.0f", rlo[s], rhi[s]), c[s], 0
					if (mbs) printf " %9.1f", r[s] * bytes[grp] / 1e6
					for (b = 1; b <= nb; b++) {
						k = base[b]
						ok = ((grp, k) in err) && !err[grp, k]
						printf " %12s %12s", ok ? ratio(r[s], r[k]) : "-", ok ? ratio(c[s], c[k]) : "-"
					}
					if (pc) printf " %12s", paired(grp, s, base[1])
					printf "\n"
				}
				delete r; delete c
			}
		}' "$results"
}

# Installs wrk with apt-get when it is missing.
bench_need_wrk() {
	command -v wrk >/dev/null && return 0
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	echo "installing: wrk" >&2
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null
}

# bench_load_std KIND PORT SECONDS: KIND wrk is `wrk -t1 -c$conns` against
# http://127.0.0.1:PORT/; echo1k and echo100k are $echo_load (the
# ringkit-echo-load client of bench/python/echo_load.c) with $conns
# connections and 1 KiB or 100 KiB messages.
bench_load_std() {
	case $1 in
	wrk)
		$load_cpu wrk -t1 -c"$conns" -d"$3s" "http://127.0.0.1:$2/" >"$tmp/load.out" 2>&1 || true
		wrk_parse "$tmp/load.out"
		return ;;
	echo1k) size=1024 ;;
	echo100k) size=102400 ;;
	esac
	$load_cpu "$echo_load" 127.0.0.1 "$2" "$conns" "$size" "$3" >"$tmp/load.out" 2>&1 || true
	load_count=$(awk '$1 == "messages" { print $2 }' "$tmp/load.out")
	load_rate=$(awk '$1 == "messages/s" { print $2 }' "$tmp/load.out")
	load_errors=$(awk '$1 == "errors" { n = $2 } END { print n == "" ? 1 : n }' "$tmp/load.out")
	# What the client said went wrong, once per run that had errors.
	[ "$load_errors" -eq 0 ] || grep -v '^[a-zA-Z/]* [0-9.]*$' "$tmp/load.out" | head -n 3 >&2 || true
}

# bench_setup NAME: a private temporary directory $tmp, removed at exit with
# the servers still running (if any) killed, and an empty $results in it.
bench_setup() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringkit-bench-$1.XXXXXX")
	server_pids=""
	trap bench_cleanup EXIT INT TERM
	results="$tmp/results"
	: >"$results"
}

bench_cleanup() {
	# shellcheck disable=SC2086 # a list of pids
	[ -z "$server_pids" ] || kill $server_pids 2>/dev/null || true
	rm -rf "$tmp"
}

bench_machine() {
	echo "== machine: $ncpu cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
}

# bench_report LOAD BASE...: bench_table for every placement, each under a
# heading (LOAD names what runs on CPU 1 when pinned).
bench_report() {
	load=$1
	shift
	for placement in $placements; do
		echo
		if [ "$placement" = pinned ]; then
			echo "== pinned: server on CPU 0, $load on CPU 1"
		else
			echo "== unpinned: server and $load placed by the scheduler"
		fi
		bench_table "$placement" "$@"
	done
}
