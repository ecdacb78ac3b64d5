"""`memlens diff RUN_A RUN_B [--json]`: two recordings side by side (peak, average, growth,
the leak verdict and rate, exits) with the change of each, for "did my fix help?"; and,
when both runs kept heap profiles, the stacks whose heap in use changed most.

Each run is judged as `memlens report` judges it, with its own settings unless --config
says otherwise; the comparison itself is memlens.report.compare's, the stacks'
memlens.report.heap_compare's.
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
from memlens.report.heap_compare import KeptProfile, last_profile, stack_changes, stack_label
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
    (a, heap_a), (b, heap_b) = _figures(args.run_a, args), _figures(args.run_b, args)
    stacks = None if heap_a is None or heap_b is None else (heap_a, heap_b)
    if args.json:
        out = comparison_to_dict(a, b)
        out["stacks"] = None if stacks is None else stacks_to_dict(*stacks)
        out["summary"].extend(_stack_summary(stacks))
        print(json.dumps(out, allow_nan=False))
        return 0
    lines = text_lines(a, b) + _stack_summary(stacks)
    if stacks is not None:
        lines += stack_lines(*stacks)
    print("\n".join(visible(line) for line in lines))
    return 0


def _figures(name: str, args: argparse.Namespace) -> tuple[RunFigures, KeptProfile | None]:
    reader, info = open_run(name, args)
    try:
        recording = load_recording(reader, info)
        recorded, limits = reader.judged_with(info.id)
        settings = judging(args.config, recorded, str(reader.path)).settings
        report = build_report(
            recording,
            config=settings.detector,
            limit=None
            if settings.thresholds.max_rss is None
            else float(settings.thresholds.max_rss),
            now=time.time(),
            limits={key: float(v) for key, v in limits.items()},
        )
        figures = figures_of(report)
        return figures, last_profile(reader, info.id, figures.target_key)
    finally:
        reader.close()


def stacks_to_dict(a: KeptProfile, b: KeptProfile) -> dict[str, object]:
    return {
        "a": a.to_dict(),
        "b": b.to_dict(),
        "changes": [c.to_dict() for c in stack_changes(a.profile, b.profile)],
    }


def stack_lines(a: KeptProfile, b: KeptProfile) -> list[str]:
    """The stacks whose heap in use changed most, under the figures' table."""
    lines = [
        "",
        "heap in use by stack, the last profile of each run "
        f"(A: PID {a.profile.pid}, {human_bytes(a.profile.inuse_bytes)}; "
        f"B: PID {b.profile.pid}, {human_bytes(b.profile.inuse_bytes)}):",
        f"  {'A':<12}{'B':<12}{'change':<13}stack (allocating frame first)",
    ]
    changes = stack_changes(a.profile, b.profile)
    for c in changes:
        change = ("+" if c.change >= 0 else "") + human_bytes(c.change)
        lines.append(
            f"  {human_bytes(c.a):<12}{human_bytes(c.b):<12}{change:<13}{stack_label(c.frames)}"
        )
    if not changes:
        lines.append("  no stack changed")
    return lines


def _stack_summary(stacks: tuple[KeptProfile, KeptProfile] | None) -> list[str]:
    if stacks is None:
        return []
    changes = stack_changes(stacks[0].profile, stacks[1].profile, limit=1)
    if not changes:
        return ["No stack's heap in use changed."]
    top = changes[0]
    change = ("+" if top.change >= 0 else "") + human_bytes(top.change)
    return [f"The stack that changed most: {stack_label(top.frames, 80)}, {change}."]


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
