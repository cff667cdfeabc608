"""pip install against an installed libringkit: the cffi extension is built
from the installed ringkit.h (RINGKIT_INCLUDE, else pkg-config's -I, else
/usr/local/include) and linked with -lringkit (RINGKIT_LIBDIR, else
pkg-config's -L, as search path and rpath); ringkit._aioloop (asyncio's hot
path), ringkit._loopcore (the event loop's pass) and ringkit._vector likewise. Offline: pip install --no-build-isolation
(see README.md, "Getting it")."""
import os
import sys

from setuptools import Extension, setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_ffi import pip_build_options  # noqa: E402

opts = pip_build_options()
setup(cffi_modules=["build_ffi.py:ffibuilder"],
      ext_modules=[Extension("ringkit._aioloop", ["aioloop.c", "stream.c"],
                             depends=["capi.h", "aioloop.h"], **opts),
                   Extension("ringkit._loopcore", ["loopcore.c"]),
                   Extension("ringkit._vector", ["vector.c"], depends=["capi.h"], **opts)])
