"""Where `meson install` puts the package: the site directory on this
interpreter's own sys.path that lies under the install prefix, so that
`import ringkit` works after `ninja install` with no PYTHONPATH (Debian's
interpreter reads /usr/local/lib/python3.X/dist-packages and
/usr/lib/python3/dist-packages, not meson's prefix-relative default for
/usr/local). Prints nothing when no such directory exists: meson's default
then applies.

  python3 sitedir.py PREFIX
"""
import os
import sys

prefix = os.path.normpath(sys.argv[1])
for d in sys.path:
    rel = os.path.relpath(d, prefix) if d.startswith(prefix + os.sep) else None
    if rel and rel.startswith("lib") and os.path.basename(d) in ("dist-packages", "site-packages"):
        print(d)
        break
