"""CPython's policy-driven asyncio test files (streams, locks, queues, task
groups, timeouts, wait_for, subprocesses, SSL) with ringkit's
EventLoopPolicy installed: every test that passes on asyncio's default loop
must pass on ours. Each file runs twice in a child pytest, once per loop."""
import os
import re
import subprocess
import sys

import pytest

MODULES = ["streams", "locks", "queues", "taskgroups", "timeouts", "waitfor", "subprocess", "ssl"]
_HERE = os.path.dirname(os.path.abspath(__file__))


def _suite_dir():
    try:
        import test.test_asyncio as t
    except ImportError:
        pytest.skip("CPython's test suite is not installed (libpython3-testsuite)")
    return os.path.dirname(t.__file__)


def _run(path, ours):
    # run_pytest.py finds pytest for an interpreter that lacks its own.
    cmd = [sys.executable, os.path.join(_HERE, "run_pytest.py"), "-q", "-rA",
           "-p", "no:cacheprovider", path]
    env = dict(os.environ)
    # The child runs in the suite's directory: the paths must not be relative.
    paths = [os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if ours:
        cmd[3:3] = ["-p", "ringkit_policy_plugin"]
        paths.insert(0, _HERE)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600,
                         cwd=os.path.dirname(path))
    passed = set(re.findall(r"^PASSED (\S+)", out.stdout, re.M))
    made = re.search(r"ringkit EventLoops made: (\d+)", out.stdout)
    return passed, int(made.group(1)) if made else 0, (out.stdout + out.stderr)[-3000:]


@pytest.mark.parametrize("name", MODULES)
def test_module_passes_on_ringkit_loop(name):
    path = os.path.join(_suite_dir(), "test_%s.py" % name)
    ref, _, _ = _run(path, ours=False)
    ours, made, tail = _run(path, ours=True)
    assert ref, "no test passed on the default loop:\n" + tail
    assert made > 0, "the policy did not take effect:\n" + tail
    missing = sorted(ref - ours)
    assert not missing, "pass on asyncio's loop, not on ringkit's: %s\n%s" % (missing, tail)
