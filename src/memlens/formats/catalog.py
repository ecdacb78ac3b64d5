"""The export formats by name: what the CLI offers, with each one's file extension."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from memlens.analysis.groups import DEFAULT_GROUP_BY
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
    # The writer of a format that shows groups (CSV, JSON, HTML): the recording and how
    # to group its processes (analysis/groups.GROUP_BY).
    grouped: Callable[[Recording, str], bytes] | None = None

    def dump(self, recording: Recording, group_by: str = DEFAULT_GROUP_BY) -> bytes:
        """The file, its processes grouped by `group_by` where the format shows groups."""
        if self.grouped is None:
            return self.write(recording)
        return self.grouped(recording, group_by)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("csv", "csv", dump_csv, True, lambda r, by: dump_csv(r, group_by=by)),
        Format("json", "json", dump_json, True, lambda r, by: dump_json(r, group_by=by)),
        Format("html", "html", dump_html, True, lambda r, by: dump_html(r, group_by=by)),
        Format("binary", "mlrec", dump_binary, text=False),
    )
}


def format_for_path(path: str) -> Format | None:
    """The format a file name's extension names, if any (`.htm` counts as html)."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    suffix = "html" if suffix == "htm" else suffix
    return next((f for f in FORMATS.values() if f.extension == suffix), None)
