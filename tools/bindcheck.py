#!/usr/bin/env python3
"""The hand-written FFI declarations of the bindings against the ABI listing.

  bindcheck.py LISTING RINGKIT_FFI_LUA RINGKIT_CTYPES_PY

Reads both files as text (nothing is loaded or run), then checks:
  * the LuaJIT cdef (ffi.cdef [[...]] in bindings/lua/ringkit_ffi.lua): every
    rk_* function it declares has the listed parameter count and libffi
    types; every listed struct it defines has the listed layout. Listed
    functions it does not declare are printed (the LuaJIT module cannot
    call them) but do not fail the check.
  * the ctypes backend (bindings/ctypes/ringkit_ctypes.py): SIGNATURES names
    exactly the listed functions, each with the listed types; every
    ctypes.Structure it defines for a listed struct (OpDesc for rk_op_desc)
    has the listed layout.
A mismatch is a call that passes or returns the wrong width or signedness
(an int64 id truncated to int) or a record read at the wrong offsets.
"""
import ast
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rkheader  # noqa: E402

SIZES = rkheader.SIZES


def layout(fields):
    """[(name, ffi, count)] -> ([(name, offset, size)], size, align), natural
    alignment as the C compiler lays out a struct on LP64."""
    out, off, align = [], 0, 1
    for name, ffi, count in fields:
        size = SIZES[ffi]
        off = (off + size - 1) // size * size
        out.append((name, off, size * count))
        off += size * count
        align = max(align, size)
    return out, (off + align - 1) // align * align, align


def differ(got, want):
    """The first difference of two layouts, in words."""
    (gf, gs, ga), (wf, ws, wa) = got, want
    for g, w in zip(gf, wf):
        if g != w:
            return "field %s at %d, %d bytes; the listing: %s at %d, %d bytes" % (g + w)
    if len(gf) != len(wf):
        return "%d fields; the listing %d" % (len(gf), len(wf))
    return "size %d, align %d; the listing %d, %d" % (gs, ga, ws, wa)


def listed_layout(st):
    return [(f["name"], f["offset"], f["size"]) for f in st["fields"]], st["size"], st["align"]


# --------------------------------------------------------------------------
# LuaJIT: C declarations
# --------------------------------------------------------------------------

def cdef_text(lua):
    m = re.search(r"ffi\.cdef\s*\[\[(.*?)\]\]", lua, re.S)
    if not m:
        raise SystemExit("no ffi.cdef [[...]] block")
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", m.group(1), flags=re.S)


def c_ffi(ctype, where):
    ctype = rkheader.norm_type(ctype, where)
    if ctype.endswith("*"):
        return "pointer"
    base = ctype[len("const "):] if ctype.startswith("const ") else ctype
    return rkheader.SCALARS.get(base)



def compare(where, ret, ret_text, args, f, problems):
    """One binding's declaration of a function against the listing's entry f:
    ret is its return type as a libffi name (ret_text as the binding spells
    it), args its parameters as (libffi name, spelling, name)."""
    if ret != f["returns"]["ffi"]:
        problems.append("%s returns %s, the listing says %s" % (where, ret_text, f["returns"]["c"]))
    if len(args) != len(f["params"]):
        problems.append("%s has %d parameters, the listing %d"
                        % (where, len(args), len(f["params"])))
        return
    for (ffi, text, name), lp in zip(args, f["params"]):
        if ffi != lp["ffi"]:
            problems.append("%s parameter %s is %s, the listing says %s %s"
                            % (where, name, text, lp["c"], lp["name"]))

def check_lua(L, text, problems, notes):
    listed = {f["name"]: f for f in L["functions"]}
    structs = {s["name"]: s for s in L["structs"]}
    decls = [d.strip() for d in re.sub(r"\s+", " ", text).split(";") if d.strip()]
    seen = set()
    for d in decls:
        m = re.match(r"^typedef struct (\w+) ?\{(.*)\} ?(\w+)$", d + "}" if d.count("{") >
                     d.count("}") else d)
        if m:
            continue
        m = re.match(r"^(.+?)\b(rk_\w+) ?\((.*)\)$", d)
        if not m or d.startswith("typedef"):
            continue
        name = m.group(2)
        seen.add(name)
        where = "ringkit_ffi.lua %s" % name
        if name not in listed:
            problems.append("%s is declared but not in the listing" % where)
            continue
        ret = c_ffi(m.group(1), where)
        params = rkheader.split_params(m.group(3), where)
        compare(where, ret, "%s (%s)" % (m.group(1).strip(), ret),
                [(c_ffi(pt, where), pt, pn) for pt, pn in params], listed[name], problems)
    missing = sorted(set(listed) - seen)
    if missing:
        notes.append("ringkit_ffi.lua does not declare %d listed functions: %s"
                     % (len(missing), ", ".join(missing)))
    # Struct definitions, split at the braces (the declaration split above
    # cuts them at their field semicolons).
    for m in re.finditer(r"typedef struct (\w+) ?\{(.*?)\} ?(\w+) ?;", re.sub(r"\s+", " ", text)):
        name = m.group(3)
        if name not in structs:
            continue
        fields = []
        for decl in [x.strip() for x in m.group(2).split(";") if x.strip()]:
            fm = re.match(r"^(.+?)\s+([\w\[\], ]+)$", decl)
            ffi = c_ffi(fm.group(1), name) if fm else None
            if not fm or not ffi:
                problems.append("ringkit_ffi.lua %s: field %r not understood" % (name, decl))
                break
            for dn in fm.group(2).split(","):
                dm = re.match(r"^\s*(\w+)(?:\[(\d+)\])?\s*$", dn)
                fields.append((dm.group(1), ffi, int(dm.group(2) or 1)))
        else:
            notes.append("ringkit_ffi.lua: struct %s checked" % name)
            got = layout(fields)
            want = listed_layout(structs[name])
            if got != want:
                problems.append("ringkit_ffi.lua %s: %s" % (name, differ(got, want)))


# --------------------------------------------------------------------------
# ctypes: the module's AST
# --------------------------------------------------------------------------

CTYPES = {"c_int8": "sint8", "c_uint8": "uint8", "c_int16": "sint16", "c_uint16": "uint16",
          "c_int32": "sint32", "c_uint32": "uint32", "c_int64": "sint64", "c_uint64": "uint64",
          "c_int": "sint32", "c_uint": "uint32", "c_size_t": "uint64", "c_char": "sint8",
          "c_void_p": "pointer", "c_char_p": "pointer"}


def ctypes_ffi(node, aliases):
    """The libffi type an expression names, with its count for arrays."""
    if isinstance(node, ast.Constant) and node.value is None:
        return "void", 1
    if isinstance(node, ast.Name):
        return aliases.get(node.id, (None, 1))
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
            node.value.id == "ctypes":
        return CTYPES.get(node.attr), 1
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr in ("CFUNCTYPE", "POINTER"):
        return "pointer", 1
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and \
            isinstance(node.right, ast.Constant):
        ffi, n = ctypes_ffi(node.left, aliases)
        return ffi, n * node.right.value
    return None, 1


def snake(cls):
    return "rk_" + re.sub(r"(?<!^)([A-Z])", r"_\1", cls).lower()


def check_ctypes(L, text, problems, notes):
    listed = {f["name"]: f for f in L["functions"]}
    structs = {s["name"]: s for s in L["structs"]}
    tree = ast.parse(text)
    aliases, signatures = {}, None
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == "SIGNATURES":
                    signatures = node.value
                elif isinstance(target, ast.Name):
                    ffi = ctypes_ffi(node.value, aliases)
                    if ffi[0]:
                        aliases[target.id] = ffi
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for t, v in zip(target.elts, node.value.elts):
                        ffi = ctypes_ffi(v, aliases)
                        if isinstance(t, ast.Name) and ffi[0]:
                            aliases[t.id] = ffi
        elif isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Attribute) and b.attr == "Structure" for b in node.bases):
            name = snake(node.name)
            aliases[node.name] = ("struct", 1)
            if name not in structs:
                continue
            for item in node.body:
                if isinstance(item, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == "_fields_" for t in item.targets):
                    fields = []
                    for elt in item.value.elts:
                        fname = elt.elts[0].value
                        ffi, n = ctypes_ffi(elt.elts[1], aliases)
                        if ffi not in SIZES:
                            problems.append("ringkit_ctypes.py %s.%s: type not understood"
                                            % (node.name, fname))
                            break
                        fields.append((fname, ffi, n))
                    else:
                        notes.append("ringkit_ctypes.py: struct %s checked" % name)
                        got, want = layout(fields), listed_layout(structs[name])
                        if got != want:
                            problems.append("ringkit_ctypes.py %s (%s): %s"
                                            % (node.name, name, differ(got, want)))
    if signatures is None:
        problems.append("ringkit_ctypes.py has no SIGNATURES table")
        return
    seen = set()
    for k, v in zip(signatures.keys, signatures.values):
        name = k.value
        seen.add(name)
        where = "ringkit_ctypes.py SIGNATURES[%r]" % name
        if name not in listed:
            problems.append("%s is not in the listing" % where)
            continue
        f = listed[name]
        restype, argtypes = v.elts
        ret = ctypes_ffi(restype, aliases)[0]
        args = [ctypes_ffi(a, aliases)[0] for a in argtypes.elts]
        names = [p["name"] for p in f["params"]] + ["?"] * len(args)
        compare(where, ret, ret, [(a, a, n) for a, n in zip(args, names)], f, problems)
    for name in sorted(set(listed) - seen):
        problems.append("ringkit_ctypes.py SIGNATURES lacks %s (%s)"
                        % (name, listed[name]["since"]))


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    with open(argv[1]) as f:
        L = json.load(f)
    if "error" in L:
        print(L["error"])
        return 1
    problems, notes = [], []
    with open(argv[2]) as f:
        check_lua(L, cdef_text(f.read()), problems, notes)
    with open(argv[3]) as f:
        check_ctypes(L, f.read(), problems, notes)
    for n in notes:
        print("note: " + n)
    for p in problems:
        print(p)
    print("%d problems" % len(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
