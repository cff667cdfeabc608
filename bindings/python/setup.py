"""pip install against an installed libringkit: the cffi extension is built
from the installed ringkit.h (found through RINGKIT_INCLUDE, pkg-config or
/usr/local/include) and linked with -lringkit (RINGKIT_LIBDIR adds a search
path and an rpath)."""
from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])
