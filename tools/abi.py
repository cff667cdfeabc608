#!/usr/bin/env python3
"""The ABI listing of libringkit and the checks that keep it true.

  abi.py listing HEADER MAP [OPS.json] OUT.json
                                       the machine-readable listing (doc/abi.json);
                                       OPS.json is the op table as the library
                                       gives it (tests/abi/abi_ops.c)
  abi.py desctable LISTING HEADER [--write]
                                       fails (with a diff) when ringkit.h's
                                       rk_op_desc table differs from the op
                                       table; --write rewrites it
  abi.py ctable LISTING OUT.h          the listing as C tables (for the libffi test)
  abi.py ccheck LISTING OUT.c          a C program checking the listing against
                                       the compiler's view of ringkit.h and the
                                       library's rk_constant table
  abi.py current GENERATED CHECKED_IN  fails (with a diff) when a checked-in
                                       generated file is stale
  abi.py symbols LISTING LIB           the library's dynamic symbols (nm -D)
                                       against the listing, version nodes included
  abi.py compat LIB HEADERS BASELINE.. abidiff against each committed baseline:
                                       additions pass, removals and changes fail
  abi.py baseline LIB HEADERS OUT      writes a baseline with abidw
  abi.py update GEN DEST [GEN DEST..]  copies generated files over checked-in ones

Refresh the checked-in copies after changing the header on purpose:
  ninja -C build abi-update            (doc/abi.json and doc/api.md)
See doc/abi.md for the listing's format and the versioning rules.
"""
import difflib
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rkheader  # noqa: E402

SKIP = 77


# --------------------------------------------------------------------------
# listing
# --------------------------------------------------------------------------

def make_listing(header_path, map_path, ops_path=None):
    with open(header_path) as f:
        h = rkheader.Header(f.read())
    with open(map_path) as f:
        nodes = rkheader.parse_map(f.read())

    def strip(d):
        return {k: v for k, v in d.items() if k != "line"}

    functions = []
    for fn in h.functions:
        since = rkheader.version_node(nodes, fn["name"])
        if since is None:
            raise rkheader.HeaderError("%s is not exported by %s" % (fn["name"], map_path))
        functions.append({"name": fn["name"], "since": since, "returns": fn["returns"],
                          "params": fn["params"]})
    ops = load(ops_path) if ops_path else []
    check_ops(ops, functions)
    v = h.version
    return {
        "about": "The flat C ABI of libringkit, generated from include/ringkit.h, "
                 "src/ringkit.map and the op table (src/ops.def, as rk_op_info_of gives "
                 "it) by tools/abi.py; see doc/abi.md. Do not edit.",
        "version": "%d.%d.%d" % (v["RK_VERSION_MAJOR"], v["RK_VERSION_MINOR"],
                                 v["RK_VERSION_PATCH"]),
        "soname": "libringkit.so.%d" % v["RK_VERSION_MAJOR"],
        "data_model": "LP64",
        "handles": h.handles,
        "callbacks": [strip(c) for c in h.callbacks],
        "structs": [strip(s) for s in h.structs],
        "functions": functions,
        "constants": [c["name"] for c in h.constants],
        "ops": ops,
    }


ARG_FFI = {"s32": "sint32", "u32": "uint32", "u16": "uint16", "s64": "sint64", "u64": "uint64",
           "ptr": "pointer"}


def check_ops(ops, functions):
    """Each row's arguments are its prep's parameters between ring and flags:
    the same names, in the same order, of the same types (a row with two
    arguments swapped would still compile)."""
    by_name = {f["name"]: f for f in functions}
    for op in ops:
        prep = by_name.get("rk_prep_" + op["name"])
        if not prep:
            raise rkheader.HeaderError("src/ops.def row %s: no rk_prep_%s in the header"
                                       % (op["name"].upper(), op["name"]))
        params = [(p["name"], p["ffi"]) for p in prep["params"][1:-1]]
        args = [(a["name"], ARG_FFI[a["type"]]) for a in op["args"]]
        if params != args:
            raise rkheader.HeaderError("src/ops.def row %s has arguments %s; rk_prep_%s takes %s"
                                       % (op["name"].upper(), args, op["name"], params))


def dump(obj, indent=0):
    """JSON with one line per leaf object (a parameter, a field), so the file
    reads like a table and diffs line by line."""
    pad = "  " * indent
    if isinstance(obj, dict):
        if all(not isinstance(v, (dict, list)) for v in obj.values()) or \
                (len(obj) <= 4 and all(not isinstance(v, list) for v in obj.values())):
            return json.dumps(obj)
        inner = ",\n".join("%s  %s: %s" % (pad, json.dumps(k), dump(v, indent + 1))
                           for k, v in obj.items())
        return "{\n%s\n%s}" % (inner, pad)
    if isinstance(obj, list):
        if not obj:
            return "[]"
        if all(isinstance(v, str) for v in obj):
            lines, line = [], ""
            for v in obj:
                piece = json.dumps(v)
                if line and len(pad) + 2 + len(line) + len(piece) + 2 > 96:
                    lines.append(line.rstrip())
                    line = ""
                line += piece + ", "
            lines.append(line.rstrip(", "))
            return "[\n%s\n%s]" % ("\n".join(pad + "  " + l for l in lines), pad)
        inner = ",\n".join(pad + "  " + dump(v, indent + 1) for v in obj)
        return "[\n%s\n%s]" % (inner, pad)
    return json.dumps(obj)


# A header the generators cannot accept does not stop the build (everyone's
# tests would go dark): the outputs carry the error instead, and every test
# that reads them fails with it.
ERROR_MARK = "ABI GENERATOR ERROR: "


def cmd_listing(header, mapfile, *rest):
    if len(rest) not in (1, 2):
        sys.exit(__doc__)
    ops, out = (None, rest[0]) if len(rest) == 1 else rest
    try:
        text = dump(make_listing(header, mapfile, ops)) + "\n"
    except rkheader.HeaderError as e:
        print("ringkit.h: %s" % e, file=sys.stderr)
        text = json.dumps({"error": ERROR_MARK + str(e)}) + "\n"
    json.loads(text)  # the pretty printer must produce valid JSON
    with open(out, "w") as f:
        f.write(text)


def error_program(out, msg, header_only=False):
    lit = json.dumps(msg)  # a valid C string literal for these characters
    with open(out, "w") as f:
        if header_only:
            f.write("#define ABI_ERROR %s\n" % lit)
        else:
            f.write("#include <stdio.h>\nint main(void)\n{\n\tfputs(%s \"\\n\", stderr);\n"
                    "\treturn 1;\n}\n" % lit)


def load(path):
    with open(path) as f:
        return json.load(f)


# --------------------------------------------------------------------------
# C views of the listing
# --------------------------------------------------------------------------

def cstr(s):
    return '"%s"' % s if s is not None else "NULL"


def cmd_ctable(listing, out):
    L = load(listing)
    if "error" in L:
        return error_program(out, L["error"], header_only=True)
    maxp = max(len(f["params"]) for f in L["functions"] + L["callbacks"])
    maxf = max(len(s["fields"]) for s in L["structs"])
    o = ["/* Generated by tools/abi.py from the ABI listing: do not edit. */",
         "#define ABI_VERSION %s" % cstr(L["version"]),
         "#define ABI_SONAME %s" % cstr(L["soname"]),
         "#define ABI_MAXP %d" % maxp,
         "#define ABI_MAXF %d" % maxf,
         "struct abi_type { const char *name; const char *c; const char *ffi; const char *callback; };",
         "struct abi_fn { const char *name; const char *since; struct abi_type ret; int nparams;",
         "                struct abi_type params[ABI_MAXP]; };",
         "struct abi_field { const char *name; const char *ffi; unsigned offset, size, count; };",
         "struct abi_struct { const char *name; unsigned size, align; int nfields;",
         "                    struct abi_field fields[ABI_MAXF]; };"]

    def ty(t, name=None):
        return "{%s, %s, %s, %s}" % (cstr(name), cstr(t["c"]), cstr(t["ffi"]),
                                     cstr(t.get("callback")))

    def fns(var, items):
        o.append("static const struct abi_fn %s[] = {" % var)
        for f in items:
            ps = ", ".join(ty(p, p["name"]) for p in f["params"]) or "{0}"
            o.append("\t{%s, %s, %s, %d, {%s}}," % (cstr(f["name"]), cstr(f.get("since")),
                                                    ty(f["returns"]), len(f["params"]), ps))
        o.append("};")

    fns("abi_functions", L["functions"])
    fns("abi_callbacks", L["callbacks"])
    o.append("static const struct abi_struct abi_structs[] = {")
    for s in L["structs"]:
        fs = ", ".join("{%s, %s, %d, %d, %d}" % (cstr(f["name"]), cstr(f["ffi"]), f["offset"],
                                                 f["size"], f["count"]) for f in s["fields"])
        o.append("\t{%s, %d, %d, %d, {%s}}," % (cstr(s["name"]), s["size"], s["align"],
                                               len(s["fields"]), fs))
    o.append("};")
    o.append("static const char *const abi_constants[] = {")
    o += ["\t%s," % cstr(c) for c in L["constants"]]
    o.append("};")
    o.append("#define ABI_NFUNCTIONS %d" % len(L["functions"]))
    o.append("#define ABI_NCALLBACKS %d" % len(L["callbacks"]))
    o.append("#define ABI_NSTRUCTS %d" % len(L["structs"]))
    o.append("#define ABI_NCONSTANTS %d" % len(L["constants"]))
    with open(out, "w") as f:
        f.write("\n".join(o) + "\n")


def fnptr_type(f):
    params = ", ".join(p["c"] for p in f["params"]) or "void"
    return "%s (*)(%s)" % (f["returns"]["c"], params)


def cmd_ccheck(listing, out):
    """A C program that fails when the compiler's view of ringkit.h and the
    listing differ in any function type, struct layout or constant."""
    L = load(listing)
    if "error" in L:
        return error_program(out, L["error"])
    o = ["/* Generated by tools/abi.py from the ABI listing: do not edit.",
         " * Checks the listing against the compiler's view of ringkit.h (function",
         " * types, struct layouts, integer types) and rk_constant's table. */",
         "#include <stddef.h>", "#include <stdint.h>", "#include <stdio.h>",
         '#include "ringkit.h"', "",
         "static int checks, failures;",
         "#define EXPECT(cond, ...) do { checks++; if (!(cond)) { failures++; \\",
         "\tfprintf(stderr, __VA_ARGS__); fputc('\\n', stderr); } } while (0)",
         "#define SAME(a, b) __builtin_types_compatible_p(a, b)",
         "#define SIGNED(t) ((t)~(t)0 < (t)1)",
         "", "int main(void)", "{"]
    # Every scalar type the listing names has the size and signedness its
    # libffi name claims.
    scalars = {}
    for f in L["functions"] + L["callbacks"]:
        for t in [f["returns"]] + f["params"]:
            if t["ffi"] not in ("pointer", "void"):
                scalars[t["c"]] = t["ffi"]
    for s in L["structs"]:
        for fl in s["fields"]:
            if fl["ffi"] != "pointer":
                scalars[fl["c"]] = fl["ffi"]
    for c, ffi in sorted(scalars.items()):
        bits = int(re.sub(r"\D", "", ffi))
        o.append('\tEXPECT(sizeof(%s) * 8 == %d && SIGNED(%s) == %d, "%s is not %s");'
                 % (c, bits, c, ffi.startswith("s"), c, ffi))
    for s in L["structs"]:
        n = s["name"]
        o.append('\tEXPECT(sizeof(%s) == %d, "sizeof(%s) is %%zu, the listing says %d", sizeof(%s));'
                 % (n, s["size"], n, s["size"], n))
        o.append('\tEXPECT(_Alignof(%s) == %d, "_Alignof(%s) is %%zu, the listing says %d", '
                 "(size_t)_Alignof(%s));" % (n, s["align"], n, s["align"], n))
        last = 0
        for fl in s["fields"]:
            m = "((%s *)0)->%s" % (n, fl["name"])
            elem = m + ("[0]" if fl["count"] > 1 else "")
            o.append('\tEXPECT(offsetof(%s, %s) == %d, "offsetof(%s, %s) is %%zu, the listing says %d", '
                     "offsetof(%s, %s));" % (n, fl["name"], fl["offset"], n, fl["name"],
                                             fl["offset"], n, fl["name"]))
            o.append('\tEXPECT(sizeof(%s) == %d, "%s.%s has %%zu bytes, the listing says %d", sizeof(%s));'
                     % (m, fl["size"], n, fl["name"], fl["size"], m))
            o.append('\tEXPECT(SAME(__typeof__(%s), %s), "%s.%s is not %s");'
                     % (elem, fl["c"], n, fl["name"], fl["c"]))
            last = fl["offset"] + fl["size"]
        # No field hidden from the listing: the fields cover the struct.
        o.append('\tEXPECT(%d == sizeof(%s), "%s has bytes after its last listed field");'
                 % (last, n, n))
    for cb in L["callbacks"]:
        o.append('\tEXPECT(SAME(%s, %s), "%s is not %s in ringkit.h");'
                 % (cb["name"], fnptr_type(cb), cb["name"], fnptr_type(cb)))
    for f in L["functions"]:
        o.append('\tEXPECT(SAME(__typeof__(&%s), %s), "%s is not %s in ringkit.h");'
                 % (f["name"], fnptr_type(f), f["name"], fnptr_type(f)))
    # rk_constant knows every integer constant of the header, with its value.
    for c in L["constants"]:
        o.append('\t{ int64_t v = 0; int r = rk_constant("%s", &v); '
                 'EXPECT(r == 0 && v == (int64_t)(%s), "rk_constant(\\"%s\\") gives %%d, %%lld; '
                 'the header says %%lld", r, (long long)v, (long long)(%s)); }'
                 % (c, c, c, c))
    o += ['\tprintf("%d checks, %d failed\\n", checks, failures);',
          "\treturn failures ? 1 : 0;", "}"]
    with open(out, "w") as f:
        f.write("\n".join(o) + "\n")


# --------------------------------------------------------------------------
# checks run as tests
# --------------------------------------------------------------------------

def cmd_current(generated, checked_in, *how):
    with open(generated) as f:
        new = f.read()
    try:
        with open(checked_in) as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    if ERROR_MARK in new:
        print(new[new.index(ERROR_MARK):].split("\n")[0])
        return 1
    if new == old:
        print("%s is current" % checked_in)
        return 0
    sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                               checked_in, generated))
    print("\n%s is stale: the header changed. Regenerate it with `ninja -C <builddir> "
          "abi-update`%s and commit it." % (checked_in, "".join(how)))
    return 1


def cmd_update(*pairs):
    """Copies generated files over their checked-in copies, unless one of
    them carries a generator error; with --desctable LISTING HEADER first
    rewrites the header's rk_op_desc table from the op table."""
    if len(pairs) > 3 and pairs[-3] == "--desctable":
        if cmd_desctable(pairs[-2], pairs[-1], "--write"):
            return 1
        pairs = pairs[:-3]
    if not pairs or len(pairs) % 2:
        sys.exit(__doc__)
    for gen in pairs[0::2]:
        with open(gen) as f:
            text = f.read()
        if ERROR_MARK in text:
            print(text[text.index(ERROR_MARK):].split("\n")[0])
            return 1
    for gen, dest in zip(pairs[0::2], pairs[1::2]):
        shutil.copyfile(gen, dest)
        print("updated %s" % dest)
    return 0


# --------------------------------------------------------------------------
# the header's rk_op_desc table, from the op table
# --------------------------------------------------------------------------

DESC_FIELDS = ["fd", "len", "off", "addr", "addr2", "arg1", "arg2", "fd2"]
DESC_HEAD = re.compile(r"^ \*   op\s+fd\s+len\s+off")


def desc_table(ops):
    """The table's lines: one op per row, the parameter each field carries."""
    rows = [["op"] + DESC_FIELDS]
    for op in ops:
        by_field = {a["field"]: a["name"] for a in op["args"]}
        rows.append([op["name"].upper()] + [by_field.get(f, "-") for f in DESC_FIELDS])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [(" *   " + "  ".join(c.ljust(w) for c, w in zip(r, widths))).rstrip() + "\n"
            for r in rows]


def desc_block(lines):
    """[start, end) of the table in the header's lines."""
    for i, line in enumerate(lines):
        if DESC_HEAD.match(line):
            j = i
            while j < len(lines) and lines[j].rstrip() != " *":
                j += 1
            return i, j
    raise rkheader.HeaderError("the rk_op_desc table (a line ' *   op  fd  len  off ...') "
                               "is not in the header")


def cmd_desctable(listing, header, *how):
    L = load(listing)
    if "error" in L:
        print(L["error"])
        return 1
    with open(header) as f:
        lines = f.readlines()
    start, end = desc_block(lines)
    want = desc_table(L["ops"])
    if lines[start:end] == want:
        print("the rk_op_desc table of %s matches the op table" % header)
        return 0
    if how == ("--write",):
        with open(header, "w") as f:
            f.writelines(lines[:start] + want + lines[end:])
        print("rewrote the rk_op_desc table of %s" % header)
        return 0
    sys.stdout.writelines(difflib.unified_diff(lines[start:end], want, header, "src/ops.def"))
    print("\nThe rk_op_desc table in %s differs from src/ops.def: `ninja -C <builddir> "
          "abi-update` rewrites it (run it twice: api.md follows the header)." % header)
    return 1


def exported(lib):
    """{name: (version node, default?)} of the defined dynamic symbols, and
    the list of those that are not functions."""
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    funcs, others = {}, []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        _, kind, sym = parts
        if kind == "A":
            continue  # a version node's own symbol
        m = re.match(r"^([^@]+)(@@?)(.*)$", sym)
        name, at, node = (m.group(1), m.group(2), m.group(3)) if m else (sym, "", "")
        if kind in "Tt" and name.startswith("rk_"):
            funcs[name] = (node, at == "@@")
        else:
            others.append(sym)
    return funcs, others


def cmd_symbols(listing, lib):
    L = load(listing)
    if "error" in L:
        print(L["error"])
        return 1
    funcs, others = exported(lib)
    listed = {f["name"]: f["since"] for f in L["functions"]}
    errors = []
    for name in sorted(set(listed) - set(funcs)):
        errors.append("%s is in the listing (so in ringkit.h) but not exported by %s"
                      % (name, os.path.basename(lib)))
    for name in sorted(set(funcs) - set(listed)):
        errors.append("%s is exported but not declared in ringkit.h" % name)
    for name in sorted(set(funcs) & set(listed)):
        node, default = funcs[name]
        if node != listed[name]:
            errors.append("%s is exported in %s, the listing says %s"
                          % (name, node or "no version node", listed[name]))
        elif not default:
            errors.append("%s@%s is not the default version" % (name, node))
    for sym in others:
        errors.append("%s is exported but is not an rk_* function (variables and other "
                      "names are not part of the ABI)" % sym)
    for e in errors:
        print(e)
    print("%d functions listed, %d exported, %d problems" % (len(listed), len(funcs), len(errors)))
    return 1 if errors else 0


SUMMARY = re.compile(r"^(Functions|Variables) changes summary: (\d+) Removed(?: \([^)]*\))?, "
                     r"(\d+) Changed(?: \([^)]*\))?, (\d+) Added")
SYMBOLS = re.compile(r"^(Function|Variable) symbols changes summary: (\d+) Removed, (\d+) Added")


def cmd_compat(lib, headers, *baselines):
    abidiff = shutil.which("abidiff")
    if not abidiff:
        print("abidiff not found (Debian: apt-get install abigail-tools)")
        return SKIP
    if not baselines:
        print("no baseline ABI dump given")
        return 1
    with open(lib, "rb") as f:
        machine = int.from_bytes(f.read(20)[18:20], "little")  # ELF e_machine
    arch = {62: "elf-amd-x86_64", 183: "elf-arm-aarch64"}.get(machine, "e_machine %d" % machine)
    status = 0
    for base in baselines:
        with open(base) as f:
            m = re.search(r"architecture='([^']*)'", f.read(4096))
        if m and m.group(1) != arch:
            print("%s was made on %s, this library is %s: no baseline to compare with"
                  % (base, m.group(1), arch))
            return SKIP
        r = subprocess.run([abidiff, "--headers-dir2", headers, base, lib],
                           capture_output=True, text=True)
        out = r.stdout + r.stderr
        print("== %s against %s (abidiff exit %d)" % (os.path.basename(lib), base, r.returncode))
        print(out.rstrip())
        if r.returncode & 3:  # 1: abidiff failed, 2: usage error
            print("abidiff could not compare")
            status = 1
            continue
        removed = changed = 0
        seen = False
        for line in out.splitlines():
            m = SUMMARY.match(line)
            if m:
                seen = True
                removed += int(m.group(2))
                changed += int(m.group(3))
            m = SYMBOLS.match(line)
            if m:
                removed += int(m.group(2))
        if r.returncode & 8 or removed or changed:
            print("INCOMPATIBLE: %d removed, %d changed. Existing functions and types must "
                  "keep their ABI; add new functions instead. To break the ABI on purpose "
                  "see doc/abi.md (it takes a new soname)." % (removed, changed))
            status = 1
        elif r.returncode & 4 and not seen:
            print("abidiff reported a change this check does not understand")
            status = 1
        else:
            print("compatible (additions only)")
    return status


def cmd_baseline(lib, headers, out):
    abidw = shutil.which("abidw")
    if not abidw:
        print("abidw not found (Debian: apt-get install abigail-tools)")
        return SKIP
    r = subprocess.run([abidw, "--headers-dir", headers, "--no-corpus-path",
                        "--drop-undefined-syms", lib], capture_output=True, text=True)
    if r.returncode:
        print(r.stderr)
        return 1
    with open(out, "w") as f:
        f.write(r.stdout)
    print("wrote %s" % out)
    return 0


def main(argv):
    cmds = {"listing": (cmd_listing, None), "desctable": (cmd_desctable, None),
            "ctable": (cmd_ctable, 2), "ccheck": (cmd_ccheck, 2),
            "current": (cmd_current, None), "symbols": (cmd_symbols, 2),
            "compat": (cmd_compat, None), "baseline": (cmd_baseline, 3),
            "update": (cmd_update, None)}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.exit(__doc__)
    fn, nargs = cmds[argv[1]]
    args = argv[2:]
    if nargs is not None and len(args) != nargs:
        sys.exit(__doc__)
    try:
        return fn(*args) or 0
    except rkheader.HeaderError as e:
        print("ringkit.h: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
