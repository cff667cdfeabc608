"""Shared fixtures: a ring closed after each test, scratch files, fd counts."""
import os
import socket

import pytest

import ringkit


@pytest.fixture
def ring():
    r = ringkit.Ring(64)
    yield r
    r.close()


@pytest.fixture
def datafile(tmp_path):
    """A 64 KiB file of known bytes: (path, data)."""
    data = bytes(range(256)) * 256
    p = tmp_path / "data.bin"
    p.write_bytes(data)
    return p, data


def complete(ring, *ids, timeout=10.0):
    """Reaps until every id in ids has its final completion. Returns
    {id: (res, flags)} of the final ones and keeps multishot records (with
    CQE_F_MORE) in {id: [...]} under the key "more"."""
    want = set(ids)
    done, more = {}, {}
    while want - done.keys():
        recs = ring.reap(wait=1, timeout=timeout)
        assert recs, "no completion within %ss for %s" % (timeout, want - done.keys())
        for op_id, res, flags in recs:
            if flags & ringkit.CQE_F_MORE:
                more.setdefault(op_id, []).append((res, flags))
            else:
                assert op_id not in done, "two final completions for %d" % op_id
                done[op_id] = (res, flags)
    done["more"] = more
    return done


def result(ring, op_id, timeout=10.0):
    """The final result of one op (other completions must not be pending)."""
    return complete(ring, op_id, timeout=timeout)[op_id][0]


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def listener():
    """A listening TCP socket on 127.0.0.1 and its port."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s, s.getsockname()[1]
