"""Where io_uring is refused, ringkit still works: the fallback backend.

The main test runs a child Python under a seccomp filter that answers
io_uring_setup with EPERM, as Docker's and containerd's default profiles
do: there `import ringkit`, a file read, a TCP echo exchange and an asyncio
read must all work, on the fallback, with the same results. The others
check how a backend is chosen (flags, RINGKIT_BACKEND)."""
import os
import subprocess
import sys
import textwrap

import pytest

import ringkit

# Installs a seccomp filter (prctl, classic BPF) refusing io_uring_setup
# with EPERM, then runs the real checks. x86_64 and aarch64 share the
# syscall number; another architecture is left alone (and the child
# reports it, so the test skips rather than passes).
CHILD = textwrap.dedent(r"""
    import asyncio, ctypes, errno, os, platform, socket, struct, sys, threading

    IO_URING_SETUP = 425
    if platform.machine() not in ("x86_64", "aarch64"):
        print("unsupported-arch"); sys.exit(0)
    AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}[platform.machine()]

    def stmt(code, k):
        return struct.pack("HBBI", code, 0, 0, k)

    def jump(code, k, jt, jf):
        return struct.pack("HBBI", code, jt, jf, k)

    LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
    RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
    prog = b"".join([
        stmt(LD_W_ABS, 4),                          # seccomp_data.arch
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET_K, RET_ALLOW),
        stmt(LD_W_ABS, 0),                          # seccomp_data.nr
        jump(JEQ_K, IO_URING_SETUP, 0, 1),
        stmt(RET_K, RET_ERRNO | errno.EPERM),
        stmt(RET_K, RET_ALLOW),
    ])
    filt = ctypes.create_string_buffer(prog)
    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = Fprog(len(prog) // 8, ctypes.addressof(filt))
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    assert libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    assert libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0

    # io_uring really is refused in here now.
    assert ctypes.CDLL(None, use_errno=True).syscall(IO_URING_SETUP, 8, ctypes.create_string_buffer(120)) == -1
    assert ctypes.get_errno() == errno.EPERM

    import ringkit
    from ringkit import aio

    try:
        ringkit.Ring(8, no_fallback=True)
    except PermissionError as e:
        assert "seccomp" in str(e), e
    else:
        raise AssertionError("io_uring setup was not refused")

    path, data = sys.argv[1], open(sys.argv[1], "rb").read()

    # 1. A file read.
    with ringkit.Ring(64) as ring:
        assert ring.backend == "fallback", ring.backend
        fd = os.open(path, os.O_RDONLY)
        buf = bytearray(len(data))
        op = ring.read(fd, buf, 0)
        [(op_id, res, flags)] = ring.reap(wait=1, timeout=10)
        assert (op_id, res) == (op, len(data)), (op_id, res)
        assert bytes(buf) == data
        os.close(fd)

        # 2. An echo exchange: the server side entirely through the ring
        # (accept, recv, send), the client a plain blocking socket.
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(4)
        port = lsock.getsockname()[1]
        acc = ring.accept(lsock.fileno())
        client = socket.create_connection(("127.0.0.1", port))
        [(op_id, sfd, _)] = ring.reap(wait=1, timeout=10)
        assert op_id == acc and sfd >= 0, (op_id, sfd)
        for msg in (b"hello", b"x" * 100000, b"bye"):
            got = b""
            client.sendall(msg)
            while len(got) < len(msg):
                rbuf = bytearray(65536)
                rv = ring.recv(sfd, rbuf)
                [(op_id, n, _)] = ring.reap(wait=1, timeout=10)
                assert op_id == rv and n > 0, (op_id, n)
                sv = ring.send(sfd, bytes(rbuf[:n]))
                [(op_id, m, _)] = ring.reap(wait=1, timeout=10)
                assert op_id == sv and m == n, (op_id, m, n)
                echoed = b""
                while len(echoed) < n:
                    echoed += client.recv(n - len(echoed))
                got += echoed
            assert got == msg
        client.close()
        os.close(sfd)
        lsock.close()

    # 3. asyncio: a read through ringkit.aio, woken through the eventfd.
    async def main():
        fd = await aio.open(path)
        try:
            head = await aio.pread(fd, 100, 0)
            tail = await aio.pread(fd, 100, len(data) - 100)
        finally:
            await aio.close_fd(fd)
        assert aio.ring().ring.backend == "fallback"
        return head + tail
    got = asyncio.run(main())
    assert got == data[:100] + data[-100:]
    print("ok")
""")


def test_seccomp_refused_io_uring_still_works(tmp_path):
    path = tmp_path / "data.bin"
    data = os.urandom(256 * 1024)
    path.write_bytes(data)
    env = dict(os.environ)
    env.pop("RINGKIT_BACKEND", None)  # automatic choice: io_uring, refused -> fallback
    p = subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    if p.stdout.strip() == "unsupported-arch":
        pytest.skip("no io_uring_setup number for this architecture in the test")
    assert p.stdout.strip() == "ok", p.stdout + p.stderr


def test_flags_choose_the_backend():
    with ringkit.Ring(8, fallback=True) as r:
        assert r.backend == "fallback"
        assert r.stats()["backend"] == ringkit.constant("RK_BACKEND_FALLBACK")
        assert r.stats()["features"] == 0
    with pytest.raises(ValueError):
        ringkit.Ring(8, fallback=True, no_fallback=True)
    # The flag wins over the environment: io_uring where the kernel allows it.
    try:
        r = ringkit.Ring(8, no_fallback=True)
    except PermissionError:
        pytest.skip("io_uring is refused on this machine")
    with r:
        assert r.backend == "uring"


@pytest.mark.parametrize("value, backend", [("fallback", "fallback"), ("uring", "uring"),
                                            ("auto", None), ("", None)])
def test_environment_chooses_the_default(value, backend):
    code = ("import ringkit\n"
            "with ringkit.Ring(8) as r:\n"
            "    print(r.backend)\n")
    env = dict(os.environ, RINGKIT_BACKEND=value)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60)
    if backend == "uring" and p.returncode != 0 and "PermissionError" in p.stderr:
        pytest.skip("io_uring is refused on this machine")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() in (("uring", "fallback") if backend is None else (backend,))


def test_a_misspelt_switch_is_an_error():
    code = ("import ringkit\n"
            "try:\n"
            "    ringkit.Ring(8)\n"
            "except ValueError as e:\n"
            "    print('refused:', e)\n")
    env = dict(os.environ, RINGKIT_BACKEND="fallbak")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("refused:") and "RINGKIT_BACKEND" in p.stdout, p.stdout


def test_same_results_on_both_backends(tmp_path):
    """One op sequence (a linked chain with a failing head, a read of a
    pipe under a link timeout, a timeout removed) gives the same results on
    io_uring and on the fallback."""
    def run(ring):
        out = []
        r, w = os.pipe()
        try:
            buf = bytearray(8)
            bad = ring.read(1000, buf, 0, flags=ringkit.LINK)     # -EBADF
            mid = ring.nop(flags=ringkit.LINK)                    # -ECANCELED
            last = ring.nop()                                     # -ECANCELED
            rd = ring.read(r, buf, -1, flags=ringkit.LINK)        # cancelled by...
            lt = ring.link_timeout(0.02)                          # ... -ETIME
            to = ring.timeout(30)
            ring.submit()
            rm = ring.timeout_remove(to)
            want = [bad, mid, last, rd, lt, to, rm]
            got = {}
            while len(got) < len(want):
                for op_id, res, _ in ring.reap(wait=1, timeout=10):
                    got[op_id] = res
            out = [got[i] for i in want]
        finally:
            os.close(r)
            os.close(w)
        return out

    with ringkit.Ring(16, fallback=True) as fb:
        fallback = run(fb)
    try:
        ur = ringkit.Ring(16, no_fallback=True)
    except PermissionError:
        pytest.skip("io_uring is refused on this machine")
    with ur:
        uring = run(ur)
    import errno
    assert fallback == uring == [-errno.EBADF, -errno.ECANCELED, -errno.ECANCELED,
                                 -errno.ECANCELED, -errno.ETIME, -errno.ECANCELED, 0]
