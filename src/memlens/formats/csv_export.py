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

from memlens.analysis.groups import DEFAULT_GROUP_BY
from memlens.formats.grouping import group_targets
from memlens.model import SAMPLE_FIELDS
from memlens.store import Recording

# The group is last: readers of older exports (and `memlens analyze`) find the columns
# they know where they were.
HEADER: tuple[str, ...] = ("time", "target", "pid", "name", *SAMPLE_FIELDS, "group")


def _cell(value: float | int | None) -> str:
    return "" if value is None else repr(value)


def dump_csv(recording: Recording, *, group_by: str = DEFAULT_GROUP_BY) -> bytes:
    """Every sample; `group` is the label of its process's group under `group_by` (""
    for a sum series, a group of its own)."""
    grouping = group_targets(recording.targets, group_by)
    rows: list[tuple[float, int, list[str]]] = []
    for index, target in enumerate(recording.targets):
        series = recording.series[target.key]
        columns = [series[name] for name in SAMPLE_FIELDS]
        fixed = [target.key, str(target.pid), target.name]
        group = grouping.label(target)
        for i, t in enumerate(series["t"]):
            assert t is not None  # a sample always has a time
            rows.append((t, index, [repr(t), *fixed, *(_cell(c[i]) for c in columns), group]))
    rows.sort(key=lambda row: (row[0], row[1]))
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(row for _, _, row in rows)
    return out.getvalue().encode()
