"""A heap profile's file formats, by name: one table for `memlens profile` and
`memlens.heap.save`, so both write the same bytes and pick a format from a file's name
alike."""

from __future__ import annotations

import io
from collections.abc import Callable

from memlens.formats.collapsed import write_collapsed
from memlens.formats.heap_profile import dump_json
from memlens.formats.pprof import dump_pprof
from memlens.model import HeapProfile


def _html(profile: HeapProfile) -> bytes:
    """The offline flame graph page (imported here: only this format needs its assets)."""
    from memlens.formats.heap_html import write_html

    out = io.StringIO()
    write_html(profile, out)
    return out.getvalue().encode("utf-8")


def _collapsed(profile: HeapProfile) -> bytes:
    return write_collapsed(profile).encode("utf-8")


# name: (writer, whether it may go to a terminal, the file name endings that pick it)
FORMATS: dict[str, tuple[Callable[[HeapProfile], bytes], bool, tuple[str, ...]]] = {
    "collapsed": (_collapsed, True, (".collapsed", ".folded", ".txt")),
    "pprof": (dump_pprof, False, (".pb.gz", ".pprof", ".pb")),
    "json": (dump_json, True, (".json",)),
    "html": (_html, False, (".html", ".htm")),
}


def encode(profile: HeapProfile, fmt: str) -> bytes:
    """The profile as a file of format `fmt` (a key of FORMATS)."""
    return FORMATS[fmt][0](profile)


def format_for(name: str) -> str | None:
    """The format a file's name asks for by its ending, or None."""
    lowered = name.lower()
    for fmt, (_, _, endings) in FORMATS.items():
        if lowered.endswith(endings):
            return fmt
    return None
