"""A chart of many series that stays readable on a self-contained page: a few lines drawn
in full (a group's sum and mean, then its largest members) and every other series as one
"others" band, from the lowest to the highest of them at each moment. 300 processes
make at most a dozen lines and a band, not 300 lines and a 300-entry legend.

The data goes to the page's JSON block; `assets/groupchart.js` draws it. Every line is
reduced with M4 on its own, so a long recording stays a page of a few hundred kB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memlens.analysis.groups import DEFAULT_TOP
from memlens.formats.grouping import SumSeries
from memlens.formats.m4 import m4

Value = float | int | None
Series = tuple[str, Sequence[float], Sequence[Value]]  # label, times, values

SUM_COLOR = "#1d2330"
OTHERS_COLOR = "#8a94a6"
OTHERS_FILL = "rgba(138, 148, 166, 0.28)"


def line(
    label: str,
    color: str,
    ts: Sequence[float],
    vs: Sequence[Value],
    *,
    buckets: int,
    width: float = 1.5,
    dash: bool = False,
    band: str | None = None,
) -> dict[str, Any]:
    t, v, bucketed = m4(ts, vs, buckets)
    return {
        "label": label,
        "color": color,
        "width": width,
        "dash": dash,
        "band": band,
        "bucketed": bucketed,
        "t": [round(x, 3) for x in t],
        "v": v,
    }


def envelope(series: Sequence[Series]) -> tuple[list[float], list[Value], list[Value]]:
    """At each moment any of `series` has a value: the lowest and the highest value."""
    low: dict[float, float] = {}
    high: dict[float, float] = {}
    for _, ts, vs in series:
        for t, v in zip(ts, vs, strict=False):
            if v is None:
                continue
            if t not in low or v < low[t]:
                low[t] = v
            if t not in high or v > high[t]:
                high[t] = v
    order = sorted(low)
    return order, [low[t] for t in order], [high[t] for t in order]


def ranked_chart(
    ranked: Sequence[Series],
    *,
    palette: Sequence[str],
    buckets: int,
    top: int = DEFAULT_TOP,
    lead: Sequence[dict[str, Any]] = (),
    others: str = "others",
) -> dict[str, Any]:
    """`lead` lines, then the first `top` of `ranked` (largest first) as lines, and the
    rest as one band labelled `others`."""
    lines = list(lead)
    for i, (label, ts, vs) in enumerate(ranked[:top]):
        lines.append(line(label, palette[i % len(palette)], ts, vs, buckets=buckets))
    rest = ranked[top:]
    if rest:
        ts, low, high = envelope(rest)
        name = f"{others} ({len(rest):,})"
        lines.append(line(f"{name}: highest", OTHERS_COLOR, ts, high, buckets=buckets, band="high"))
        lines.append(line(f"{name}: lowest", OTHERS_COLOR, ts, low, buckets=buckets, band="low"))
    return {"lines": lines, "fill": OTHERS_FILL, "others": len(rest)}


def group_chart(
    label: str,
    total: SumSeries,
    members: Sequence[Series],
    *,
    palette: Sequence[str],
    buckets: int,
    top: int = DEFAULT_TOP,
) -> dict[str, Any]:
    """A group: its honest sum and its mean per process (in the sum's measure), its
    `top` members' RSS (given largest first) and the others' RSS as a band."""
    measure = total.measure.upper()
    lead = [
        line(
            f"{label}: sum ({measure})", SUM_COLOR, total.t, total.total, buckets=buckets, width=2.5
        ),
        line(
            f"{label}: mean per process ({measure})",
            SUM_COLOR,
            total.t,
            total.mean,
            buckets=buckets,
            dash=True,
        ),
    ]
    chart = ranked_chart(
        members, palette=palette, buckets=buckets, top=top, lead=lead, others="other members"
    )
    return {**chart, "group": label, "measure": total.measure}
