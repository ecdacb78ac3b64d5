"""Two runs side by side, for "did my fix help?": each run's figures from its report, the
change of each, and a few sentences saying what changed most.

A run is compared by its main target: the process tree's sum when the recording has one
(what `memlens run` and `check` record), else the target whose RSS peaked highest. Each
run is judged with its own settings, as `memlens report` judges it. Pure: two Reports in,
plain data out; sizes in bytes, rates in bytes per second, times in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from memlens.report.model import Report, TargetReport

VERSION = 1
# Changes smaller than this share of the larger figure are "about the same".
SAME = 0.05


@dataclass(frozen=True)
class RunFigures:
    recording_id: int
    name: str
    command: str | None
    started: float
    duration: float | None
    target_key: str | None
    target: str | None  # the main target's label
    samples: int
    peak: float | None
    average: float | None
    p95: float | None
    first: float | None  # RSS at the first and last sample of the main target
    last: float | None
    growth: float | None  # last - first
    verdict: str  # the detector's on the main target: leak, plateau, step, flat, insufficient
    leak_rate: float | None  # bytes/s of the floor, when the verdict is leak
    severity: str
    leak_alerts: int  # leaks the live alerts raised (or the detector found), any target
    exit_code: int | None
    exits: int  # targets that ended within the recording

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Change:
    """One figure of both runs: `change` is b - a and `ratio` b / a - 1 for numbers
    (None when either is unknown, ratio None also when a is 0)."""

    name: str
    a: float | str | None
    b: float | str | None
    change: float | None
    ratio: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "change": self.change, "ratio": self.ratio}


# The figures compared, in the order they are shown; WORDS are compared as equal or not.
ORDER = (
    "duration",
    "samples",
    "peak",
    "average",
    "p95",
    "growth",
    "verdict",
    "leak_rate",
    "severity",
    "leak_alerts",
    "exit_code",
)
WORDS = frozenset({"verdict", "severity", "exit_code"})


def main_target(report: Report) -> TargetReport | None:
    sums = [t for t in report.targets if t.target.kind == "sum"]
    if sums:
        return sums[0]
    measured = [t for t in report.targets if t.rss is not None]
    if not measured:
        return report.targets[0] if report.targets else None
    return max(measured, key=lambda t: t.rss.max if t.rss is not None else 0.0)


def run_figures(report: Report) -> RunFigures:
    info = report.recording
    main = main_target(report)
    known = [] if main is None else [v for v in main.rss_values if v is not None]
    first = float(known[0]) if known else None
    last = float(known[-1]) if known else None
    trend = None if main is None else main.trend
    return RunFigures(
        recording_id=info.id,
        name=info.name,
        command=info.command,
        started=info.started,
        duration=None if info.ended is None else info.ended - info.started,
        target_key=None if main is None else main.target.key,
        target=None if main is None else main.label,
        samples=0 if main is None else main.samples,
        peak=None if main is None or main.rss is None else main.rss.max,
        average=None if main is None or main.rss is None else main.rss.average,
        p95=None if main is None or main.rss is None else main.rss.p95,
        first=first,
        last=last,
        growth=None if first is None or last is None else last - first,
        verdict="insufficient" if trend is None else trend.verdict.value,
        leak_rate=trend.rate if trend is not None and trend.is_leak else None,
        severity="none" if trend is None else trend.severity.value,
        leak_alerts=report.leaks.count,
        exit_code=info.exit_code,
        exits=len(report.exits),
    )


def compare(a: RunFigures, b: RunFigures) -> list[Change]:
    out = []
    for name in ORDER:
        x, y = getattr(a, name), getattr(b, name)
        if name in WORDS:
            out.append(Change(name, x, y, None, None))
            continue
        change = None if x is None or y is None else float(y) - float(x)
        ratio = None if change is None or not x else float(y) / float(x) - 1.0
        out.append(Change(name, x, y, change, ratio))
    return out


def summary(a: RunFigures, b: RunFigures) -> list[str]:
    """Sentences on what changed from A to B, the leak first."""
    lines = []
    if a.verdict == "leak" and b.verdict != "leak":
        lines.append(f"B no longer leaks (A: leak, B: {b.verdict}).")
    elif a.verdict != "leak" and b.verdict == "leak":
        lines.append(f"B leaks (A: {a.verdict}).")
    elif a.verdict == "leak" and b.verdict == "leak" and a.leak_rate and b.leak_rate:
        lines.append(f"Both leak; B {_more_less(a.leak_rate, b.leak_rate, 'faster', 'slower')}.")
    for name, word in (("peak", "peaks"), ("average", "averages")):
        x, y = getattr(a, name), getattr(b, name)
        if x and y is not None:
            lines.append(f"B {word} {_more_less(x, y, 'higher', 'lower')}.")
    if a.exit_code != b.exit_code:
        lines.append(f"The exit code changed: {_code(a.exit_code)} → {_code(b.exit_code)}.")
    return lines


def comparison_to_dict(a: RunFigures, b: RunFigures) -> dict[str, Any]:
    return {
        "format": "memlens-diff",
        "version": VERSION,
        "a": a.to_dict(),
        "b": b.to_dict(),
        "changes": {c.name: c.to_dict() for c in compare(a, b)},
        "summary": summary(a, b),
    }


def _more_less(x: float, y: float, more: str, less: str) -> str:
    ratio = y / x - 1.0
    if abs(ratio) < SAME:
        return "about the same"
    return f"{abs(ratio) * 100:.0f}% {more if ratio > 0 else less}"


def _code(code: int | None) -> str:
    return "none" if code is None else str(code)
