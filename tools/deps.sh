#!/bin/sh
# Installs the Debian packages ringkit builds and tests with, only those that
# are missing, so a bare Debian 12 machine (as root) can run everything.
set -eu

PACKAGES="build-essential meson ninja-build pkg-config liburing-dev
python3 python3-dev python3-cffi python3-pytest python3-hypothesis python3-numpy python3-setuptools python3-pip python3-wheel
lua5.4 liblua5.4-dev luajit libffi-dev abigail-tools ruby groff-base luarocks
python3-uvloop python3-aiohttp libpython3.11-testsuite"

missing=""
for p in $PACKAGES; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
