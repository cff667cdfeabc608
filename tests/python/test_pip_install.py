"""pip installs the binding from bindings/python against an installed
libringkit (meson install into a scratch prefix) and the result works."""
import os
import shutil
import subprocess
import sys

import pytest

SRC = os.environ.get("RINGKIT_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("RINGKIT_BUILD")


@pytest.mark.skipif(not BUILD, reason="needs RINGKIT_BUILD (set by meson test)")
def test_pip_install_against_installed_library(tmp_path):
    pytest.importorskip("pip")
    # Building needs bdist_wheel (setuptools >= 70.1 or the wheel package);
    # probed in a child: importing setuptools here would upset pytest.
    probe = subprocess.run([sys.executable, "-c", "try:\n import setuptools.command.bdist_wheel\n"
                            "except ImportError:\n import wheel"], capture_output=True)
    if probe.returncode:
        pytest.skip("this interpreter has no bdist_wheel and PyPI is out of reach")
    dest = tmp_path / "root"
    subprocess.run(["meson", "install", "-C", BUILD, "--destdir", str(dest), "--no-rebuild",
                    "--quiet"], check=True, capture_output=True, timeout=300)
    headers = [os.path.join(r) for r, _, files in os.walk(dest) if "ringkit.h" in files]
    libs = [r for r, _, files in os.walk(dest) if "libringkit.so" in files]
    assert headers and libs
    env = dict(os.environ, RINGKIT_INCLUDE=headers[0], RINGKIT_LIBDIR=libs[0],
               PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    # Build from a copy: setuptools writes build/ and *.egg-info into the tree.
    src = tmp_path / "src"
    shutil.copytree(os.path.join(SRC, "bindings", "python"), src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                          "--no-deps", "--target", str(target),
                          str(src)],
                         env=env, capture_output=True, text=True, timeout=600)
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
