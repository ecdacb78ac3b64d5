"""`memlens diff RUN_A RUN_B [--json]`: two recordings side by side (peak, average, growth,
the leak verdict and rate, exits) with the change of each, for "did my fix help?".

Each run is judged as `memlens report` judges it, with its own settings unless --config
says otherwise; the comparison itself is memlens.report.compare's.
"""

from __future__ import annotations

import argparse
import json
import time

from memlens.analysis.leaktext import rate_text
from memlens.cli._child import shell_status
from memlens.cli._common import Command
from memlens.cli._runs import add_db_option, open_run
from memlens.config import judging
from memlens.outside.visible import visible
from memlens.report import build_report
from memlens.report.compare import Change, RunFigures, compare, comparison_to_dict, summary
from memlens.report.compare import run_figures as figures_of
from memlens.store import load_recording
from memlens.units import human_bytes, human_duration

LABELS = {
    "duration": "duration",
    "samples": "samples",
    "peak": "peak RSS",
    "average": "average RSS",
    "p95": "p95 RSS",
    "growth": "growth (last - first)",
    "verdict": "leak verdict",
    "leak_rate": "leak rate",
    "severity": "severity",
    "leak_alerts": "leaks found",
    "exit_code": "exit code",
}
WIDTH = 24  # of each run's column


def configure(p: argparse.ArgumentParser) -> None:
    for name, which in (("run_a", "the first run (before)"), ("run_b", "the second (after)")):
        p.add_argument(
            name,
            metavar=name.upper(),
            help=f"{which}: a recording file, FILE#ID, or an id, a name or 'last' in the store",
        )
    p.add_argument("--json", action="store_true", help="one JSON object for scripts")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="judge both runs with this file's settings (default: each run's own)",
    )
    add_db_option(p)


def run(args: argparse.Namespace) -> int:
    a, b = _figures(args.run_a, args), _figures(args.run_b, args)
    if args.json:
        print(json.dumps(comparison_to_dict(a, b), allow_nan=False))
        return 0
    print("\n".join(visible(line) for line in text_lines(a, b)))
    return 0


def _figures(name: str, args: argparse.Namespace) -> RunFigures:
    reader, info = open_run(name, args)
    try:
        recording = load_recording(reader, info)
        recorded, limits = reader.judged_with(info.id)
    finally:
        reader.close()
    settings = judging(args.config, recorded, str(reader.path)).settings
    report = build_report(
        recording,
        config=settings.detector,
        limit=None if settings.thresholds.max_rss is None else float(settings.thresholds.max_rss),
        now=time.time(),
        limits={key: float(v) for key, v in limits.items()},
    )
    return figures_of(report)


def text_lines(a: RunFigures, b: RunFigures) -> list[str]:
    lines = [
        f"memlens diff: A = recording {a.recording_id} ({_cut(a.name)}), "
        f"B = recording {b.recording_id} ({_cut(b.name)})",
        f"{'':<22}{'A':<{WIDTH}}{'B':<{WIDTH}}change",
        f"{'target':<22}{_cut(a.target or '–', WIDTH - 2):<{WIDTH}}"
        f"{_cut(b.target or '–', WIDTH - 2):<{WIDTH}}",
    ]
    for change in compare(a, b):
        lines.append(
            f"{LABELS[change.name]:<22}{_value(change.name, change.a):<{WIDTH}}"
            f"{_value(change.name, change.b):<{WIDTH}}{_change(change)}"
        )
    lines.extend(summary(a, b))
    return lines


def _value(name: str, value: float | str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if name == "duration":
        return human_duration(value)
    if name in ("samples", "leak_alerts"):
        return f"{int(value):,}"
    if name == "leak_rate":
        return rate_text(value)
    if name == "exit_code":
        return str(shell_status(int(value)))
    if name == "growth":
        return ("+" if value >= 0 else "") + human_bytes(value)
    return human_bytes(value)


def _change(change: Change) -> str:
    if change.name in ("verdict", "severity", "exit_code"):
        return "" if change.a == change.b else "changed"
    if change.change is None:
        return ""
    if change.name == "duration":
        sign = "+" if change.change >= 0 else "-"
        text = f"{sign}{human_duration(abs(change.change))}"
    elif change.name in ("samples", "leak_alerts"):
        text = f"{int(change.change):+,}"
    elif change.name == "leak_rate":
        text = ("+" if change.change >= 0 else "-") + rate_text(abs(change.change))
    else:
        text = ("+" if change.change >= 0 else "") + human_bytes(change.change)
    if change.ratio is not None and change.name != "growth":
        text += f" ({change.ratio * 100:+.0f}%)"
    return text


def _cut(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


COMMAND = Command("diff", "compare two recordings side by side: did the fix help?", configure, run)
