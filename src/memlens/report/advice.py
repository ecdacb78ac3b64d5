"""What to try, for the whole recording: the targets' own advice and what the thresholds
crossed add, ordered so that the most pressing comes first."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from memlens.analysis.explain import Recommendation, rss_limit_advice, system_memory_advice
from memlens.report.model import TargetReport, Violation, Violations


def recommendations(
    targets: Sequence[TargetReport], violations: Violations
) -> list[Recommendation]:
    """Every piece of advice about a process, most pressing first, then what the
    thresholds add; "nothing to do" and "too little data" once, only when nothing else
    is to be said."""
    out: list[Recommendation] = []
    quiet: list[Recommendation] = []
    for t in targets:
        if t.target.kind != "process":
            continue
        for r in t.recommendations:
            (quiet if r.kind in ("flat", "insufficient") else out).append(r)
    out.extend(_threshold_advice(violations, targets))
    out.sort(key=lambda r: r.rank)
    if out:
        return out
    if not quiet:
        return []
    kinds = {r.kind for r in quiet}
    if kinds == {"flat"} and len(quiet) > 1:
        return [
            Recommendation(
                "flat", "No process's RSS grew over the period.", ("Nothing to do.",), None
            )
        ]
    return sorted({r.kind: r for r in quiet}.values(), key=lambda r: r.rank)[:1]


def _threshold_advice(
    violations: Violations, targets: Sequence[TargetReport]
) -> Iterable[Recommendation]:
    system = [v for v in violations.items if v.metric == "system_memory"]
    if system:
        worst = max(system, key=lambda v: v.peak or v.value)
        yield system_memory_advice(
            limit=worst.limit,
            peak=worst.peak or worst.value,
            times=len(system),
            leaking=[t.label for t in targets if t.target.kind == "process" and t.trend.is_leak],
        )
    by_target: dict[str | None, list[Violation]] = {}
    for v in violations.items:
        if v.metric == "rss":
            by_target.setdefault(v.target_key, []).append(v)
    leaking_keys = {t.target.key for t in targets if t.trend.is_leak}
    for key, items in by_target.items():
        if key in leaking_keys:
            continue  # the leak's own advice covers it
        yield rss_limit_advice(
            items[0].name,
            peak=max((v.peak or v.value) for v in items),
            times=len(items),
            above=math.fsum(v.duration for v in items),
        )
