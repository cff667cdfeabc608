"""Builds the cffi extension ringkit._ringkit (API mode, out of line).

The cdef is derived from include/ringkit.h itself, so the binding can never
drift from the C ABI: comments and preprocessor lines are dropped, RK_API is
removed and every integer #define RK_* becomes a cffi constant whose value the
compiler takes from the header.

Two ways in:
  * meson runs `python3 build_ffi.py HEADER OUT.c` and compiles OUT.c itself
    against the libringkit it just built;
  * setup.py (pip install) imports `ffibuilder`, which finds the installed
    header (RINGKIT_INCLUDE, pkg-config, the usual prefixes) and library
    (RINGKIT_LIBDIR, pkg-config, the linker's default path).
"""
import os
import re
import shutil
import subprocess
import sys

import cffi

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_INT_DEFINE = re.compile(r"#define\s+(RK_[A-Z0-9_]+)\s+\(?\s*-?(0x[0-9a-fA-F]+|\d+)u?"
                         r"(\s*<<\s*\d+)?\s*\)?\s*$")


def cdef_from_header(text):
    """Turns ringkit.h into declarations cffi's parser accepts."""
    text = _COMMENT.sub("", text)
    decls, consts = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            m = _INT_DEFINE.match(stripped)
            if m and not m.group(1).startswith("RK_API") and m.group(1) != "RINGKIT_H":
                consts.append("#define %s ..." % m.group(1))
            continue
        if stripped == 'extern "C" {':
            continue
        decls.append(line.replace("RK_API ", ""))
    return "\n".join(consts) + "\n" + _balanced("\n".join(decls))


def _balanced(cdef):
    # Drops a trailing unmatched "}" left by `extern "C" { ... }`.
    depth = 0
    out = []
    for ch in cdef:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                continue
            depth -= 1
        out.append(ch)
    return "".join(out)


def find_header():
    """ringkit.h: RINGKIT_INCLUDE, else pkg-config's -I (or its includedir),
    else the checkout this file is in, /usr/local/include, /usr/include."""
    env = os.environ.get("RINGKIT_INCLUDE")
    candidates = [env] if env else []
    candidates += _pkg_config_dirs("--cflags-only-I", "-I")
    if shutil.which("pkg-config"):
        candidates.append(subprocess.run(["pkg-config", "--variable=includedir", "ringkit"],
                                         capture_output=True, text=True).stdout.strip())
    here = os.path.dirname(os.path.abspath(__file__))
    candidates += [os.path.join(here, "..", "..", "include"), "/usr/local/include", "/usr/include"]
    for d in candidates:
        if d and os.path.exists(os.path.join(d, "ringkit.h")):
            return os.path.join(d, "ringkit.h")
    raise RuntimeError("ringkit.h not found: install libringkit (ninja -C build install), "
                       "point PKG_CONFIG_PATH at the directory of its ringkit.pc, or set "
                       "RINGKIT_INCLUDE")


# Binding-side helpers compiled into the extension: loops that would cost a
# Python-level call per op. They use only the public ABI.
_HELPERS_CDEF = """
int rkpy_prep_chunks(rk_ring *ring, int write, int fd, rk_region *region,
                     const int32_t *chunks, const int64_t *offsets, uint32_t n,
                     uint32_t len, uint32_t flags, int64_t *ids);
"""

_HELPERS_SRC = r"""
#include <ringkit.h>

/* Queues n chunk reads (or writes): chunks[i] at offsets[i]. Stops at the
 * first refusal like rk_prep_batch: returns how many were queued, ids[k]
 * holding the refused op's negative errno. */
static int rkpy_prep_chunks(rk_ring *ring, int write, int fd, rk_region *region,
                            const int32_t *chunks, const int64_t *offsets, uint32_t n,
                            uint32_t len, uint32_t flags, int64_t *ids)
{
	for (uint32_t i = 0; i < n; i++) {
		ids[i] = write ? rk_prep_write_chunk(ring, fd, region, chunks[i], len, offsets[i], flags)
		               : rk_prep_read_chunk(ring, fd, region, chunks[i], len, offsets[i], flags);
		if (ids[i] < 0)
			return (int)i;
	}
	return (int)n;
}
"""


def make_builder(header, **source_kw):
    with open(header) as f:
        cdef = cdef_from_header(f.read())
    builder = cffi.FFI()
    builder.cdef(cdef + _HELPERS_CDEF)
    builder.set_source("ringkit._ringkit", _HELPERS_SRC, **source_kw)
    return builder


def _pkg_config_dirs(option, prefix):
    """The directories `pkg-config OPTION ringkit` names (-I or -L), or []
    when pkg-config or ringkit.pc is missing."""
    if not shutil.which("pkg-config"):
        return []
    try:
        flags = subprocess.run(["pkg-config", option, "ringkit"], capture_output=True,
                               text=True, check=True).stdout
    except subprocess.CalledProcessError:
        return []
    return [f[len(prefix):] for f in flags.split() if f.startswith(prefix)]


def find_libdirs():
    """Where libringkit.so is: RINGKIT_LIBDIR, else the -L of pkg-config (none
    when ringkit is installed in a directory the linker searches anyway)."""
    env = os.environ.get("RINGKIT_LIBDIR")
    return [env] if env else _pkg_config_dirs("--libs-only-L", "-L")


def pip_build_options():
    """Compiler and linker options for extensions built against an installed
    libringkit (the cffi module, ringkit._aioloop and ringkit._vector): the
    header from find_header(), -lringkit with the search path and rpath of
    find_libdirs()."""
    inc = os.path.dirname(find_header())
    kw = {"libraries": ["ringkit"], "include_dirs": [inc]}
    libdirs = find_libdirs()
    if libdirs:
        kw["library_dirs"] = libdirs
        kw["runtime_library_dirs"] = libdirs
    return kw


def _pip_builder():
    return make_builder(find_header(), **pip_build_options())


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: build_ffi.py include/ringkit.h OUT.c")
    make_builder(sys.argv[1]).emit_c_code(sys.argv[2])
else:
    ffibuilder = _pip_builder() if os.environ.get("RINGKIT_NO_PIP_BUILDER") is None else None
