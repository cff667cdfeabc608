"""pip installs the binding from bindings/python against an installed
libringkit (meson install into a scratch prefix) and the result works: offline
(--no-build-isolation, no index), finding the header and the library through
ringkit.pc alone, without liburing's .pc; RINGKIT_INCLUDE/RINGKIT_LIBDIR
override pkg-config."""
import json
import os
import shutil
import subprocess
import sys

import pytest

SRC = os.environ.get("RINGKIT_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("RINGKIT_BUILD")


def _needs_pip_build():
    pytest.importorskip("pip")
    # Building needs bdist_wheel (setuptools >= 70.1 or the wheel package);
    # probed in a child: importing setuptools here would upset pytest.
    probe = subprocess.run([sys.executable, "-c", "try:\n import setuptools.command.bdist_wheel\n"
                            "except ImportError:\n import wheel"], capture_output=True)
    if probe.returncode:
        pytest.skip("this interpreter has no bdist_wheel and PyPI is out of reach")


def _source_copy(tmp_path):
    """bindings/python copied: setuptools writes build/ and *.egg-info into
    the tree."""
    src = tmp_path / "src"
    shutil.copytree(os.path.join(SRC, "bindings", "python"), src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    return src


def _clean_env(**extra):
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    for var in ("PYTHONPATH", "PKG_CONFIG_PATH", "RINGKIT_INCLUDE", "RINGKIT_LIBDIR"):
        env.pop(var, None)
    return env


def _staged(tmp_path):
    """meson install of the build into a scratch root; an environment in
    which only the staged ringkit.pc is visible (no liburing.pc, as on a
    machine without liburing-dev) and the sysroot maps its /usr/local/...
    paths into the stage, so nothing but pkg-config tells the build where
    things are."""
    dest = tmp_path / "root"
    subprocess.run(["meson", "install", "-C", BUILD, "--destdir", str(dest), "--no-rebuild",
                    "--quiet"], check=True, capture_output=True, timeout=300)
    pcdirs = [r for r, _, files in os.walk(dest) if "ringkit.pc" in files]
    assert pcdirs
    return _clean_env(PKG_CONFIG_LIBDIR=pcdirs[0], PKG_CONFIG_SYSROOT_DIR=str(dest))


def _pip(*args, env, timeout=600):
    return subprocess.run([sys.executable, "-m", "pip"] + list(args), env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(not BUILD, reason="needs RINGKIT_BUILD (set by meson test)")
def test_pip_install_against_installed_library(tmp_path):
    _needs_pip_build()
    env = _staged(tmp_path)
    src = _source_copy(tmp_path)
    target = tmp_path / "site"
    out = _pip("install", "--no-build-isolation", "--no-deps", "--target", str(target), str(src),
               env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    check = ("import ringkit, sys\n"
             "assert ringkit.__file__.startswith(sys.argv[1]), ringkit.__file__\n"
             "with ringkit.Ring(4) as r:\n"
             "    op = r.nop()\n"
             "    assert r.reap(wait=1) == [(op, 0, 0)]\n"
             "import asyncio, os\n"
             "from ringkit import aio\n"
             "async def main():\n"
             "    fd = os.open(sys.argv[2], os.O_RDONLY)\n"
             "    buf = bytearray(4)\n"
             "    n = await aio.read(fd, buf, 0)\n"
             "    os.close(fd)\n"
             "    return bytes(buf[:n])\n"
             "assert asyncio.run(main()) == b'\"\"\"p'\n"
             "print('ok')\n")
    env["PYTHONPATH"] = str(target)
    out = subprocess.run([sys.executable, "-c", check, str(target), os.path.abspath(__file__)],
                         env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.stdout.strip() == "ok", out.stderr
    assert any(f.startswith("_aioloop") for f in os.listdir(target / "ringkit"))


@pytest.mark.skipif(not BUILD, reason="needs RINGKIT_BUILD (set by meson test)")
def test_pip_wheel_install_and_uninstall(tmp_path):
    """pip wheel offline; the wheel installs into a prefix and works there;
    pip uninstall takes every file it installed away again."""
    _needs_pip_build()
    env = _staged(tmp_path)
    src = _source_copy(tmp_path)
    wheels = tmp_path / "wheels"
    out = _pip("wheel", "--no-build-isolation", "--no-deps", "-w", str(wheels), str(src), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    [whl] = [w for w in os.listdir(wheels) if w.endswith(".whl")]
    assert whl.startswith("ringkit-") and "linux" in whl, whl
    prefix = tmp_path / "prefix"
    out = _pip("install", "--no-deps", "--prefix", str(prefix), str(wheels / whl), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    [site] = [r for r, dirs, _ in os.walk(prefix) if "ringkit" in dirs]
    env["PYTHONPATH"] = site
    out = subprocess.run([sys.executable, "-c", "import ringkit, sys\n"
                          "assert ringkit.__file__.startswith(sys.argv[1]), ringkit.__file__\n"
                          "from ringkit import aio\n"
                          "with ringkit.Ring(4) as r:\n"
                          "    op = r.nop()\n"
                          "    assert r.reap(wait=1) == [(op, 0, 0)]\n"
                          "print('ok')\n", site],
                         env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.stdout.strip() == "ok", out.stderr
    # Debian's pip guards the system's site directories (PEP 668) also when
    # the one to change is a scratch prefix on PYTHONPATH: say it is meant.
    out = _pip("uninstall", "-y", "ringkit", env=dict(env, PIP_BREAK_SYSTEM_PACKAGES="1"))
    assert out.returncode == 0, out.stdout + out.stderr
    left = [os.path.join(r, f) for r, _, files in os.walk(prefix) for f in files]
    assert left == [], left


def test_pip_install_without_library_names_what_is_missing(tmp_path):
    """No ringkit.pc, no RINGKIT_INCLUDE, no installed header: the build stops
    with a message that says what to install or set, not a compiler error."""
    _needs_pip_build()
    if any(os.path.exists(os.path.join(d, "ringkit.h"))
           for d in ("/usr/local/include", "/usr/include")):
        pytest.skip("a ringkit.h is installed on this machine")
    empty = tmp_path / "nopc"
    empty.mkdir()
    env = _clean_env(PKG_CONFIG_LIBDIR=str(empty))
    src = _source_copy(tmp_path)
    out = _pip("install", "--no-build-isolation", "--no-deps", "--target", str(tmp_path / "t"),
               str(src), env=env)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "ringkit.h not found" in text and "PKG_CONFIG_PATH" in text, text[-3000:]


def _build_options(env, **extra):
    """build_ffi.pip_build_options() in a child with env + extra."""
    code = ("import json, sys\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "import build_ffi\n"
            "print(json.dumps(build_ffi.pip_build_options()))\n")
    env = dict(env, RINGKIT_NO_PIP_BUILDER="1", **extra)
    out = subprocess.run([sys.executable, "-c", code, os.path.join(SRC, "bindings", "python")],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(not shutil.which("pkg-config"), reason="needs pkg-config")
def test_build_options_from_pkg_config_and_overrides(tmp_path):
    prefix = tmp_path / "prefix"
    (prefix / "include").mkdir(parents=True)
    (prefix / "include" / "ringkit.h").write_text("/* stand-in */\n")
    (prefix / "pc").mkdir()
    (prefix / "pc" / "ringkit.pc").write_text(
        "prefix=%s\nincludedir=${prefix}/include\nlibdir=${prefix}/lib/x86_64-linux-gnu\n"
        "Name: ringkit\nDescription: x\nVersion: 0.2.0\n"
        "Libs: -L${libdir} -lringkit\nCflags: -I${includedir}\n" % prefix)
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(prefix / "pc"))
    for var in ("PKG_CONFIG_PATH", "RINGKIT_INCLUDE", "RINGKIT_LIBDIR"):
        env.pop(var, None)
    libdir = str(prefix / "lib" / "x86_64-linux-gnu")
    opts = _build_options(env)
    assert opts["include_dirs"] == [str(prefix / "include")]
    assert opts["library_dirs"] == [libdir] and opts["runtime_library_dirs"] == [libdir]
    assert opts["libraries"] == ["ringkit"]
    # RINGKIT_LIBDIR wins over pkg-config's -L.
    opts = _build_options(env, RINGKIT_LIBDIR="/opt/rk/lib")
    assert opts["library_dirs"] == ["/opt/rk/lib"]
    assert opts["runtime_library_dirs"] == ["/opt/rk/lib"]
