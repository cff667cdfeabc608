#!/usr/bin/env python3
"""The install test: `meson install --destdir` of a build into a temporary
root, then each audience's smoke test against that root's standard paths
only — no build-tree path, no RINGKIT_LIB — so a file without an install
rule fails here rather than on a user's machine.

  smoke.py BUILD_DIR

The standard paths are the system tools' answers for the build's prefix,
re-rooted: pkg-config for the C library and lua5.4.pc's INSTALL_CMOD /
INSTALL_LMOD for Lua 5.4, Lua 5.1's tree for LuaJIT, man's MANPATH for the
pages, the interpreter's site directories under the prefix for Python; and
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
    project, the header, pyproject.toml, the rockspec, the changelog."""
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
    with open(os.path.join(SRC, "CHANGELOG.md")) as f:
        got["CHANGELOG.md"] = re.search(r"^## (\S+)", f.read(), re.M).group(1)
    return got


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    build = os.path.abspath(argv[1])
    opts = buildoptions(build)
    prefix = opts["prefix"]
    libdir = os.path.join(prefix, opts["libdir"])
    root = tempfile.mkdtemp(prefix="rk-install-")
    failures = []
    v = versions(build)
    if len(set(v.values())) != 1:
        print("versions FAILED: %s" % v)
        failures.append("versions")

    def at(path):  # a path of the prefix inside the root
        return root + path

    try:
        rc, out = sh(["meson", "install", "-C", build, "--destdir", root, "--no-rebuild",
                      "--quiet"])
        if rc:
            print(out)
            return 1
        # Nothing of the build tree may leak in: a bare environment.
        base = {"PATH": "/usr/bin:/bin", "HOME": root, "LANG": "C.UTF-8"}
        work = os.path.join(root, "work")
        os.mkdir(work)

        def check(name, cmd, env, want="ok"):
            rc, out = sh(cmd, env=dict(base, **env), cwd=work)
            good = rc == 0 and out.splitlines()[-1:] and out.splitlines()[-1].startswith(want)
            print("%-8s %s%s" % (name, "ok" if good else "FAILED",
                                 "" if good else ": " + out[-2000:]))
            if not good:
                failures.append(name)

        libs = {"LD_LIBRARY_PATH": at(libdir)}

        # C: a program built with what pkg-config says of the installed ringkit.pc.
        pc = {"PKG_CONFIG_PATH": at(os.path.join(libdir, "pkgconfig")),
              "PKG_CONFIG_SYSROOT_DIR": root, "PKG_CONFIG_LIBDIR": "/nonexistent"}
        rc, flags = sh(["pkg-config", "--cflags", "--libs", "ringkit"], env=dict(base, **pc))
        src = os.path.join(work, "smoke.c")
        with open(src, "w") as f:
            f.write(C_SMOKE)
        if rc:
            print("C        FAILED: pkg-config: " + flags)
            failures.append("C")
        else:
            rc, out = sh(["cc", "-o", os.path.join(work, "smoke"), src] + flags.split())
            if rc:
                print("C        FAILED: cc: " + out)
                failures.append("C")
            else:
                check("C", [os.path.join(work, "smoke")], libs)

        # Man pages: found where man looks under the prefix.
        man = {"MANPATH": at(os.path.join(prefix, opts["mandir"]))}
        for page in (["3", "rk_reap"], ["7", "ringkit"]):
            rc, out = sh(["man", "-w"] + page, env=dict(base, **man))
            good = rc == 0 and out.startswith(root)
            print("man %-4s %s" % (page[1][:4], "ok" if good else "FAILED: " + out))
            if not good:
                failures.append("man " + page[1])
        doc = at(os.path.join(prefix, opts["datadir"], "doc", "ringkit"))
        for f in ("README.md", "api.md", "examples/cp/cp.c"):
            if not os.path.isfile(os.path.join(doc, f)):
                print("doc      FAILED: no %s in %s" % (f, doc))
                failures.append("doc " + f)

        # Python: the interpreter's own site directories under the prefix.
        py = opts.get("python") or "/usr/bin/python3"
        if py != "disabled":
            rc, out = sh([py, "-c", "import sys; print('\\n'.join(sys.path))"])
            sites = [at(d) for d in out.split("\n")
                     if d.startswith(prefix + os.sep) and d.endswith("-packages")]
            check("python", [py, "-c", PY_SMOKE],
                  dict(libs, PYTHONPATH=os.pathsep.join(sites), PYTHONNOUSERSITE="1",
                       PYTHONDONTWRITEBYTECODE="1"))

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
            rocks = shutil.which("luarocks")
            if rocks:
                src = os.path.join(root, "rocksrc")
                shutil.copytree(os.path.join(SRC, "bindings", "lua"), src)
                tree = os.path.join(root, "rocks")
                rc, out = sh([rocks, "--lua-version=5.4", "make", "--tree=" + tree,
                              "RINGKIT_DIR=" + at(prefix)], env=dict(base), cwd=src)
                if rc:
                    print("luarocks FAILED: " + out[-2000:])
                    failures.append("luarocks")
                else:
                    check("luarocks", ["lua5.4", "-e", LUA_SMOKE],
                          dict(libs, LUA_CPATH=tree + "/lib/lua/5.4/?.so",
                               LUA_PATH=tree + "/share/lua/5.4/?.lua"))
        if opts.get("lua") != "disabled" and shutil.which("luajit"):
            jit = dict(libs, LUA_CPATH="",
                       LUA_PATH=at(os.path.join(prefix, opts["datadir"], "lua", "5.1")) + "/?.lua")
            check("luajit", ["luajit", "-e", LUA_SMOKE], jit)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if failures:
        print("failed: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
