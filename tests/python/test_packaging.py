"""What an installed ringkit offers a C user: `pkg-config --cflags --libs
ringkit` works with nothing but ringkit.pc on the search path (the library
links no liburing symbol, so liburing.pc is not required), and a program built
with those flags runs. Also: the LICENSE the build files declare exists and
is installed (share/doc/ringkit)."""
import os
import re
import shutil
import subprocess

import pytest

SRC = os.environ.get("RINGKIT_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("RINGKIT_BUILD")

PROGRAM = r"""
#include <ringkit.h>
#include <stdio.h>

int main(void)
{
	rk_ring *ring;
	int err = rk_ring_create(4, 0, &ring);
	if (err < 0) {
		fprintf(stderr, "%s\n", rk_strerror(err));
		return 1;
	}
	int64_t id = rk_prep_nop(ring, 0);
	rk_cqe cqe;
	int n = rk_reap(ring, &cqe, 1, 1, -1);
	rk_ring_close(ring);
	printf("%d %d\n", n, n == 1 && cqe.id == id ? cqe.res : -1);
	return 0;
}
"""


def test_license_is_the_declared_mit():
    with open(os.path.join(SRC, "LICENSE")) as f:
        text = f.read()
    assert text.startswith("MIT License") and "the ringkit authors" in text
    with open(os.path.join(SRC, "meson.build")) as f:
        assert re.search(r"license\s*:\s*'MIT'", f.read())
    with open(os.path.join(SRC, "bindings", "python", "pyproject.toml")) as f:
        assert 'license = {text = "MIT"}' in f.read()


@pytest.mark.skipif(not BUILD, reason="needs RINGKIT_BUILD (set by meson test)")
@pytest.mark.skipif(not shutil.which("pkg-config"), reason="needs pkg-config")
def test_pkg_config_needs_only_ringkit_pc(tmp_path):
    dest = tmp_path / "root"
    subprocess.run(["meson", "install", "-C", BUILD, "--destdir", str(dest), "--no-rebuild",
                    "--quiet"], check=True, capture_output=True, timeout=300)
    pcdirs = [r for r, _, files in os.walk(dest) if "ringkit.pc" in files]
    assert pcdirs
    assert any(r.endswith(os.path.join("share", "doc", "ringkit")) and "LICENSE" in files
               for r, _, files in os.walk(dest))
    with open(os.path.join(pcdirs[0], "ringkit.pc")) as f:
        assert "liburing" not in f.read()
    # PKG_CONFIG_LIBDIR replaces the default search path: liburing.pc, which
    # this machine has, is out of sight, as on a machine without liburing-dev.
    env = dict(os.environ, PKG_CONFIG_LIBDIR=pcdirs[0], PKG_CONFIG_SYSROOT_DIR=str(dest))
    env.pop("PKG_CONFIG_PATH", None)
    out = subprocess.run(["pkg-config", "--cflags", "--libs", "ringkit"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    flags = out.stdout.split()
    libdirs = [f[2:] for f in flags if f.startswith("-L")]
    assert "-lringkit" in flags and libdirs
    src = tmp_path / "p.c"
    src.write_text(PROGRAM)
    exe = tmp_path / "p"
    cc = os.environ.get("CC", "cc")
    sanitize = []
    if "libasan" in os.environ.get("LD_PRELOAD", ""):  # a -Db_sanitize=address build
        sanitize = ["-fsanitize=address,undefined"]
    out = subprocess.run([cc, "-std=c11", "-Wall", "-Werror"] + sanitize
                         + [str(src), "-o", str(exe)] + flags,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # The installed library is all it needs (no liburing.so, in the stage).
    run = subprocess.run([str(exe)], env=dict(os.environ, LD_LIBRARY_PATH=libdirs[0]),
                         capture_output=True, text=True, timeout=60)
    assert run.stdout.split() == ["1", "0"], run.stderr
    ldd = subprocess.run(["ldd", str(exe)], env=dict(os.environ, LD_LIBRARY_PATH=libdirs[0]),
                         capture_output=True, text=True)
    assert str(dest) in ldd.stdout and "liburing" not in ldd.stdout
