#!/bin/sh
# Runs an example server (examples/lua/http.lua, echo.lua) on a free port,
# drives it with a client script, stops it with SIGINT and checks that it
# exits cleanly (status 0, "bye"); then checks that the SECONDS argument
# stops it by itself.
#   sh server_test.sh INTERPRETER SERVER.lua CLIENT.lua
set -u
interp=$1 server=$2 client=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT

fail() {
	echo "server_test: $*"
	echo "--- server output:"
	cat "$out"
	[ -n "${pid:-}" ] && kill -KILL "$pid" 2>/dev/null
	exit 1
}

# waits up to $2 tenths of a second for process $1 to exit
wait_exit() {
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -gt "$2" ] && return 1
		sleep 0.1
	done
	return 0
}

# Port 0: the kernel picks a free port; the server prints it.
"$interp" "$server" 0 >"$out" 2>&1 &
pid=$!
port=
i=0
while [ -z "$port" ]; do
	port=$(sed -n 's|^listening on [^0-9]*127\.0\.0\.1:\([0-9][0-9]*\)/*$|\1|p' "$out")
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || fail "the server exited before listening"
	i=$((i + 1))
	[ "$i" -gt 100 ] && fail "the server did not say where it listens"
	sleep 0.1
done

"$interp" "$client" "$port" || fail "the client failed"

kill -INT "$pid"
wait_exit "$pid" 100 || fail "SIGINT did not stop the server"
wait "$pid"
status=$?
pid=
[ "$status" -eq 0 ] || fail "exit status $status after SIGINT"
grep -q '^stopping: signal 2$' "$out" || fail "no 'stopping: signal 2'"
grep -q '^bye$' "$out" || fail "no clean exit ('bye')"
cat "$out"

# With SECONDS it stops by itself.
"$interp" "$server" 0 0.3 >"$out" 2>&1 &
pid=$!
wait_exit "$pid" 100 || fail "did not stop after 0.3 s"
wait "$pid"
status=$?
pid=
[ "$status" -eq 0 ] || fail "exit status $status after the timeout"
grep -q '^bye$' "$out" || fail "no clean exit after the timeout"
echo "server_test: ok"
