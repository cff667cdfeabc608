"""Every public callable of ringkit and ringkit.aio says what it does
(a docstring of its own) and has a signature inspect can read, the C ones
included (their __text_signature__)."""
import inspect

import pytest

import ringkit
from ringkit import _aioloop, aio


def _ours(obj) -> bool:
    return (getattr(obj, "__module__", None) or "").startswith("ringkit")


def _public():
    """(qualified name, object) of every public callable: module-level
    functions and classes, and each public method and property a class
    defines itself (what it inherits is documented where it is defined)."""
    seen = {}
    objs = set()  # aio re-exports Ring, Region, ...: each is walked once
    roots = [(ringkit, name) for name in ringkit.__all__]
    roots += [(aio, name) for name in dir(aio) if not name.startswith("_")]
    # What aio.read/write/recv/send return: an object users call methods on.
    roots.append((_aioloop, "Waiter"))
    for mod, name in roots:
        obj = getattr(mod, name)
        if not callable(obj) or not _ours(obj) or obj is ringkit.Completion:
            continue
        if id(obj) in objs:
            continue
        objs.add(id(obj))
        seen.setdefault("%s.%s" % (mod.__name__, name), obj)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if callable(member) or isinstance(member, property) or \
                        inspect.isgetsetdescriptor(member) or inspect.ismemberdescriptor(member):
                    seen.setdefault("%s.%s.%s" % (mod.__name__, name, attr), member)
    return sorted(seen.items())


PUBLIC = _public()
CALLABLES = [(n, o) for n, o in PUBLIC if callable(o)]


def test_the_walk_finds_the_api():
    names = dict(PUBLIC)
    for must in ("ringkit.Ring", "ringkit.Ring.read", "ringkit.Ring.reap", "ringkit.Batch.nop",
                 "ringkit.aio.open", "ringkit.aio.read", "ringkit.aio.BufferPool.recv",
                 "ringkit.aio.AioRing.prep", "ringkit._aioloop.Waiter.result",
                 "ringkit.Ring.closed", "ringkit.aio.EventLoop"):
        assert must in names, must
    assert len(PUBLIC) > 150


def test_every_public_callable_has_a_docstring():
    missing = []
    for name, obj in PUBLIC:
        doc = obj.__doc__ if not inspect.isclass(obj) else vars(obj).get("__doc__")
        if inspect.ismemberdescriptor(obj):  # a slot: documented in __slots__ (a dict)
            slots = getattr(obj.__objclass__, "__slots__", None)
            doc = slots.get(obj.__name__) if isinstance(slots, dict) else None
        if not doc or not doc.strip():
            missing.append(name)
    assert not missing, "no docstring: " + ", ".join(missing)


def test_docstrings_of_c_callables_are_not_their_signature_only():
    # A C function's docstring starts with its signature line ("--" ends
    # it); what it does must follow.
    for name, obj in CALLABLES:
        if obj.__doc__ and getattr(obj, "__text_signature__", None):
            assert obj.__doc__.strip(), name


@pytest.mark.parametrize("name, obj", CALLABLES, ids=[n for n, _ in CALLABLES])
def test_signature_is_readable(name, obj):
    sig = inspect.signature(obj)
    assert sig is not None


@pytest.mark.parametrize("fn, params", [
    (aio.read, ["fd", "buf", "offset"]), (aio.write, ["fd", "data", "offset"]),
    (aio.recv, ["fd", "buf", "msg_flags"]), (aio.send, ["fd", "data", "msg_flags"]),
])
def test_c_ops_show_their_parameters(fn, params):
    sig = inspect.signature(fn)
    assert list(sig.parameters) == params
    assert list(sig.parameters.values())[2].default in (-1, 0)
