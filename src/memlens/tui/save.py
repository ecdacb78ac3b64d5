"""`s` in `memlens top`: the report of what is on screen, written beside the user.

The window's samples and the alerts shown are put into a `Recording`, the shape every
recording has, so `memlens report`'s own analysis and renderers judge and write it: the
terminal adds no second way to judge memory.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from pathlib import Path

from memlens._version import __version__
from memlens.config import Settings
from memlens.formats.bundle import COLUMNS
from memlens.formats.output import write_atomic
from memlens.report import build_report
from memlens.report.html import dump_report_html
from memlens.report.markdown import dump_report_md
from memlens.store import Event, Recording, RecordingInfo
from memlens.store.recording import Series
from memlens.watch.live import LiveView

WRITERS = {"md": dump_report_md, "html": dump_report_html}


def recording_of(live: LiveView, *, start: float, end: float, name: str) -> Recording:
    """Every target's samples in (start, end] and the alerts raised then, as a recording
    (on the loop's thread: the history is read as it is now)."""
    targets = [dataclasses.replace(t) for t in live.targets.values()]
    series: dict[str, Series] = {}
    for target in targets:
        full = live.history.series(target.key, since=start)
        keep = sum(1 for t in full["t"] if t is not None and t <= end)
        series[target.key] = {column: list(full[column][:keep]) for column in COLUMNS}
    events = [
        Event(
            0,
            0,
            alert.get("key"),
            float(alert["t"]),
            str(alert["type"]),
            {k: v for k, v in alert.items() if k not in ("type", "t", "key")},
        )
        for alert in live.alerts
        if start < float(alert["t"]) <= end
    ]
    first = min((float(s["t"][0] or end) for s in series.values() if s["t"]), default=start)
    info = RecordingInfo(
        id=0,
        name=name,
        started=first,
        ended=end,
        command=None,
        host=socket.gethostname(),
        interval=live.interval,
        exit_code=None,
        target_count=len(targets),
        sample_count=sum(len(s["t"]) for s in series.values()),
        memlens_version=__version__,
    )
    return Recording(info, targets, series, events)


def write_report(
    recording: Recording, settings: Settings, directory: Path, fmt: str = "md"
) -> Path:
    """The report as `memlens-top-YYYYmmdd-HHMMSS.md` in `directory` (a new name, never
    over another file); blocking, so the app runs it on a thread."""
    report = build_report(
        recording,
        config=settings.detector,
        limit=settings.thresholds.max_rss,
        now=time.time(),
    )
    data = WRITERS[fmt](report)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = directory / f"memlens-top-{stamp}.{fmt}"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"memlens-top-{stamp}-{n}.{fmt}"
    return write_atomic(path, data, what="report")
