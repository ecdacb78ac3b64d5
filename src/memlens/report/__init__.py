"""The self-contained pages memlens writes (the HTML export, the report, the tracker's
page): their shell, style and scripts, kept as files in `assets/` and inlined by `page`.
And a recording's report: `build_report` judges it section by section into plain data
(`model`), which one renderer per format (JSON, Markdown, HTML, JUnit) writes."""

from __future__ import annotations

from memlens.report.build import build_report
from memlens.report.model import EventRow, RecordingLike, Report, TargetReport

__all__ = ["EventRow", "RecordingLike", "Report", "TargetReport", "build_report"]
