#!/bin/sh
# Builds the Debian packages (libringkit0, libringkit-dev, python3-ringkit,
# lua-ringkit) from this checkout's files with dpkg-buildpackage in a scratch
# copy, checks them with lintian (no warning or error may remain), and with
# --install installs them with apt and runs every audience's smoke test
# against the installed packages only (tests/install/smoke.py --system).
#   sh tools/deb.sh [--install]        (as root on Debian 12; takes minutes)
# The .deb files land in build-deb/.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
install=0
[ "${1:-}" = "--install" ] && install=1

need="build-essential debhelper dh-python lintian meson ninja-build pkg-config liburing-dev
python3-all-dev python3-cffi liblua5.4-dev lua5.4 groff-base"
missing=""
for p in $need; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

work=$(mktemp -d /tmp/rk-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/ringkit"
# The checkout's files as they are now (tracked and new, not ignored), no build dirs.
git ls-files -co --exclude-standard -z | (cd "$top" && xargs -0 cp --parents -t "$work/ringkit")
(cd "$work/ringkit" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || {
	tail -50 "$work/build.log"; echo "dpkg-buildpackage failed (log above)"; exit 1; }
rm -rf build-deb && mkdir build-deb
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo build-deb/
ls build-deb/*.deb
echo "== lintian"
lintian --fail-on error,warning --info build-deb/*.changes
echo "lintian: no warnings"
if [ "$install" = 1 ]; then
	echo "== apt install ./build-deb/*.deb"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./build-deb/*.deb >/dev/null
	python3 tests/install/smoke.py --system
fi
