"""Runs pytest for meson test. An interpreter without pytest (a pyenv Python
with cffi 2.x, say) borrows Debian's pure-Python pytest and hypothesis, which
are installed for the same Python version."""
import sys

try:
    import pytest
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import pytest

sys.exit(pytest.main(sys.argv[1:]))
