"""Reads include/ringkit.h into a structured form: the ABI listing
(tools/abi.py) and the API reference (tools/apidoc.py) are both generated from
it, so they describe exactly what the compiler sees.

The header is parsed, not compiled, but only a small, regular subset of C is
accepted: RK_API prototypes, opaque handle typedefs, plain structs of
fixed-width integers, function-pointer typedefs and integer #defines. Anything
else in a declaration (a struct passed by value, a variadic function, a type
with no fixed width) is an error: the flat-ABI rule (doc/abi.md), enforced
where the listing is made. What the parser computes (struct offsets, types) is
checked against the compiler by the abi_layout test.
"""
import fnmatch
import re
import textwrap

# C spelling -> libffi type name, on LP64 Linux (the only data model ringkit
# builds for: int is 32 bits, long, size_t and pointers 64).
SCALARS = {
    "void": "void",
    "int": "sint32",
    "unsigned": "uint32",
    "unsigned int": "uint32",
    "int8_t": "sint8",
    "uint8_t": "uint8",
    "int16_t": "sint16",
    "uint16_t": "uint16",
    "int32_t": "sint32",
    "uint32_t": "uint32",
    "int64_t": "sint64",
    "uint64_t": "uint64",
    "size_t": "uint64",
}
SIZES = {"sint8": 1, "uint8": 1, "sint16": 2, "uint16": 2, "sint32": 4, "uint32": 4,
         "sint64": 8, "uint64": 8, "pointer": 8}


class HeaderError(Exception):
    pass


# --------------------------------------------------------------------------
# Items: the header as a sequence of comments, preprocessor lines,
# declarations and blank lines, in order.
# --------------------------------------------------------------------------

class Item:
    def __init__(self, kind, text, line, comment=None, inner=None, raw=None):
        self.kind = kind          # 'comment', 'pp', 'decl', 'blank'
        self.text = text          # raw text (comment body, pp line, decl without comments)
        self.line = line          # 1-based line where it starts
        self.comment = comment    # trailing comment of a pp line
        self.inner = inner or []  # comments inside a declaration: (line, text)
        self.raw = raw if raw is not None else text  # source text, comments included

    def __repr__(self):
        return "Item(%s, %r, line %d)" % (self.kind, self.text[:40], self.line)


def comment_body(raw):
    """The text of a /* ... */ comment without the delimiters and the
    leading ' * ' of continuation lines."""
    body = raw[2:-2]
    lines = body.split("\n")
    out = []
    for i, l in enumerate(lines):
        if i > 0:
            l = re.sub(r"^\s*\*( |$)", "", l)
        out.append(l.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    if out:
        out[0] = out[0].strip()
    return "\n".join(out)


def scan(text):
    """Splits the header into items. Skips `#ifdef __cplusplus ... #endif`."""
    items = []
    i, n, line = 0, len(text), 1
    at_line_start = True
    decl, decl_line, decl_inner = [], 0, []
    skip_depth = 0  # inside #ifdef __cplusplus

    def count_lines(s):
        return s.count("\n")

    while i < n:
        c = text[i]
        if c == "\n":
            if at_line_start and not decl and skip_depth == 0:
                items.append(Item("blank", "", line))
            line += 1
            i += 1
            at_line_start = True
            if decl:
                decl.append(" ")
            continue
        if c in " \t":
            if decl:
                decl.append(" ")
            i += 1
            continue
        if at_line_start and c == "#":
            j = text.index("\n", i) if "\n" in text[i:] else n
            pp = text[i:j]
            start = line
            trailing = None
            k = pp.find("/*")
            if k >= 0:
                end = text.index("*/", i + k) + 2
                trailing = comment_body(text[i + k:end])
                pp = text[i:i + k]
                j = text.index("\n", end) if "\n" in text[end:] else n
                line += count_lines(text[i:j])
            pp = pp.strip()
            word = pp.split()
            if skip_depth:
                if word[0] in ("#if", "#ifdef", "#ifndef"):
                    skip_depth += 1
                elif word[0] == "#endif":
                    skip_depth -= 1
            elif pp == "#ifdef __cplusplus":
                skip_depth = 1
            else:
                items.append(Item("pp", pp, start, comment=trailing, raw=text[i:j].rstrip()))
            i = j
            at_line_start = False
            continue
        at_line_start = False
        if text.startswith("/*", i):
            end = text.index("*/", i) + 2
            raw = text[i:end]
            body = comment_body(raw)
            if skip_depth:
                pass
            elif decl:
                decl_inner.append((line, body))
            elif items and items[-1].kind == "decl" and items[-1].line <= line and \
                    not text[text.rfind("\n", 0, i) + 1:i].strip() == "":
                # a comment after a declaration on the same line
                items[-1].inner.append((line, body))
            else:
                items.append(Item("comment", body, line))
            line += count_lines(raw)
            i = end
            continue
        if text.startswith("//", i):
            raise HeaderError("line %d: use /* */ comments in the public header" % line)
        # declaration text
        if skip_depth:
            i += 1
            continue
        if not decl:
            decl_line = line
            decl_start = i
        decl.append(c)
        if c == "{":
            depth = 1
            i += 1
            while i < n and depth:
                if text.startswith("/*", i):
                    end = text.index("*/", i) + 2
                    decl_inner.append((line, comment_body(text[i:end])))
                    line += count_lines(text[i:end])
                    i = end
                    decl.append(" ")
                    continue
                ch = text[i]
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                if ch == "\n":
                    line += 1
                    decl.append(" ")
                else:
                    decl.append(ch)
                i += 1
            continue
        i += 1
        if c == ";":
            items.append(Item("decl", re.sub(r"\s+", " ", "".join(decl)).strip(), decl_line,
                              inner=decl_inner, raw=text[decl_start:i]))
            decl, decl_inner = [], []
    if decl:
        raise HeaderError("line %d: unterminated declaration" % decl_line)
    return items


# --------------------------------------------------------------------------
# Declarations
# --------------------------------------------------------------------------

def norm_type(t, where):
    t = re.sub(r"\s+", " ", t).strip()
    stars = t.count("*")
    base = t.replace("*", " ").strip()
    base = re.sub(r"\s+", " ", base)
    if stars and re.search(r"\*\s*const", t):
        raise HeaderError("%s: const pointers are not part of the flat ABI: %r" % (where, t))
    return base + (" " + "*" * stars if stars else "")


def type_info(ctype, callbacks, where):
    """{'c': spelling, 'ffi': libffi type} for a parameter, return or field
    type; raises HeaderError for anything that is not flat."""
    if ctype.endswith("*"):
        return {"c": ctype, "ffi": "pointer"}
    base = ctype[len("const "):] if ctype.startswith("const ") else ctype
    if base in callbacks:
        return {"c": ctype, "ffi": "pointer", "callback": base}
    if base in SCALARS:
        return {"c": ctype, "ffi": SCALARS[base]}
    raise HeaderError("%s: type %r is not a fixed-width integer, pointer or callback "
                      "(no structs by value in the flat ABI)" % (where, ctype))


def split_params(params, where):
    params = params.strip()
    if params == "void":
        return []
    if not params:
        raise HeaderError("%s: write (void) for no parameters" % where)
    out = []
    for p in params.split(","):
        p = p.strip()
        if p == "...":
            raise HeaderError("%s: variadic functions are not part of the flat ABI" % where)
        m = re.match(r"^(.*?)(\w+)$", p)
        if not m or not m.group(1).strip():
            raise HeaderError("%s: parameter %r needs a type and a name" % (where, p))
        out.append((norm_type(m.group(1), where), m.group(2)))
    return out


FUNC = re.compile(r"^RK_API (.+?)\b(rk_\w+) ?\((.*)\);$")
CALLBACK = re.compile(r"^typedef (.+?) ?\( ?\* ?(rk_\w+) ?\) ?\((.*)\);$")
HANDLE = re.compile(r"^typedef struct (rk_\w+) (rk_\w+);$")
STRUCT = re.compile(r"^typedef struct (rk_\w+) ?\{(.*)\} ?(rk_\w+);$")
FIELD = re.compile(r"^(.+?)\b(\w+)(?:\[(\d+)\])?$")
DEFINE = re.compile(r"^#define (RK_[A-Z0-9_]+) (.+)$")


class Header:
    """The parsed header: functions, callbacks, handles, structs, constants
    (in header order), and the items for the documentation."""

    def __init__(self, text):
        self.items = scan(text)
        self.functions, self.callbacks, self.handles, self.structs = [], [], [], []
        self.constants = []
        self.version = {}
        cbnames = set()
        for it in self.items:
            if it.kind == "pp":
                m = DEFINE.match(it.text)
                if m and m.group(1) != "RK_API" and "(" not in m.group(1):
                    name, expr = m.group(1), m.group(2).strip()
                    if name.startswith("RK_VERSION_"):
                        self.version[name] = int(expr)
                    self.constants.append({"name": name, "expr": expr})
                continue
            if it.kind != "decl":
                continue
            where = "ringkit.h:%d" % it.line
            d = it.text
            m = FUNC.match(d)
            if m:
                ret = norm_type(m.group(1), where)
                params = split_params(m.group(3), where)
                self.functions.append({
                    "name": m.group(2), "line": it.line,
                    "returns": type_info(ret, cbnames, where),
                    "params": [dict(name=pn, **type_info(pt, cbnames, where))
                               for pt, pn in params]})
                continue
            m = CALLBACK.match(d)
            if m:
                ret = norm_type(m.group(1), where)
                params = split_params(m.group(3), where)
                cbnames.add(m.group(2))
                self.callbacks.append({
                    "name": m.group(2), "line": it.line,
                    "returns": type_info(ret, cbnames, where),
                    "params": [dict(name=pn, **type_info(pt, cbnames, where))
                               for pt, pn in params]})
                continue
            m = HANDLE.match(d)
            if m:
                if m.group(1) != m.group(2):
                    raise HeaderError("%s: typedef struct X X expected" % where)
                self.handles.append(m.group(1))
                continue
            m = STRUCT.match(d)
            if m:
                if m.group(1) != m.group(3):
                    raise HeaderError("%s: typedef struct X {...} X expected" % where)
                self.structs.append(self._struct(m.group(1), m.group(2), it, where))
                continue
            if d.startswith("extern ") or d.startswith("static "):
                raise HeaderError("%s: no variables or inline functions in the ABI: %r"
                                  % (where, d))
            raise HeaderError("%s: declaration not understood: %r" % (where, d))

    @staticmethod
    def _struct(name, body, item, where):
        fields, offset, align = [], 0, 1
        # Field comments carry the documented offset as "[N]": check it.
        documented = [c for _, c in item.inner]
        decls = [f.strip() for f in body.split(";") if f.strip()]
        for f in decls:
            m = FIELD.match(f)
            if not m:
                raise HeaderError("%s: field %r not understood" % (where, f))
            ctype = norm_type(m.group(1), where)
            info = type_info(ctype, set(), where)
            if info["ffi"] not in SIZES:
                raise HeaderError("%s: field %r has no size" % (where, f))
            size = SIZES[info["ffi"]]
            count = int(m.group(3) or 1)
            offset = (offset + size - 1) // size * size
            fields.append(dict(name=m.group(2), c=ctype, ffi=info["ffi"], offset=offset,
                               size=size * count, count=count))
            offset += size * count
            align = max(align, size)
        total = (offset + align - 1) // align * align
        doc_offsets = [re.match(r"^\[(\d+)\]", c) for c in documented]
        doc_offsets = [int(m.group(1)) for m in doc_offsets if m]
        if doc_offsets and doc_offsets != [f["offset"] for f in fields]:
            raise HeaderError("%s: the [offset] comments of %s say %s, the fields are at %s"
                              % (where, name, doc_offsets, [f["offset"] for f in fields]))
        return {"name": name, "line": item.line, "size": total, "align": align,
                "fields": fields}


# --------------------------------------------------------------------------
# Doc comments as blocks, and declarations as printed: what every renderer
# of the header (doc/api.md, the man pages) lays out its own way.
# --------------------------------------------------------------------------

def comment_blocks(text):
    """A doc comment's text as a list of (kind, payload): unindented lines
    are a paragraph ("para", [lines]); an indented run is a bullet list
    ("list", [items]) when it starts with "- ", preformatted ("pre", [lines])
    when it lines things up (two spaces inside a line, or deeper indents),
    else prose ("text", str)."""
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        if not lines[i].startswith(" "):
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(" "):
                para.append(lines[i].strip())
                i += 1
            out.append(("para", para))
            continue
        run = []
        while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
            if not lines[i].strip() and (i + 1 >= len(lines) or not lines[i + 1].startswith(" ")):
                break
            run.append(lines[i])
            i += 1
        body = textwrap.dedent("\n".join(run)).split("\n")
        if body[0].startswith("- "):
            items = []
            for l in body:
                if l.startswith("- "):
                    items.append([l[2:].strip()])
                else:
                    items[-1].append(l.strip())
            out.append(("list", [" ".join(x) for x in items]))
        elif any(re.search(r"\S  +\S", l) for l in body) or any(l.startswith(" ") for l in body):
            out.append(("pre", body))
        else:
            out.append(("text", " ".join(l.strip() for l in body)))
    return out


def decl_lines(item):
    """A declaration as the documentation prints it: RK_API dropped and the
    continuation lines that were aligned under its parenthesis moved back."""
    lines = textwrap.dedent(item.raw).rstrip().split("\n")
    if lines[0].startswith("RK_API "):
        lines = [lines[0][len("RK_API "):]] + \
                [l[7:] if l.startswith(" " * 7) else l for l in lines[1:]]
    return lines


# --------------------------------------------------------------------------
# The version script
# --------------------------------------------------------------------------

def parse_map(text):
    """[(node, [explicit names], [patterns])] of a GNU ld version script,
    global sections only."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"#[^\n]*", "", text)
    nodes = []
    for m in re.finditer(r"([\w.]+)\s*\{(.*?)\}\s*[\w.]*\s*;", text, re.S):
        body = m.group(2)
        glob = re.search(r"global:(.*?)(local:|$)", body, re.S)
        names, patterns = [], []
        for sym in (glob.group(1) if glob else "").split(";"):
            sym = sym.strip()
            if not sym:
                continue
            (patterns if any(ch in sym for ch in "*?[") else names).append(sym)
        nodes.append((m.group(1), names, patterns))
    return nodes


def version_node(nodes, name):
    """The node ld gives `name`: an explicit listing wins over a pattern."""
    for node, names, _ in nodes:
        if name in names:
            return node
    for node, _, patterns in nodes:
        if any(fnmatch.fnmatchcase(name, p) for p in patterns if p != "*"):
            return node
    for node, _, patterns in nodes:
        if "*" in patterns:
            return node
    return None
