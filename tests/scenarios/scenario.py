"""The step interpreter of tests/scenarios (README.md) for Python bindings.

run.py (the cffi package `ringkit`) and run_ctypes.py (ringkit_ctypes) give
it an adapter: a few methods that do one step's call through their binding
and return what it returned (an OSError becomes its -errno). Everything
the scenario decides — names, expectations, the mixed draws — is here once.
"""
import errno
import json
import os
import socket
import sys
import time


class Failure(Exception):
    pass


def errno_value(spec):
    """An expected result: an int, "-ENAME" (the errno module's value) or a
    list of alternatives; returns the set of ints it allows."""
    if isinstance(spec, list):
        return set().union(*(errno_value(s) for s in spec))
    if isinstance(spec, int):
        return {spec}
    neg = spec.startswith("-")
    return {(-1 if neg else 1) * getattr(errno, spec.lstrip("-"))}


def result(fn, *args):
    """fn's return, or the -errno of the OSError it raised."""
    try:
        return fn(*args)
    except OSError as e:
        if e.errno is None:
            raise
        return -e.errno


class RingObjects:
    """The calls both Python bindings spell alike (a module with constant(),
    Ring and Region, named as in the C ABI); each runner's Binding adds the
    rest."""

    def __init__(self, module):
        self.mod = module

    def constant(self, name):
        return self.mod.constant(name)

    def ring(self, entries):
        return self.mod.Ring(entries)

    def region(self, chunk_size, nchunks):
        return self.mod.Region(chunk_size, nchunks)

    def close_ring(self, r):
        r.close()

    def chunk_alloc(self, g):
        return g.alloc()

    def destroy_region(self, g):
        g.close()

    def chunk_data(self, g, chunk, n):
        return bytes(g.view(chunk, n))

    def provide(self, r, g, group):
        return r.provide_region(g, group)

    def unprovide(self, r, g):
        r.unprovide_region(g)

    def register_region(self, r, g):
        r.register_region(g)

    def unregister_region(self, r, g):
        r.unregister_region(g)

    def recycle(self, r, g, chunk):
        r.recycle_chunk(g, chunk)

    def nop(self, r, flags):
        return r.nop(flags)

    def submit(self, r):
        return r.submit()


class Runner:
    def __init__(self, binding):
        self.b = binding

    def fail(self, msg):
        raise Failure("FAIL %s step %d (%s): %s" % (self.scenario, self.step_no, self.op, msg))

    def expect(self, spec, got, what):
        if spec is not None and got not in errno_value(spec):
            self.fail("%s: expected %s, got %r (%s)" % (what, spec, got,
                      os.strerror(-got) if isinstance(got, int) and got < 0 else "ok"))

    def ring(self, step):
        r = self.names.get(step.get("ring", "r"))
        if r is None:
            self.fail("ring %r is not open" % step.get("ring", "r"))
        return r

    def value(self, step, key):
        v = step[key]
        return v if isinstance(v, int) else self.names[v]

    def flags(self, step):
        f = 0
        for name in step.get("flags", []):
            f |= self.b.constant("RK_" + name)
        return f

    def prep(self, step, ret, buf=None):
        if "expect" in step:
            self.expect(step["expect"], ret, "prep result")
        elif ret < 0:
            self.fail("prep failed: %s" % os.strerror(-ret))
        if ret >= 0 and "as" in step:
            self.names[step["as"]] = ret
            self.bufs[ret] = buf

    # -- steps ---------------------------------------------------------------

    def run_file(self, path):
        self.scenario = os.path.basename(path)
        self.step_no, self.op = 0, "load"
        with open(path) as f:
            doc = json.load(f)
        self.names, self.bufs, self.socks, self.regions, self.rings = {}, {}, [], [], []
        try:
            for self.step_no, step in enumerate(doc["steps"], 1):
                self.op = step["op"]
                getattr(self, "step_" + self.op, self.unknown)(step)
        except Failure:
            raise
        except Exception as e:  # a binding call that raised: named, not a traceback
            self.fail("%s: %s" % (type(e).__name__, e))
        finally:
            for r in self.rings:
                result(self.b.close_ring, r)
            for g in self.regions:
                result(self.b.destroy_region, g)
            for s in self.socks:
                s.close()
        print("ok", self.scenario)

    def unknown(self, step):
        self.fail("unknown step")

    def step_ring(self, step):
        r = self.b.ring(step.get("entries", 8))
        self.names[step["as"]] = r
        self.rings.append(r)

    def step_close_ring(self, step):
        r = self.ring(step)
        t0 = time.monotonic()
        ret = result(self.b.close_ring, r)
        took = (time.monotonic() - t0) * 1000
        self.rings.remove(r)
        self.names[step.get("ring", "r")] = None
        self.expect(0, 0 if ret is None else ret, "close")
        if took >= step.get("expect_ms_below", 1000):
            self.fail("close took %d ms" % took)

    def step_socketpair(self, step):
        a, b = socket.socketpair()
        self.socks += [a, b]
        self.names[step["as"] + ".a"] = a.fileno()
        self.names[step["as"] + ".b"] = b.fileno()

    def step_sleep(self, step):
        time.sleep(step["ms"] / 1000)

    def step_region(self, step):
        g = self.b.region(step["chunk_size"], step["nchunks"])
        self.regions.append(g)
        self.names[step["as"]] = g

    def step_chunk(self, step):
        self.names[step["as"]] = self.b.chunk_alloc(self.names[step["region"]])

    def step_destroy_region(self, step):
        g = self.names[step["region"]]
        ret = result(self.b.destroy_region, g)
        ret = 0 if ret is None else ret
        self.expect(step["expect"], ret, "destroy_region")
        if ret == 0:
            self.regions.remove(g)

    def region_call(self, step, fn, *args):
        ret = result(fn, self.ring(step), self.names[step["region"]], *args)
        self.expect(step["expect"], 0 if ret is None else ret, step["op"])

    def step_provide(self, step):
        self.region_call(step, self.b.provide, step["group"])

    def step_register_region(self, step):
        self.region_call(step, self.b.register_region)

    def step_unregister_region(self, step):
        self.region_call(step, self.b.unregister_region)

    def step_unprovide(self, step):
        self.region_call(step, self.b.unprovide)

    def step_recycle(self, step):
        self.region_call(step, self.b.recycle, self.value(step, "chunk"))

    def step_nop(self, step):
        self.prep(step, result(self.b.nop, self.ring(step), self.flags(step)))

    def step_read(self, step):
        buf = bytearray(step["len"])
        self.prep(step, result(self.b.read, self.ring(step), self.value(step, "fd"), buf,
                               self.flags(step)), buf)

    def step_write(self, step):
        self.prep(step, result(self.b.write, self.ring(step), self.value(step, "fd"),
                               step["data"].encode(), self.flags(step)))

    def step_read_chunk(self, step):
        self.prep(step, result(self.b.read_chunk, self.ring(step), self.value(step, "fd"),
                               self.names[step["region"]], self.value(step, "chunk"),
                               step["len"], self.flags(step)))

    def step_recv_select(self, step):
        self.prep(step, result(self.b.recv_select, self.ring(step), self.value(step, "fd"),
                               step["group"], step["len"], self.flags(step)))

    def step_timeout(self, step):
        self.prep(step, result(self.b.timeout, self.ring(step), step["ns"],
                               step.get("count", 0), self.flags(step)))

    def step_link_timeout(self, step):
        self.prep(step, result(self.b.link_timeout, self.ring(step), step["ns"],
                               self.flags(step)))

    def step_cancel(self, step):
        self.prep(step, result(self.b.cancel, self.ring(step), self.value(step, "target"),
                               self.flags(step)))

    def step_submit(self, step):
        ret = result(self.b.submit, self.ring(step))
        if ret < 0:
            self.fail("submit: %s" % os.strerror(-ret))

    def step_inflight(self, step):
        self.expect(step["expect"], self.b.inflight(self.ring(step)), "live ops")

    def step_reap(self, step):
        ring = self.ring(step)
        want = {self.names[e["id"]]: e for e in step["expect"]}
        seq = {}
        deadline = time.monotonic() + step.get("timeout_ms", 5000) / 1000
        while not want or len(seq) < len(want):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for op_id, res, flags in self.b.reap(ring, 1, left):
                e = want.get(op_id)
                if e is None:
                    self.fail("unexpected completion: id %d res %d" % (op_id, res))
                if op_id in seq:
                    self.fail("op %r completed twice" % e["id"])
                seq[op_id] = len(seq)
                self.expect(e["res"], res, "res of %r" % e["id"])
                data = self.bufs.get(op_id)
                if "chunk_as" in e:
                    if not flags & self.b.constant("RK_CQE_F_BUFFER"):
                        self.fail("op %r: expected a provided buffer, flags %#x" % (e["id"], flags))
                    chunk = flags >> self.b.constant("RK_CQE_BUFFER_SHIFT")
                    self.names[e["chunk_as"]] = chunk
                    data = self.b.chunk_data(self.names[e["region"]], chunk, max(res, 0))
                if "data" in e and bytes(data[:max(res, 0)] if data else b"") != e["data"].encode():
                    self.fail("data of %r: expected %r, got %r" % (e["id"], e["data"],
                              bytes(data[:max(res, 0)]) if data else None))
        for op_id, e in want.items():
            if op_id not in seq:
                self.fail("op %r did not complete in time" % e["id"])
            after = e.get("after")
            if after is not None and seq[self.names[after]] > seq[op_id]:
                self.fail("op %r completed before %r" % (e["id"], after))

    def step_fd_count(self, step):
        n = len(os.listdir("/proc/self/fd")) - 1  # listdir's own descriptor
        if "as" in step:
            self.names[step["as"]] = n
        else:
            self.expect(self.value(step, "expect"), n, "open descriptors")

    def step_interrupt_reap(self, step):
        after = step.get("after_ms", 50)
        t0 = time.monotonic()
        outcome = self.b.interrupt_reap(self.ring(step), after)
        took = (time.monotonic() - t0) * 1000
        if outcome != "EINTR":
            self.fail("reap: expected the binding's EINTR outcome, got %s" % outcome)
        if took < after / 2:
            self.fail("reap ended after %d ms, before the signal" % took)
        if took >= step.get("expect_ms_below", 2000):
            self.fail("reap took %d ms" % took)

    def step_mixed(self, step):
        """README.md, "mixed": the same draws and checks in every runner."""
        b, ring = self.b, self.ring(step)
        count, x = step["count"], step["seed"]
        cap = os.environ.get("RINGKIT_SCENARIO_MIXED_MAX")
        if cap:
            count = min(count, int(cap))
        link, etime = b.constant("RK_LINK"), -errno.ETIME
        sa, sb = socket.socketpair()
        try:
            stale = b.nop(ring, 0)
            if [c[0] for c in b.reap(ring, 1, None)] != [stale]:
                self.fail("could not make a stale id")
            live = {}
            draws = ops = done = 0
            while draws < count:
                for _ in range(min(16, count - draws)):
                    x = x * 48271 % 2147483647
                    k = x % 4
                    if k == 0:
                        live[b.nop(ring, 0)] = 0
                    elif k == 1:
                        live[b.timeout(ring, 1000, 0, 0)] = etime
                    elif k == 2:
                        live[b.write(ring, sb.fileno(), b"x", link)] = 1
                        live[b.read(ring, sa.fileno(), bytearray(1), 0)] = 1
                    else:
                        r = result(b.cancel, ring, stale, 0)
                        if r != -errno.ENOENT:
                            self.fail("draw %d: cancel of a stale id returned %r" % (draws, r))
                    draws += 1
                ops += len(live)
                while live:
                    got = b.reap(ring, 1, 5.0)
                    if not got:
                        self.fail("no completion in 5 s with %d ops live" % len(live))
                    for op_id, res, _ in got:
                        want = live.pop(op_id, None)
                        if want is None:
                            self.fail("completion of id %d: not a live op (twice, or unknown)"
                                      % op_id)
                        if res != want:
                            self.fail("op id %d: expected res %d, got %d" % (op_id, want, res))
                        done += 1
            extra = b.reap(ring, 0, 0)
            if extra:
                self.fail("%d completions after every op had its final one" % len(extra))
            if done != ops:
                self.fail("%d ops, %d final completions" % (ops, done))
        finally:
            sa.close()
            sb.close()


def main(binding, paths):
    runner = Runner(binding)
    try:
        for p in paths:
            runner.run_file(p)
    except Failure as e:
        print(e, file=sys.stderr)
        return 1
    return 0
