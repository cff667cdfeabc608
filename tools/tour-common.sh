# Sourced by tools/tour.sh, tour-python.sh and tour-lua.sh (". tools/tour-common.sh"
# from the top of the checkout): temporary files that go away however the tour
# ends, the build step with progress, the backend line and the note on noise.

# Paths removed at exit. A tour cut short — Ctrl-C (INT), kill (TERM), a
# closed terminal (HUP) or a closed stdout pipe such as `| head` (PIPE) —
# exits through the EXIT trap too: dash runs no EXIT trap for a signal that
# kills it, so each of those signals is turned into an exit first.
# tour_tmp: one path a line (a checkout path may hold spaces); add with tour_rm.
tour_tmp=""
tour_rm() {
	for p in "$@"; do
		tour_tmp="$tour_tmp
$p"
	done
}
tour_cleanup() {
	set -f
	old_ifs=$IFS
	IFS='
'
	for p in $tour_tmp; do
		[ -z "$p" ] || rm -rf "$p"
	done
	IFS=$old_ifs
}
trap tour_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

# tour_build DIR: sets DIR up once (release) and builds everything with
# ninja, saying what it is doing instead of keeping quiet through a build
# from scratch; the whole log is shown only when something fails.
tour_build() {
	b=$1
	# tour.sh has just built it for the binding tours it runs.
	[ "${RK_TOUR_BUILT:-}" != "$b" ] || return 0
	if [ ! -f "$b/build.ninja" ]; then
		echo "== configuring $b (meson setup --buildtype=release)"
		log=$(mktemp)
		tour_rm "$log"
		meson setup "$b" --buildtype=release >"$log" 2>&1 || { cat "$log"; exit 1; }
	fi
	bt=$(sed -n 's/.*"name": "buildtype", "value": "\([a-z]*\)".*/\1/p' \
		"$b/meson-info/intro-buildoptions.json" 2>/dev/null)
	echo "== building the library, the examples and the bindings in $b (${bt:-?} build, ninja;"
	echo "   a first build compiles everything, later ones only what changed)"
	{ ninja -C "$b" 2>&1; echo "ninja-exit $?"; } | awk '
		{ line[NR] = $0 }
		/^\[[0-9]+\/[0-9]+\]/ {
			split(substr($1, 2), kn, "/"); k = kn[1] + 0; n = kn[2] + 0
			q = int(4 * k / n)
			if (q > shown) { shown = q; printf "   built %d of %d targets\n", k, n; fflush() }
		}
		/^ninja: no work to do/ { print "   up to date"; fflush() }
		END {
			if (line[NR] == "ninja-exit 0") exit 0
			for (i = 1; i < NR; i++) print line[i]
			exit 1
		}' || exit 1
	RK_TOUR_BUILT=$b
	export RK_TOUR_BUILT
}

# tour_backend DIR: which backend the rings of this run get, and why.
tour_backend() {
	if [ -x "$1/tools/ringkit-backend" ]; then
		echo "   backend: $("$1/tools/ringkit-backend")"
	fi
}

# What one tour's figures are worth.
tour_noise() {
	echo "   (one tour is not a measurement: best of a few runs on whatever else the machine is"
	echo "   doing, so a second tour can differ by tens of percent; repeated figures and how to"
	echo "   reproduce them: doc/benchmarks.md, doc/benchmarks-lua.md, doc/benchmarks-net.md)"
}
