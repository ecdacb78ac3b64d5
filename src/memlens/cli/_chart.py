"""The chart of a recording as a file, SVG or PNG by name: what `memlens export --format
svg|png` and `memlens check --chart FILE` write. The recording is judged as `memlens
report` judges it (its own settings unless --config says otherwise), so the chart's leak
windows and marks are the report's."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from memlens.analysis.groups import DEFAULT_GROUP_BY
from memlens.config import judging
from memlens.errors import UsageError
from memlens.report import build_report
from memlens.report.svg import limits_of, report_svg, svg_to_png
from memlens.store import Recording, StoreReader

CHARTS = ("svg", "png")


def chart_format(path: str) -> str:
    """'svg' or 'png', from a file name's extension."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix not in CHARTS:
        raise UsageError(f"a chart is written as .svg or .png, not {path!r}")
    return suffix


def recording_chart(
    recording: Recording,
    reader: StoreReader,
    fmt: str,
    *,
    config: str | None = None,
    max_rss: float | None = None,
    group_by: str = DEFAULT_GROUP_BY,
) -> bytes:
    """The chart, judged with the recording's settings (or `config`'s); `max_rss`, when
    given, is the limit drawn instead of the settings' one; past a few processes it
    draws their groups under `group_by`."""
    recorded, limits = reader.judged_with(recording.info.id)
    return chart_bytes(
        recording,
        recorded,
        limits,
        fmt,
        config=config,
        where=str(reader.path),
        max_rss=max_rss,
        group_by=group_by,
    )


def chart_bytes(
    recording: Recording,
    recorded: Mapping[str, Any] | None,
    limits: Mapping[str, int],
    fmt: str,
    *,
    config: str | None,
    where: str,
    max_rss: float | None = None,
    group_by: str = DEFAULT_GROUP_BY,
) -> bytes:
    settings = judging(config, recorded, where).settings
    limit = max_rss if max_rss is not None else settings.thresholds.max_rss
    report = build_report(
        recording,
        config=settings.detector,
        limit=None if limit is None else float(limit),
        now=time.time(),
        limits={key: float(v) for key, v in limits.items()},
        group_by=group_by,
    )
    svg = report_svg(report, limits=limits_of(limit, {k: float(v) for k, v in limits.items()}))
    return svg.encode() if fmt == "svg" else svg_to_png(svg)
