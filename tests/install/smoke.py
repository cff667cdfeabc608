#!/usr/bin/env python3
"""The install test: `meson install --destdir` of a build into a temporary
root, then each audience's smoke test against that root's standard paths
only — no build-tree path, no RINGKIT_LIB — so a file without an install
rule fails here rather than on a user's machine.

  smoke.py BUILD_DIR    install the build into a temporary root, test that
  smoke.py --system     test what the Debian packages installed (tools/deb.sh)

The standard paths are the system tools' answers for the build's prefix,
re-rooted: pkg-config for the C library and lua5.4.pc's INSTALL_CMOD /
INSTALL_LMOD for Lua 5.4, Lua 5.1's tree for LuaJIT, man's MANPATH for the
pages, the interpreter's site directories under the prefix for Python, ruby's
$LOAD_PATH directory under the prefix for Ruby; and
`luarocks make` of bindings/lua's rockspec against the installed library. Exit 0 when every audience works, 1 with what failed.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

C_SMOKE = r"""
#include <ringkit.h>
#include <stdio.h>
int main(void)
{
	rk_ring *ring = NULL;
	int err = rk_ring_create(8, 0, &ring);
	if (err < 0) {
		printf("rk_ring_create: %s\n", rk_strerror(err));
		return 1;
	}
	int64_t id = rk_prep_nop(ring, 0);
	rk_cqe cqe;
	int n = rk_reap(ring, &cqe, 1, 1, -1);
	int ok = id >= 0 && n == 1 && cqe.id == id && cqe.res == 0;
	rk_ring_close(ring);
	printf("%s %u\n", ok ? "ok" : "bad", rk_version());
	return !ok;
}
"""

PY_SMOKE = r"""
import asyncio
import ringkit
from ringkit import aio
with ringkit.Ring(8) as ring:
    op = ring.nop()
    [(op_id, res, _flags)] = ring.reap(wait=1)
    assert op_id == op and res == 0, (op_id, res)
assert aio.run(asyncio.sleep(0, "done")) == "done"
print("ok", ringkit.__file__)
"""

RUBY_SMOKE = r"""
require "ringkit"
ring = Ringkit::Ring.new(8)
op = ring.nop
got = ring.reap(wait: 1)
raise "reaped #{got.inspect}" unless got == [[op, 0, 0]]
ring.close
puts "ok #{$LOADED_FEATURES.grep(/ringkit\.rb/).first}"
"""

LUA_SMOKE = r"""
local rk = require "ringkit"
local loop = require "ringkit.loop"
local ring = assert(rk.ring(8))
local id = assert(ring:nop())
local n, id1, res1 = ring:reap(8, 1)
assert(n == 1 and id1 == id and res1 == 0, "no completion for the nop")
assert(type(loop.new) == "function")
ring:close()
print("ok")
"""


def sh(cmd, env=None, cwd=None):
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def buildoptions(build):
    rc, out = sh(["meson", "introspect", build, "--buildoptions"])
    if rc:
        sys.exit("meson introspect: " + out)
    return {o["name"]: o["value"] for o in json.loads(out)}


def versions(build):
    """Every place a release names its version, which must agree: the
    project, the header, pyproject.toml, the rockspec, both changelogs."""
    import glob
    import re
    rc, out = sh(["meson", "introspect", build, "--projectinfo"])
    got = {"meson.build": json.loads(out)["version"]}
    with open(os.path.join(SRC, "include", "ringkit.h")) as f:
        h = dict(re.findall(r"#define RK_VERSION_(MAJOR|MINOR|PATCH) (\d+)", f.read()))
    got["ringkit.h"] = "%s.%s.%s" % (h["MAJOR"], h["MINOR"], h["PATCH"])
    with open(os.path.join(SRC, "bindings", "python", "pyproject.toml")) as f:
        got["pyproject.toml"] = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    for spec in glob.glob(os.path.join(SRC, "bindings", "lua", "ringkit-*.rockspec")):
        with open(spec) as f:
            v = re.search(r'^version = "([^"]+)-\d+"', f.read(), re.M).group(1)
        got[os.path.basename(spec)] = v
    with open(os.path.join(SRC, "debian", "changelog")) as f:
        got["debian/changelog"] = re.match(r"ringkit \(([^)-]+)", f.read()).group(1)
    with open(os.path.join(SRC, "CHANGELOG.md")) as f:
        got["CHANGELOG.md"] = re.search(r"^## (\S+)", f.read(), re.M).group(1)
    return got


def audiences(root, opts, docdir, rocks):
    """Each audience's smoke test against the files under root + prefix;
    returns the names of those that failed."""
    prefix = opts["prefix"]
    libdir = os.path.join(prefix, opts["libdir"])
    failures = []

    def at(path):  # a path of the prefix inside the root
        return root + path

    # Nothing of the build tree may leak in: a bare environment.
    work = tempfile.mkdtemp(prefix="rk-smoke-")
    base = {"PATH": "/usr/bin:/bin", "HOME": work, "LANG": "C.UTF-8"}

    def check(name, cmd, env, want="ok"):
        rc, out = sh(cmd, env=dict(base, **env), cwd=work)
        good = rc == 0 and out.splitlines()[-1:] and out.splitlines()[-1].startswith(want)
        print("%-8s %s%s" % (name, "ok" if good else "FAILED",
                             "" if good else ": " + out[-2000:]))
        if not good:
            failures.append(name)

    def fail(name, why):
        print("%-8s FAILED: %s" % (name, why))
        failures.append(name)

    libs = {"LD_LIBRARY_PATH": at(libdir)}
    try:
        # C: a program built with what pkg-config says of the installed ringkit.pc.
        pc = {"PKG_CONFIG_PATH": at(os.path.join(libdir, "pkgconfig")),
              "PKG_CONFIG_SYSROOT_DIR": root, "PKG_CONFIG_LIBDIR": "/nonexistent"}
        rc, flags = sh(["pkg-config", "--cflags", "--libs", "ringkit"], env=dict(base, **pc))
        src = os.path.join(work, "smoke.c")
        with open(src, "w") as f:
            f.write(C_SMOKE)
        if rc:
            fail("C", "pkg-config: " + flags)
        else:
            rc, out = sh(["cc", "-o", os.path.join(work, "smoke"), src] + flags.split())
            if rc:
                fail("C", "cc: " + out)
            else:
                check("C", [os.path.join(work, "smoke")], libs)

        # Man pages: found where man looks under the prefix.
        man = {"MANPATH": at(os.path.join(prefix, opts["mandir"]))}
        for page in (["3", "rk_reap"], ["7", "ringkit"]):
            rc, out = sh(["man", "-w"] + page, env=dict(base, **man))
            if rc or not out.startswith(at(prefix)):
                fail("man" + page[0], out)
            else:
                print("%-8s ok" % ("man" + page[0]))
        for f in ("README.md", "api.md", "examples/cp/cp.c"):
            path = os.path.join(at(docdir), f)
            if not os.path.isfile(path) and not os.path.isfile(path + ".gz"):  # dh_compress
                fail("doc", "no %s in %s" % (f, at(docdir)))

        # Python: the interpreter's own site directories under the prefix.
        py = opts.get("python") or "/usr/bin/python3"
        if py != "disabled":
            rc, out = sh([py, "-c", "import sys; print('\\n'.join(sys.path))"])
            sites = [at(d) for d in out.split("\n")
                     if d.startswith(prefix + os.sep) and d.endswith("-packages")]
            check("python", [py, "-c", PY_SMOKE],
                  dict(libs, PYTHONPATH=os.pathsep.join(sites), PYTHONNOUSERSITE="1",
                       PYTHONDONTWRITEBYTECODE="1"))

        # Ruby: the directory of ruby's own $LOAD_PATH under the prefix.
        if opts.get("ruby") != "disabled" and shutil.which("ruby"):
            rc, rdir = sh(["ruby", os.path.join(SRC, "bindings", "ruby", "sitedir.rb"), prefix])
            check("ruby", ["ruby", "-e", RUBY_SMOKE], dict(libs, RUBYLIB=at(rdir.strip())))

        # Lua 5.4: the directories lua5.4.pc names for this prefix.
        if opts.get("lua") != "disabled" and shutil.which("lua5.4"):
            def luavar(v):
                return sh(["pkg-config", "--define-variable=prefix=" + prefix,
                           "--variable=" + v, "lua5.4"])[1]
            lua = dict(libs, LUA_CPATH=at(luavar("INSTALL_CMOD")) + "/?.so",
                       LUA_PATH=at(luavar("INSTALL_LMOD")) + "/?.lua")
            check("lua5.4", ["lua5.4", "-e", LUA_SMOKE], lua)
            host = at(os.path.join(prefix, opts["bindir"], "ringkit-lua-host"))
            script = os.path.join(work, "host.lua")
            with open(script, "w") as f:
                f.write(LUA_SMOKE)
            check("lua-host", [host, script], {"LUA_PATH": "", "LUA_CPATH": ""})
            # The rockspec: luarocks builds the C module against the installed
            # library (from a copy: the builtin backend compiles in place).
            if rocks and shutil.which("luarocks"):
                src = os.path.join(work, "rocksrc")
                shutil.copytree(os.path.join(SRC, "bindings", "lua"), src)
                tree = os.path.join(work, "rocks")
                rc, out = sh(["luarocks", "--lua-version=5.4", "make", "--tree=" + tree,
                              "RINGKIT_DIR=" + at(prefix)], env=dict(base), cwd=src)
                if rc:
                    fail("luarocks", out[-2000:])
                else:
                    check("luarocks", ["lua5.4", "-e", LUA_SMOKE],
                          dict(libs, LUA_CPATH=tree + "/lib/lua/5.4/?.so",
                               LUA_PATH=tree + "/share/lua/5.4/?.lua"))
        if opts.get("lua") != "disabled" and shutil.which("luajit"):
            jit = dict(libs, LUA_CPATH="",
                       LUA_PATH=at(os.path.join(prefix, opts["datadir"], "lua", "5.1")) + "/?.lua")
            check("luajit", ["luajit", "-e", LUA_SMOKE], jit)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return failures


def main(argv):
    if len(argv) == 2 and argv[1] == "--system":
        # The installed Debian packages (tools/deb.sh --install).
        rc, arch = sh(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"])
        opts = {"prefix": "/usr", "libdir": "lib/" + arch, "mandir": "share/man",
                "datadir": "share", "bindir": "bin", "python": "/usr/bin/python3",
                "ruby": "disabled"}  # no Debian package of the Ruby binding yet
        failures = audiences("", opts, "/usr/share/doc/libringkit-dev", rocks=False)
    elif len(argv) == 2:
        build = os.path.abspath(argv[1])
        opts = buildoptions(build)
        failures = []
        v = versions(build)
        if len(set(v.values())) != 1:
            print("versions FAILED: %s" % v)
            failures.append("versions")
        root = tempfile.mkdtemp(prefix="rk-install-")
        try:
            rc, out = sh(["meson", "install", "-C", build, "--destdir", root, "--no-rebuild",
                          "--quiet"])
            if rc:
                print(out)
                return 1
            docdir = os.path.join(opts["prefix"], opts["datadir"], "doc", "ringkit")
            failures += audiences(root, opts, docdir, rocks=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    else:
        sys.exit(__doc__)
    if failures:
        print("failed: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
