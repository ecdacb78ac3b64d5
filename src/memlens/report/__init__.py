"""A recording's report: `build_report` judges it section by section into plain data
(`model`), which one renderer per format (JSON, Markdown, HTML, JUnit) writes. The HTML
page's shell is the one every self-contained page shares (`memlens.formats.page`)."""

from __future__ import annotations

from memlens.report.build import build_report
from memlens.report.model import EventRow, RecordingLike, Report, TargetReport

__all__ = ["EventRow", "RecordingLike", "Report", "TargetReport", "build_report"]
