"""The CSV export: one row per sample, for spreadsheets, pandas and `memlens analyze`.

Rows are in time order across targets (a target's rows stay in its order within one
round), so `time,rss` of a one-target recording is directly a series. The recording's
metadata, targets' exit states and events do not fit a table and are left out: CSV is
for looking at numbers, JSON and binary are the archival formats.
"""

from __future__ import annotations

import csv
import io

from memlens.model import SAMPLE_FIELDS
from memlens.store import Recording

HEADER: tuple[str, ...] = ("time", "target", "pid", "name", *SAMPLE_FIELDS)


def _cell(value: float | int | None) -> str:
    return "" if value is None else repr(value)


def dump_csv(recording: Recording) -> bytes:
    rows: list[tuple[float, int, list[str]]] = []
    for index, target in enumerate(recording.targets):
        series = recording.series[target.key]
        columns = [series[name] for name in SAMPLE_FIELDS]
        fixed = [target.key, str(target.pid), target.name]
        for i, t in enumerate(series["t"]):
            assert t is not None  # a sample always has a time
            rows.append((t, index, [repr(t), *fixed, *(_cell(c[i]) for c in columns)]))
    rows.sort(key=lambda row: (row[0], row[1]))
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(row for _, _, row in rows)
    return out.getvalue().encode()
