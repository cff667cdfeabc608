"""``python3 -m ringkit``: what rings and ringkit's asyncio loop run on here.

Prints the backend rings get (io_uring or the fallback) and, when io_uring
is refused, why: the errno of an io_uring setup without the fallback, read
with what the system says (kernel.io_uring_disabled, this process's seccomp
mode, RLIMIT_MEMLOCK). Then the kernel, RINGKIT_BACKEND, the ring's
IORING_FEAT_* bits, the opcodes ringkit offers that this kernel's io_uring
lacks, the newer kernel features it can use (rk_ring_feature), and whether
the loop's receive path (a multishot receive into provided buffers) works.
Always exits 0: it reports, it does not judge.
"""
import errno
import os
import platform
import resource
import socket
import sys

from . import CQE_BUFFER_SHIFT, CQE_F_MORE, Region, Ring, constants, strerror, version

# The kernel's IORING_FEAT_* bits by name (linux/io_uring.h), in bit order.
FEATURES = ("SINGLE_MMAP", "NODROP", "SUBMIT_STABLE", "RW_CUR_POS", "CUR_PERSONALITY",
            "FAST_POLL", "POLL_32BITS", "SQPOLL_NONFIXED", "EXT_ARG", "NATIVE_WORKERS",
            "RSRC_TAGS", "CQE_SKIP", "LINKED_FILE", "REG_REG_RING", "RECVSEND_BUNDLE",
            "MIN_TIMEOUT", "RW_ATTR", "NO_IOWAIT")

# What ringkit.aio.EventLoop submits: readiness polls (_loop.py), receives
# and sends of its transports (_transport.py), cancels, and the reads,
# writes and receives of ringkit.aio's awaitables (aioloop.c).
LOOP_OPS = ("POLL_ADD", "RECV", "SEND", "ASYNC_CANCEL", "READ", "WRITE")


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _limit(v):
    return "unlimited" if v == resource.RLIM_INFINITY else "%d KiB" % (v // 1024)


def why_refused(err):
    """Lines saying why io_uring_setup failed with errno `err`."""
    lines = ["io_uring refused: %s (%s)" % (errno.errorcode.get(err, str(err)),
                                           strerror(-err))]
    disabled = _read("/proc/sys/kernel/io_uring_disabled")
    seccomp = None
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("Seccomp:"):
            seccomp = line.split()[1]
    if err == errno.EPERM:
        if disabled == "2":
            lines.append("  kernel.io_uring_disabled = 2: io_uring is off for every process")
        elif disabled == "1":
            group = _read("/proc/sys/kernel/io_uring_group")
            lines.append("  kernel.io_uring_disabled = 1: only root and group %s may use "
                         "io_uring (kernel.io_uring_group)" % (group or "?"))
        elif seccomp == "2":
            lines.append("  a seccomp filter on this process refuses it (kernel.io_uring_"
                         "disabled = %s): a container runtime's profile, most likely"
                         % (disabled if disabled is not None else "absent"))
        else:
            lines.append("  kernel.io_uring_disabled = %s, seccomp mode %s"
                         % (disabled or "absent", seccomp or "?"))
    elif err == errno.ENOMEM:
        soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        lines.append("  RLIMIT_MEMLOCK: %s (hard %s): older kernels charge the rings to it"
                     % (_limit(soft), _limit(hard)))
    elif err == errno.ENOSYS:
        lines.append("  this kernel has no io_uring (CONFIG_IO_URING off), or a seccomp "
                     "filter answers ENOSYS (seccomp mode %s)" % (seccomp or "?"))
    return lines


def features(bits):
    names = [n for i, n in enumerate(FEATURES) if bits >> i & 1]
    rest = bits & ~((1 << len(FEATURES)) - 1)
    if rest:
        names.append("0x%x" % rest)
    return " ".join(names) or "none"


def multishot_receive(ring):
    """Whether a multishot receive into provided buffers (the loop's
    transports' read path) delivers two messages here; a reason if not."""
    a, b = socket.socketpair()
    region = Region(4096, 4)
    op = None
    try:
        try:
            ring.provide_region(region, 0)
        except OSError as e:
            return "no: providing buffers failed: %s" % e
        op = ring.recv_multishot(a.fileno(), 0)
        got = []
        for msg in (b"one", b"two"):
            b.send(msg)
            done = ring.reap(wait=1, timeout=5)
            if not done:
                return "no: no completion within 5 s"
            for op_id, res, flags in done:
                if op_id != op:
                    continue
                if not flags & CQE_F_MORE:
                    op = None  # the kernel ended it
                if res < 0:
                    return "no: %s" % strerror(res)
                got.append((res, bool(flags & CQE_F_MORE)))
                ring.recycle_chunk(region, flags >> CQE_BUFFER_SHIFT)
        if got != [(3, True), (3, True)]:
            return "no: completions %r" % got
        return "yes"
    finally:
        if op is not None:
            ring.cancel(op)
            for _ in range(10):
                if ring.stats()["inflight"] == 0:
                    break
                ring.reap(wait=1, timeout=1)
        try:
            ring.unprovide_region(region)
        except OSError:
            pass
        region.close()
        a.close()
        b.close()


def report(out=sys.stdout):
    def say(*lines):
        for line in lines:
            print(line, file=out)

    say("ringkit %d.%d.%d, Python %s" % (version() + (platform.python_version(),)))
    say("kernel: %s %s (%s)" % (platform.system(), platform.release(), platform.machine()))
    env = os.environ.get("RINGKIT_BACKEND")
    say("RINGKIT_BACKEND: %s" % ("unset" if env is None else repr(env)))

    # io_uring itself, whatever RINGKIT_BACKEND says (no_fallback wins).
    uring, refused = None, None
    try:
        uring = Ring(8, no_fallback=True)
    except OSError as e:
        refused = e.errno
    try:
        if uring is None:
            say(*why_refused(refused))
        else:
            say("io_uring: available")

        # What a ring created here gets (RINGKIT_BACKEND decides, then the
        # fallback when io_uring is refused).
        try:
            with Ring(8) as ring:
                backend = ring.backend
        except OSError as e:
            backend = "none: %s" % e
        say("rings: %s" % ("io_uring" if backend == "uring" else backend))
        if backend in ("uring", "fallback"):
            try:
                from . import aio
                loop = aio.new_event_loop()
                try:
                    lb = loop.backend
                finally:
                    loop.close()
            except Exception as e:  # the report goes on: the loop is one line of it
                lb = "none: %s: %s" % (type(e).__name__, e)
        else:
            lb = "none: it creates its ring the same way"
        say("asyncio loop (ringkit.aio.EventLoop): %s"
            % ("io_uring" if lb == "uring" else lb))
        if backend == "fallback":
            say("  the fallback runs every op on threads and epoll: the same API, slower")

        if uring is not None:
            bits = uring.stats()["features"]
            say("io_uring features: %s" % features(bits))
            offered = sorted((v, k[len("IORING_OP_"):]) for k, v in constants.items()
                             if k.startswith("IORING_OP_"))
            missing = [name for code, name in offered if not uring.probe(code)]
            say("ops this kernel's io_uring lacks: %s" % (" ".join(missing) or "none"))
            if missing:
                say("  on io_uring rings ringkit refuses them (EOPNOTSUPP); the fallback "
                    "backend (RINGKIT_BACKEND=fallback) runs them")
            names = sorted((v, k[len("RK_FEATURE_"):]) for k, v in constants.items()
                           if k.startswith("RK_FEATURE_"))
            say("kernel features (Ring.feature): %s"
                % (" ".join("%s=%s" % (n, "yes" if uring.feature(v) else "no")
                            for v, n in names) or "none known"))
            loop_missing = [op for op in LOOP_OPS if op in missing]
            say("ops the loop needs: %s" % ("all present" if not loop_missing
                                            else "missing " + " ".join(loop_missing)))
            say("multishot receive into provided buffers (the loop's reads): %s"
                % multishot_receive(uring))
    finally:
        if uring is not None:
            uring.close()
    return 0


if __name__ == "__main__":
    sys.exit(report())
