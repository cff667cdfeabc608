"""pip install against an installed libringkit: the cffi extension is built
from the installed ringkit.h (found through RINGKIT_INCLUDE, pkg-config or
/usr/local/include) and linked with -lringkit (RINGKIT_LIBDIR adds a search
path and an rpath); ringkit._aioloop (asyncio's hot path) and ringkit._vector likewise."""
import os
import sys

from setuptools import Extension, setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_ffi import pip_build_options  # noqa: E402

opts = pip_build_options()
setup(cffi_modules=["build_ffi.py:ffibuilder"],
      ext_modules=[Extension("ringkit._aioloop", ["aioloop.c"], **opts),
                   Extension("ringkit._vector", ["vector.c"], **opts)])
