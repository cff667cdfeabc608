#!/usr/bin/env python3
"""Renders the API reference doc/api.md and the man pages from the comments
of include/ringkit.h.

  apidoc.py HEADER OUT.md
  apidoc.py --man HEADER OUTDIR     one page per function (rk_*.3), ringkit.7
  apidoc.py --man-list HEADER       the names of those pages, one a line
  apidoc.py --man-check HEADER DIR  DIR holds every page, each set cleanly

The header is the one place the API is documented; this only lays it out:
each section banner becomes a heading, each comment with the declarations
that follow it (up to the next comment or blank line) one entry, a comment
that stands alone a paragraph. A function without a comment of its own (or a
comment shared with the declaration right before it) is an error, so every
public function is documented. The abi-doc-current test fails when doc/api.md
differs from what this produces; `ninja -C build abi-update` refreshes it.
"""
import os
import re
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiman  # noqa: E402
import rkheader  # noqa: E402


def escape(s):
    s = s.replace("\\", "\\\\").replace("*", "\\*").replace("<", "&lt;")
    return re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", s)


def is_banner(it):
    return it.kind == "comment" and re.fullmatch(r"-{8,}", it.text.strip())


def render_comment(text):
    """Comment text to Markdown. Unindented lines are prose; indented runs are
    a bullet list when they start with "- ", preformatted when they line
    things up (two spaces inside a line), else prose."""
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            out.append("")
            i += 1
            continue
        if not line.startswith(" "):
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(" "):
                para.append(escape(lines[i].strip()))
                i += 1
            out.append("\n".join(para))
            out.append("")
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
            out += ["- " + escape(" ".join(x)) for x in items]
            out.append("")
        elif any(re.search(r"\S  +\S", l) for l in body) or any(l.startswith(" ") for l in body):
            out += ["```text"] + body + ["```", ""]
        else:
            out.append(escape(" ".join(l.strip() for l in body)))
            out.append("")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def code(items):
    blocks = []
    for it in items:
        lines = textwrap.dedent(it.raw).rstrip().split("\n")
        if lines[0].startswith("RK_API "):
            # continuation lines were aligned under the parenthesis after RK_API
            lines = [lines[0][len("RK_API "):]] + \
                    [l[7:] if l.startswith(" " * 7) else l for l in lines[1:]]
        blocks.append("\n".join(lines))
    return "```c\n" + "\n".join(blocks) + "\n```"


def function_name(it):
    m = rkheader.FUNC.match(it.text)
    return m.group(2) if m else None


def decl_name(it):
    for rx, g in ((rkheader.FUNC, 2), (rkheader.CALLBACK, 2), (rkheader.HANDLE, 1),
                  (rkheader.STRUCT, 1)):
        m = rx.match(it.text)
        if m:
            return m.group(g)
    return None


def collect(text):
    """The header as documentation: (header, intro, sections), sections being
    (title, entries) and an entry {"doc", "items", "line"}: a comment and the
    declarations after it. Both renderers (Markdown, man pages) lay out this."""
    header = rkheader.Header(text)  # validates the declarations
    items = header.items
    # paragraphs: runs of items between blank lines
    paras, cur = [], []
    for it in items:
        if it.kind == "blank":
            if cur:
                paras.append(cur)
            cur = []
        else:
            cur.append(it)
    if cur:
        paras.append(cur)

    sections = []   # (title, [blocks])
    blocks = []
    title = None
    documented = {}
    intro = None
    for para in paras:
        # section banners: ----, Title, ----
        if len(para) == 3 and is_banner(para[0]) and is_banner(para[2]) and \
                para[1].kind == "comment":
            sections.append((title, blocks))
            title, blocks = para[1].text.strip(), []
            continue
        if intro is None and para[0].kind == "comment":
            intro = para[0].text
            continue
        # entries: a comment and the declarations after it
        entries = []
        for it in para:
            if it.kind == "pp" and not rkheader.DEFINE.match(it.text):
                continue  # include guards, #include, #if: not API
            if it.kind == "pp" and it.text.startswith("#define RK_API"):
                continue
            if it.kind == "comment":
                entries.append({"doc": it.text, "items": [], "line": it.line})
                continue
            if not entries:
                entries.append({"doc": None, "items": [], "line": it.line})
            entries[-1]["items"].append(it)
        for e in entries:
            names = [function_name(it) for it in e["items"] if it.kind == "decl"]
            names = [n for n in names if n]
            if names and e["doc"] is None:
                raise rkheader.HeaderError("line %d: %s has no comment: document it in "
                                           "ringkit.h" % (e["line"], ", ".join(names)))
            for n in names:
                documented[n] = title
            blocks.append(e)
    sections.append((title, blocks))

    missing = [f["name"] for f in header.functions if f["name"] not in documented]
    if missing:
        raise rkheader.HeaderError("not documented: %s" % ", ".join(missing))
    return header, intro, sections


def render(text):
    header, intro, sections = collect(text)
    out = ["# ringkit API reference", "",
           "<!-- Generated by tools/apidoc.py from include/ringkit.h: do not edit. "
           "Refresh with `ninja -C build abi-update`. -->", ""]
    if intro:
        out += [render_comment(intro), ""]
    out += ["Version %d.%d.%d. Machine-readable signatures and struct layouts: "
            "[abi.json](abi.json) ([format](abi.md)); writing a binding: "
            "[backend-guide.md](backend-guide.md)."
            % (header.version["RK_VERSION_MAJOR"], header.version["RK_VERSION_MINOR"],
               header.version["RK_VERSION_PATCH"]), ""]
    # contents
    out += ["## Contents", ""]
    for t, bl in sections:
        if t is None:
            continue
        fns = [function_name(it) for e in bl for it in e["items"] if it.kind == "decl"]
        fns = [f for f in fns if f]
        anchor = re.sub(r"[^a-z0-9 -]", "", t.lower()).replace(" ", "-")
        line = "- [%s](#%s)" % (t, anchor)
        if fns:
            line += ": " + ", ".join("[`%s`](#%s)" % (f, f) for f in fns)
        out.append(line)
    out.append("")
    for t, bl in sections:
        if t is not None:
            out += ["## " + t, ""]
        for e in bl:
            names = [decl_name(it) for it in e["items"] if it.kind == "decl"]
            names = [n for n in names if n]
            if names:
                out += ['<a id="%s"></a>' % n for n in names]
                out += ["### " + " / ".join("`%s`" % n for n in names), ""]
                if e["items"]:
                    out += [code(e["items"]), ""]
                if e["doc"]:
                    out += [render_comment(e["doc"]), ""]
            else:  # constants or prose: the words first
                if e["doc"]:
                    out += [render_comment(e["doc"]), ""]
                if e["items"]:
                    out += [code(e["items"]), ""]
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) == 4 and argv[1] == "--man":
        with open(argv[2]) as f:
            apiman.write(collect(f.read()), argv[3])
        return 0
    if len(argv) == 3 and argv[1] == "--man-list":
        with open(argv[2]) as f:
            print("\n".join(sorted(apiman.pages(collect(f.read())))))
        return 0
    if len(argv) == 4 and argv[1] == "--man-check":
        with open(argv[2]) as f:
            return apiman.check(collect(f.read()), argv[3])
    if len(argv) != 3:
        sys.exit(__doc__)
    with open(argv[1]) as f:
        text = f.read()
    try:
        md = render(text)
    except rkheader.HeaderError as e:
        # Reported by the abi-doc-current test rather than by failing the
        # whole build (see ERROR_MARK in abi.py).
        print("ringkit.h: %s" % e, file=sys.stderr)
        md = "ABI GENERATOR ERROR: ringkit.h: %s\n" % e
    with open(argv[2], "w") as f:
        f.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
