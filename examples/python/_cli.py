"""Argument types shared by the Python examples: each rejects what is not
what it says, and argparse then names the argument and exits 2."""
import argparse


def port(s):
    """PORT: a decimal 0..65535 (0: a free port)."""
    if not (s.isascii() and s.isdigit()) or int(s) > 65535:
        raise argparse.ArgumentTypeError("'%s': expected a decimal number from 0 to 65535" % s)
    return int(s)


def seconds(s):
    """A duration: a positive, finite number of seconds."""
    try:
        v = float(s)
    except ValueError:
        v = 0
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError("'%s': expected a positive number" % s)
    return v


def positive(s):
    """A count or size: a decimal integer >= 1."""
    if not (s.isascii() and s.isdigit()) or int(s) < 1:
        raise argparse.ArgumentTypeError("'%s': expected a whole number of at least 1" % s)
    return int(s)
