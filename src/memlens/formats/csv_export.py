"""The CSV export: one row per sample, for spreadsheets, pandas and `memlens analyze`.

Rows are in time order across targets (a target's rows stay in its order within one
round), so `time,rss` of a one-target recording is directly a series. The last column is
the process's group (by name unless `memlens export --group-by` says otherwise), so a
spreadsheet's pivot table sums a group. The recording's
metadata, targets' exit states and events do not fit a table and are left out: CSV is
for looking at numbers, JSON and binary are the archival formats.
"""

from __future__ import annotations

import csv
import io
from operator import itemgetter

from memlens.analysis.groups import DEFAULT_GROUP_BY
from memlens.formats.grouping import group_targets
from memlens.model import SAMPLE_FIELDS
from memlens.store import Recording

# The group is last: readers of older exports (and `memlens analyze`) find the columns
# they know where they were.
HEADER: tuple[str, ...] = ("time", "target", "pid", "name", *SAMPLE_FIELDS, "group")


def _cells(column: list[float | int | None]) -> list[str]:
    """A column's cells: `repr` of each value, "" where it is unknown (a column of the
    Python agent's fields is often unknown throughout)."""
    unknown = column.count(None)
    if unknown == len(column):
        return [""] * unknown
    if not unknown:
        return list(map(repr, column))
    return ["" if v is None else repr(v) for v in column]


def _field(text: str) -> str:
    """One field as the csv module writes it (quoted when it holds a comma, a quote or a
    line break): names and keys come from outside."""
    if not text:
        return ""
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerow([text])
    return out.getvalue()[:-1]


def dump_csv(recording: Recording, *, group_by: str = DEFAULT_GROUP_BY) -> bytes:
    """Every sample; `group` is the label of its process's group under `group_by` (""
    for a sum series, a group of its own)."""
    grouping = group_targets(recording.targets, group_by)
    # Each column is made text once, as a whole, and each line joined from them (a cell
    # at a time through csv.writer costs three times as much at 300 processes × an
    # hour): numbers never need quoting, the target's key, name and group are quoted
    # once. Lines are (time, target's index, text), sorted by the first two.
    lines: list[tuple[float, int, str]] = []
    for index, target in enumerate(recording.targets):
        series = recording.series[target.key]
        ts = series["t"]
        fixed = ",".join(_field(x) for x in (target.key, str(target.pid), target.name))
        group = _field(grouping.label(target))
        columns = [_cells(series[name]) for name in SAMPLE_FIELDS]
        text = [
            f"{t},{fixed},{','.join(cells)},{group}"
            for t, cells in zip(_cells(ts), zip(*columns, strict=True), strict=True)
        ]
        lines.extend(zip(ts, [index] * len(ts), text, strict=True))  # type: ignore[arg-type]
    lines.sort(key=itemgetter(0, 1))
    body = "".join(f"{line}\n" for _, _, line in lines)
    return (",".join(HEADER) + "\n" + body).encode()
