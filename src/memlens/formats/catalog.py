"""The export formats by name: what the CLI offers, with each one's file extension."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from memlens.formats.binary import dump_binary
from memlens.formats.csv_export import dump_csv
from memlens.formats.html import dump_html
from memlens.formats.json_export import dump_json
from memlens.store import Recording


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    extension: str  # without the dot
    write: Callable[[Recording], bytes]
    text: bool  # whether it may go to a terminal


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("csv", "csv", dump_csv, text=True),
        Format("json", "json", dump_json, text=True),
        Format("html", "html", dump_html, text=True),
        Format("binary", "mlrec", dump_binary, text=False),
    )
}


def format_for_path(path: str) -> Format | None:
    """The format a file name's extension names, if any (`.htm` counts as html)."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    suffix = "html" if suffix == "htm" else suffix
    return next((f for f in FORMATS.values() if f.extension == suffix), None)
