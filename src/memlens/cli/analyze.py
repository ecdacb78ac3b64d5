"""`memlens analyze FILE|RUN [--json] [--replay [--every 60s]]`: the leak detector's
verdict on a recording, a memlens export, or a CSV from any tool; with --replay, also
every alert the live engine would have raised on it (watch/rerun.py).

It reports and never fails on a verdict (exit 0 whatever it says): gating a build on a
leak is `memlens check`'s job, so a script can read the figures without an exit code
to work around. Bad input is exit 2, as everywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from memlens.analysis import LeakFinding, Verdict, detect
from memlens.analysis.explain import explain
from memlens.analysis.leaktext import clock, headline, rate_range, rate_text
from memlens.cli._common import Command, parse_duration, parse_size
from memlens.cli._runs import add_db_option, open_run
from memlens.cli._summary import shown_name
from memlens.config import Judging, Settings, limit_for, load_settings
from memlens.config import judging as judging_of
from memlens.errors import NotARecording, UsageError
from memlens.formats.series import (
    RECORDING,
    NamedSeries,
    SeriesFile,
    from_store,
    read_series,
    select,
    sniff_file,
)
from memlens.outside.visible import json_visible, visible
from memlens.units import human_bytes, human_duration
from memlens.watch.rerun import ReplayedAlert, ReplaySeries, replay

# The order in which several series' verdicts are reported, the most serious first: a
# leak grows without end; a step is memory that rose and stays, worth a look; a plateau
# is a warm-up or a cache that filled; flat and too little data say nothing is wrong.
SERIOUSNESS: tuple[Verdict, ...] = (
    Verdict.LEAK,
    Verdict.STEP,
    Verdict.PLATEAU,
    Verdict.FLAT,
    Verdict.INSUFFICIENT,
)

Judged = tuple[NamedSeries | None, LeakFinding]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run",
        metavar="FILE|RUN",
        help="a recording file (FILE#ID for one of several), a JSON, binary or CSV export, "
        "a CSV with time and rss columns, a psrecord log, or an id, a name or 'last' in the "
        "store; recognised by content",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--target",
        metavar="KEY|PID",
        help="only this target: its key, or a PID (default: every series)",
    )
    p.add_argument(
        "--limit",
        type=parse_size,
        metavar="SIZE",
        help="the memory limit, for the time until a leak reaches it, e.g. 2GB "
        "(default: thresholds.max_rss of the config, else none)",
    )
    p.add_argument(
        "--skip",
        type=parse_duration,
        default=0.0,
        metavar="DURATION",
        help="leave out the first part of each series, e.g. a known start-up: 90s, 10m",
    )
    p.add_argument(
        "--since",
        metavar="MARK",
        help="a recording: judge from its newest mark with this text (memlens.mark, "
        "memlens mark PID TEXT) on",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="memlens.toml or pyproject.toml with the detector's settings "
        "(default: the first found from the current directory up)",
    )
    p.add_argument(
        "--replay",
        action="store_true",
        help="run the live engine over each series as it would have run live, and list "
        "every alert it would have raised (leak alarms and the calmer growing status)",
    )
    p.add_argument(
        "--every",
        type=parse_duration,
        metavar="DURATION",
        help="with --replay: series time between evaluations of a target "
        "(default: leaks.every of the settings, 60s)",
    )
    add_db_option(p)


def run(args: argparse.Namespace) -> int:
    found, recorded = _open(args.run, args)
    if recorded is None:  # a file of samples: the config file's settings, as ever
        judging = Judging(load_settings(args.config), "settings of the config file")
        limits: dict[str, int] = {}
    else:
        judging = judging_of(args.config, recorded[0], found.path)
        limits = recorded[1]
    settings = judging.settings
    if args.target is not None:
        found = select(found, args.target)
    max_rss = settings.thresholds.max_rss
    judged: list[Judged] = []
    since = None if args.since is None else _mark_time(args.run, args, args.since, recorded)
    for series in found.series:
        cut = series.after(args.skip)
        if since is not None:
            cut = _since(cut, since)
        limit = args.limit
        if limit is None:
            limit = limit_for(max_rss, limits.get(cut.key or ""))
        judged.append((cut, detect(cut.times, cut.values, limit=limit, config=settings.detector)))
    if args.every is not None and not args.replay:
        raise UsageError("--every goes with --replay")
    replayed = _replay(judged, settings, args, limits) if args.replay else None
    if args.json:
        body = to_json(found, judged, args.limit if args.limit is not None else max_rss)
        body["settings"] = judging.origin
        if replayed is not None:
            for entry, alerts in zip(body["series"], replayed, strict=True):  # type: ignore[call-overload]
                entry["alerts"] = [a.to_dict() for a in alerts]
            body["every"] = args.every if args.every is not None else settings.every
        out = json_visible(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        lines = _text(found, judged, settings.detector.ci_level, replayed)
        lines.insert(1, f"judged with {judging.origin}")
        if replayed is not None:
            every = args.every if args.every is not None else settings.every
            lines.insert(2, f"replayed through the live engine, evaluated every {every:g} s")
        out = "\n".join(visible(line) for line in lines)
    print(out, flush=True)  # a reader gone early (`| head`): main ends quietly
    return 0


Recorded = tuple[dict[str, Any] | None, dict[str, int]]


def _mark_time(text: str, args: argparse.Namespace, mark: str, recorded: Recorded | None) -> float:
    """When the newest mark saying `mark` was set in the recording `text` names."""
    if recorded is None:
        raise UsageError("--since MARK reads the marks of a recording; this file has none")
    reader, info = open_run(text, args)
    try:
        marks = [e for e in reader.events(info.id, kinds=["mark"]) if e.data.get("text") == mark]
        names = sorted({str(e.data.get("text")) for e in reader.events(info.id, kinds=["mark"])})
    finally:
        reader.close()
    if not marks:
        known = ", ".join(repr(n) for n in names[:10]) or "none"
        raise UsageError(f"recording {info.id} has no mark {mark!r} (its marks: {known})")
    return max(e.t for e in marks)


def _since(series: NamedSeries, t: float) -> NamedSeries:
    kept = [(x, v) for x, v in zip(series.times, series.values, strict=True) if x >= t]
    return dataclasses.replace(series, times=[x for x, _ in kept], values=[v for _, v in kept])


def _open(text: str, args: argparse.Namespace) -> tuple[SeriesFile, Recorded | None]:
    """A file by its content; a recording store (or FILE#ID, or a name in the store)
    through `open_run`, as every command names a recording. A recording comes with the
    settings it was made with and its targets' memory limits."""
    path = Path(text)
    if path.is_dir():
        raise NotARecording(f"{text} is a directory, not a recording or a file of samples")
    if path.is_file():
        if sniff_file(path) != RECORDING:
            return read_series(path), None
        reader, info = open_run(text, args)
    else:
        try:
            reader, info = open_run(text, args)
        except UsageError:
            if "#" in text or not _looks_like_path(text):
                raise
            raise NotARecording(f"{text} does not exist") from None
    try:
        return from_store(reader, info), reader.judged_with(info.id)
    finally:
        reader.close()


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or bool(Path(text).suffix)


def most_serious(judged: list[Judged]) -> int:
    """The index of the series to report first: by SERIOUSNESS, then severity, then rate."""

    def rank(i: int) -> tuple[int, int, float, int]:
        finding = judged[i][1]
        return (
            SERIOUSNESS.index(finding.verdict),
            -finding.severity.rank,
            -(finding.rate or 0.0),
            i,
        )

    return min(range(len(judged)), key=rank)


def _empty(limit: float | None) -> Judged:
    finding = detect([], [], limit=limit)
    return None, dataclasses.replace(finding, reason="the input holds no series")


# -- JSON -----------------------------------------------------------------------------


def _entry(series: NamedSeries | None, finding: LeakFinding) -> dict[str, object]:
    out = finding.to_dict()
    out["target"] = series.key if series is not None else None
    out["name"] = series.name if series is not None else None
    out["pid"] = series.pid if series is not None else None
    out["advice"] = [r.to_dict() for r in explain(finding)]
    return out


def to_json(found: SeriesFile, judged: list[Judged], limit: float | None) -> dict[str, object]:
    """The most serious series' finding at the top level, every series under "series"."""
    top = judged[most_serious(judged)] if judged else _empty(limit)
    out = _entry(*top)
    out["source"] = found.source
    out["file"] = found.path
    out["series"] = [_entry(series, finding) for series, finding in judged]
    return out


# -- text -----------------------------------------------------------------------------


def _replay(
    judged: list[Judged], settings: Settings, args: argparse.Namespace, limits: dict[str, int]
) -> list[list[ReplayedAlert]]:
    """Each judged series' live alerts, as the engine would have raised them."""
    series = []
    for i, (cut, _) in enumerate(judged):
        assert cut is not None
        key = cut.key if cut.key is not None else f"series-{i}"
        # The engine names a process "name (PID n)" itself: the label's "(pid n)" goes.
        name = cut.name.removesuffix(f" (pid {cut.pid})") if cut.pid is not None else cut.name
        series.append(ReplaySeries(key, name, cut.pid or 0, cut.times, cut.values, cut.started))
    known: dict[str, float] = {k: float(v) for k, v in limits.items()}
    if args.limit is not None:
        known = {s.key: float(args.limit) for s in series}
    out = replay(series, settings, every=args.every, limits=known)
    return [out[s.key] for s in series]


def _alert_lines(alerts: list[ReplayedAlert]) -> list[str]:
    if not alerts:
        return ["live alerts: none"]
    lines = [f"live alerts: {len(alerts)}"]
    for a in alerts:
        what = a.kind if a.severity is None else f"{a.kind} ({a.severity})"
        until = "still standing" if a.cleared_s is None else f"cleared at {_at(a.cleared_s)}"
        lines.append(f"  {what} raised at {_at(a.raised_s)}, {until}: {a.text}")
    return lines


def _at(seconds: float) -> str:
    return f"t+{human_duration(seconds)}"


def _text(
    found: SeriesFile,
    judged: list[Judged],
    ci_level: float,
    replayed: list[list[ReplayedAlert]] | None = None,
) -> list[str]:
    lines = [_title(found, len(judged))]
    for i, (series, finding) in enumerate(judged):
        lines.append("")
        if series is not None:
            lines.append(_label(series))
        lines.extend(f"  {line}" for line in _figures(finding, ci_level))
        if replayed is not None:
            lines.extend(f"  {line}" for line in _alert_lines(replayed[i]))
        for advice in explain(finding):
            lines.append(f"  {advice.title}: {advice.seen}")
            lines.extend(f"    - {step}" for step in advice.advice)
    if not judged:
        lines.extend(["", headline(_empty(None)[1])])
    elif len(judged) > 1:
        series, finding = judged[most_serious(judged)]
        word = headline(finding).split(":", 1)[0]
        lines.extend(["", f"most serious: {word} in {_label(series)}"])
    return lines


def _label(series: NamedSeries | None) -> str:
    """'python (pid 12) [12-99]' on one line (a process name may hold a line break)."""
    if series is None:
        return "?"
    name = shown_name(series.name, 60)
    return name if series.key is None else f"{name} [{series.key}]"


def _title(found: SeriesFile, count: int) -> str:
    what = f"{count} series"
    info = found.recording
    if found.source == RECORDING and info is not None:
        return f"recording {info.id} ({info.name}) in {found.path}: {what}"
    if info is not None:
        return f"{found.path} ({found.source} of {info.name!r}): {what}"
    return f"{found.path} ({found.source}): {what}"


_WIDTH = 12


def _figures(finding: LeakFinding, ci_level: float) -> list[str]:
    lines = [headline(finding)]

    def row(label: str, value: str) -> None:
        lines.append(f"{label:<{_WIDTH}}{value}")

    if finding.verdict is Verdict.LEAK:
        row("why", finding.reason)
    if finding.rate is not None:
        text = rate_text(finding.rate)
        if finding.rate_low is not None and finding.rate_high is not None:
            interval = rate_range(finding.rate_low, finding.rate_high, finding.rate)
            text += f" ({ci_level:.0%} CI {interval})"
        row("rate", text)
    if finding.onset is not None and finding.start is not None:
        row("onset", clock(finding.onset, finding.start))
    if finding.growth is not None:
        row("growth", human_bytes(finding.growth))
    if finding.verdict is not Verdict.INSUFFICIENT:
        sure = finding.confidence
        row("confidence", "≥99.9%" if sure >= 0.999 else f"{sure:.1%}")
        row("severity", finding.severity.value)
    if finding.time_to_limit is not None:
        row(
            "to limit",
            f"{human_duration(finding.time_to_limit)} (limit {human_bytes(finding.limit)})",
        )
    elif finding.limit is not None:
        row("to limit", f"– (limit {human_bytes(finding.limit)})")
    if finding.start is not None and finding.end is not None:
        span = human_duration(finding.end - finding.start)
        row(
            "judged",
            f"{finding.points:,} samples over {span}, "
            f"{clock(finding.start, finding.start)} – {clock(finding.end, finding.start)}",
        )
    return lines


COMMAND = Command(
    "analyze",
    "say whether a recording, an export or a CSV of memory shows a leak",
    configure,
    run,
)
