"""The live engine run again over recorded series: every alert it would have raised.

`memlens analyze --replay` and bench/bench_leaks.py feed the samples of a recording (or
of any file of samples) to the same `AlertEngine` that `watch`, `record` and `run` use,
as ticks in time order, with the recording's settings and memory limits, evaluating each
target every `every` seconds of series time. Nothing here is a second implementation of
the live rules: what it prints is what the live engine would have done, alert by alert,
so users can tune their settings on their own recordings. Deterministic: the same
series and settings give the same alerts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from memlens.config import Settings
from memlens.model import Alert, Reading, Target, Tick
from memlens.watch.alerts import AlertEngine

KINDS = ("leak", "growing", "threshold")


@dataclass
class ReplayedAlert:
    """One alert of the replay, in seconds from its series' first sample. `cleared_s` is
    None while it stands at the end; a leak alarm whose severity rose, or a growing
    status whose reason (`rule`) changed, is followed by a new entry, and `cleared_s` of
    the earlier one is the time of the change."""

    kind: str  # "leak", "growing", or "threshold" (an RSS or leak-rate limit crossed)
    raised_s: float
    cleared_s: float | None
    severity: str | None
    rate: float | None
    rule: str | None
    text: str

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ReplaySeries:
    """A series to replay: its target's key, name and PID, its process's start time when
    known (the live rules use a process's age), and its samples (None skipped)."""

    key: str
    name: str
    pid: int
    times: Sequence[float]
    values: Sequence[float | None]
    started: float | None = None


def replay(
    series: Sequence[ReplaySeries],
    settings: Settings,
    *,
    every: float | None = None,
    limits: Mapping[str, float] | None = None,
) -> dict[str, list[ReplayedAlert]]:
    """Each series' alerts, by key, from one engine fed every series' samples in time
    order. `every` overrides the settings' cadence; `limits` are the targets' memory
    limits (the recording's), combined with max_rss as live."""
    if every is not None:
        settings = dataclasses.replace(settings, every=every)
    known = dict(limits or {})
    engine = AlertEngine(
        settings,
        limit_of=lambda target: known.get(target.key),
        system_memory=lambda: 0.0,
    )
    by_time: dict[float, dict[str, float]] = {}
    firsts: dict[str, float] = {}
    for s in series:
        for t, v in zip(s.times, s.values, strict=True):
            if v is None:
                continue
            by_time.setdefault(float(t), {})[s.key] = float(v)
            if s.key not in firsts or t < firsts[s.key]:
                firsts[s.key] = float(t)
    targets = {
        s.key: Target(
            s.key,
            "process",
            s.pid,
            s.started if s.started is not None else firsts.get(s.key, 0.0),
            s.name,
            "",
        )
        for s in series
    }
    seen: set[str] = set()
    for seq, t in enumerate(sorted(by_time)):
        row = by_time[t]
        new = tuple(targets[k] for k in row if k not in seen)
        seen.update(row)
        samples = {k: Reading(int(v), 0, 0, None, 0, 0, None) for k, v in row.items()}
        engine.process(Tick(seq, t, samples, new_targets=new))
    out: dict[str, list[ReplayedAlert]] = {s.key: [] for s in series}
    for alert in engine.alerts:
        if alert.key is None or alert.key not in out:
            continue
        _add(out[alert.key], alert, firsts.get(alert.key, alert.t))
    return out


def _add(entries: list[ReplayedAlert], alert: Alert, t0: float) -> None:
    """An alert event into the list of alerts: a raise opens an entry (closing the
    same kind's standing one: a severity that rose), a clear closes it."""
    data = alert.data
    kind = alert.kind if alert.kind != "threshold" else "threshold"
    at = alert.t - t0
    metric = data.get("metric")
    standing = next(
        (
            e
            for e in reversed(entries)
            if e.kind == kind and e.cleared_s is None and (e.rule == metric or kind != "threshold")
        ),
        None,
    )
    if data.get("state") in ("raised", "above"):
        if standing is not None:
            standing.cleared_s = at
        finding = data.get("finding") or {}
        rate = data.get("rate", finding.get("rate") if isinstance(finding, dict) else None)
        if kind == "threshold":
            rate = data.get("value")
        entries.append(
            ReplayedAlert(
                kind=kind,
                raised_s=at,
                cleared_s=None,
                severity=data.get("severity") if kind == "leak" else None,
                rate=None if rate is None else float(rate),
                rule=metric if kind == "threshold" else data.get("rule"),
                text=str(data.get("text", "")),
            )
        )
    elif standing is not None:
        standing.cleared_s = at
