"""The code in the READMEs and guides is run, so it cannot rot.

Every ```c, ```python, ```lua and ```ruby block of the files in DOCS is a
complete program, compiled and run here (C against the build's libringkit,
Python with this interpreter, Lua in the build's embedding host, Ruby with
bindings/ruby/lib on its load path), and must exit 0. A block
that is deliberately partial (an excerpt of a file the build already compiles,
a signature, a server that runs until killed) says so in an HTML comment on
the line(s) before it, with a reason:

    <!-- snippet skip: an excerpt of examples/lua-host/host.c -->

Other markers:
    <!-- snippet refused: TEXT -->   also run with io_uring refused (under
                                     tests/c/refuse_uring EPERM); the output
                                     must then contain TEXT
    <!-- snippet host-build: ... --> (doc/lua-guide.md, a sh block) the
                                     command that builds an embedding host:
                                     run as written, with RK and RKB set
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

SRC = os.path.abspath(os.environ.get("RINGKIT_SRC",
                                     os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("RINGKIT_BUILD")

DOCS = ["README.md", "doc/python-guide.md", "doc/lua-guide.md", "doc/backend-guide.md",
        "doc/abi.md", "doc/reliability.md", "bindings/python/README.md",
        "bindings/lua/README.md", "bindings/ctypes/README.md"]
LANGS = ("c", "python", "lua", "ruby")
KINDS = ("skip", "refused", "host-build")

_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
_MARKER = re.compile(r"<!--\s*snippet\s+([\w-]+)\s*:?(.*?)-->", re.S)
# Under -Db_sanitize=address meson preloads the ASan runtime for the tests.
_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


class Snippet:
    def __init__(self, doc, line, lang, code, kind, note):
        self.doc, self.line, self.lang, self.code = doc, line, lang, code
        self.kind, self.note = kind, note

    def __repr__(self):
        return "%s:%d" % (self.doc, self.line)


def snippets(doc):
    """The fenced blocks of doc with the marker just before each (or None)."""
    with open(os.path.join(SRC, doc)) as f:
        lines = f.read().split("\n")
    out, pending, i = [], None, 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("<!--") and "snippet" in line:
            j = i
            while "-->" not in lines[j]:
                j += 1
            m = _MARKER.search("\n".join(lines[i:j + 1]))
            assert m, "%s:%d: unreadable snippet marker" % (doc, i + 1)
            pending = (m.group(1), " ".join(m.group(2).split()))
            i = j + 1
            continue
        fence = _FENCE.match(line)
        if fence:
            indent, lang = fence.groups()
            j = i + 1
            while not _FENCE.match(lines[j]):
                j += 1
            code = "\n".join(ln[len(indent):] if ln.startswith(indent) else ln.lstrip()
                             for ln in lines[i + 1:j]) + "\n"
            kind, note = pending or (None, "")
            out.append(Snippet(doc, i + 1, lang, code, kind, note))
            pending = None
            i = j + 1
            continue
        if line.strip():
            pending = None  # a marker belongs to the block right after it
        i += 1
    return out


ALL = [s for d in DOCS for s in snippets(d)]
RUN = [s for s in ALL if s.lang in LANGS and s.kind != "skip"]


def test_every_snippet_runs_or_says_why_not():
    for s in ALL:
        assert s.kind in KINDS + (None,), "%r: unknown marker %r" % (s, s.kind)
        if s.lang in LANGS and s.kind == "skip":
            assert len(s.note) > 10, "%r: a skipped snippet needs its reason" % s
        if s.kind == "host-build":
            assert s.lang == "sh", s
    assert len(RUN) >= 8  # the extractor still finds the guides' programs
    assert [s.doc for s in ALL if s.kind == "host-build"] == ["doc/lua-guide.md"]


def _need_build():
    if not BUILD:
        pytest.skip("needs RINGKIT_BUILD (set by meson test)")


def _run_c(s, tmp_path, prefix=()):
    src = tmp_path / "snippet.c"
    src.write_text(s.code)
    exe = tmp_path / "snippet"
    lib = os.path.join(BUILD, "src")
    cmd = [os.environ.get("CC", "cc"), "-std=c11", "-Wall", "-Wextra", "-Werror",
           "-I" + os.path.join(SRC, "include"), str(src), "-o", str(exe),
           "-L" + lib, "-lringkit", "-Wl,-rpath," + lib]
    if _ASAN:
        cmd[1:1] = ["-fsanitize=address,undefined"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, "%r does not compile:\n%s" % (s, out.stderr)
    return subprocess.run(list(prefix) + [str(exe)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)


def _lua_host():
    host = os.path.join(BUILD, "bindings", "lua", "ringkit-lua-host")
    if not os.access(host, os.X_OK):
        pytest.skip("ringkit-lua-host not built (liblua5.4-dev missing?)")
    return host


def _run(s, tmp_path, prefix=()):
    if s.lang == "c":
        return _run_c(s, tmp_path, prefix)
    path = tmp_path / ("snippet." + {"python": "py", "lua": "lua", "ruby": "rb"}[s.lang])
    path.write_text(s.code)
    if s.lang == "ruby":
        if not shutil.which("ruby"):
            pytest.skip("needs ruby")
        cmd = ["ruby", "-I", os.path.join(SRC, "bindings", "ruby", "lib")]
    else:
        cmd = [sys.executable] if s.lang == "python" else [_lua_host()]
    env = dict(os.environ, LUA_CPATH="", LUA_PATH="")
    env.setdefault("RINGKIT_LIB", os.path.join(BUILD, "src", "libringkit.so"))
    if env.get("PYTHONPATH"):  # the snippet runs in tmp_path
        env["PYTHONPATH"] = os.pathsep.join(map(os.path.abspath,
                                                env["PYTHONPATH"].split(os.pathsep)))
    return subprocess.run(list(prefix) + cmd + [str(path)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=env)


@pytest.mark.parametrize("s", RUN, ids=repr)
def test_snippet_runs(s, tmp_path):
    _need_build()
    p = _run(s, tmp_path)
    assert p.returncode == 0, "%r failed (%d):\n%s%s" % (s, p.returncode, p.stdout, p.stderr)


@pytest.mark.parametrize("s", [s for s in RUN if s.kind == "refused"], ids=repr)
def test_snippet_where_io_uring_is_refused(s, tmp_path):
    _need_build()
    refuse = os.path.join(BUILD, "tests", "c", "refuse_uring")
    if not os.access(refuse, os.X_OK):
        pytest.skip("refuse_uring not built")
    p = _run(s, tmp_path, prefix=[refuse, "EPERM"])
    if p.returncode == 77:
        pytest.skip("cannot install a seccomp filter here")
    assert p.returncode == 0, p.stderr
    assert s.note and s.note in p.stdout, p.stdout


def _lua_sources():
    with open(os.path.join(SRC, "bindings", "lua", "meson.build")) as f:
        m = re.search(r"lrk_sources\s*=\s*files\(([^)]*)\)", f.read())
    return re.findall(r"'([^']+\.c)'", m.group(1))


def test_lua_guide_names_every_module_source():
    with open(os.path.join(SRC, "doc", "lua-guide.md")) as f:
        guide = f.read()
    build = [s for s in ALL if s.kind == "host-build"][0]
    row = [ln for ln in guide.split("\n") if ln.startswith("| `bindings/lua/ringkit.c`")][0]
    for c in _lua_sources():
        assert "bindings/lua/" + c in build.code, "the build command lacks " + c
        assert "`%s`" % c in row or "`bindings/lua/%s`" % c in row, "the table lacks " + c
    assert "-D_GNU_SOURCE" in build.code


def test_lua_guide_builds_a_host(tmp_path):
    """Runs the guide's build command as written and the guide's script in
    the host it made."""
    _need_build()
    if _ASAN:
        pytest.skip("the guide's command builds a plain host; this libringkit.a needs ASan")
    for tool in ("lua5.4", "pkg-config", os.environ.get("CC", "cc")):
        if not shutil.which(tool):
            pytest.skip("needs " + tool)
    if subprocess.run(["pkg-config", "--exists", "lua5.4"]).returncode:
        pytest.skip("needs liblua5.4-dev")
    build = [s for s in ALL if s.kind == "host-build"][0]
    script = [s for s in RUN if s.doc == "doc/lua-guide.md" and s.lang == "lua"][0]
    (tmp_path / "script.lua").write_text(script.code)
    env = dict(os.environ, RK=SRC, RKB=os.path.abspath(BUILD), LUA_CPATH="", LUA_PATH="")
    # The last line runs the host; `script.lua args...` is the reader's part.
    assert "\n./my-host script.lua args...\n" in build.code
    cmd = build.code.replace("./my-host script.lua args...", "./my-host script.lua")
    p = subprocess.run(["sh", "-eu", "-c", cmd], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "hello" in p.stdout, p.stdout
