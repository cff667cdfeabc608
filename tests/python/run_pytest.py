"""Runs pytest for meson test. An interpreter without pytest (a pyenv Python
with cffi 2.x, say) borrows Debian's pure-Python pytest and hypothesis, which
are installed for the same Python version. A file whose tests were all
skipped exits 77, so meson reports SKIP rather than a pass."""
import sys

try:
    import pytest
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import pytest


class Outcomes:
    def __init__(self):
        self.passed = self.skipped = 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and report.passed:
            self.passed += 1
        elif report.skipped:
            self.skipped += 1


outcomes = Outcomes()
code = pytest.main(sys.argv[1:], plugins=[outcomes])
if code == 0 and outcomes.passed == 0 and outcomes.skipped:
    code = 77
sys.exit(code)
