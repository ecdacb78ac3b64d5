"""The CI gate: did a run stay within its memory limits? One criterion per limit per
target, each passed, failed or not judged, and the verdict and exit code they make.

Which targets: a process tree is judged once, as its summed series when it has one (what
the machine has to hold is the tree's total, and the sum already contains every member);
processes outside any tree are judged on their own. Judging each member as well would
repeat the tree's verdict and make a limit meant for the whole mean something else.

The rules (docs/cli.md, "memlens check", says the same to users):

- max-rss: the peak RSS over the whole run, warm-up included (a peak during start-up
  costs the machine as much as any other), fails above the limit. A process tree's sum
  is judged on its honest total, the members' PSS added up (a page shared by a parent
  and its forked workers counted once, not once per process; RSS for a member whose PSS
  was unknown), and its message gives the plain RSS sum beside it.
- max-growth: judged on the samples after the warm-up. With enough of them for the leak
  detector (`min_points` over `min_duration`), its verdict decides: a LEAK faster than
  the limit fails; a warm-up, a step or a flat series pass. CI runs are often shorter,
  and the detector rightly refuses those, so below that the rule is the floor's robust
  trend: Theil–Sen on the lower envelope, failing when Mann–Kendall finds a rise
  (p < `alpha`) and its rate is above the limit. That cannot tell a leak from a warm-up
  still under way, which is why the message says the run was short and `--warmup`
  exists. With fewer than `min_envelope_points` floor points it is not judged.
- leak (only when no limit was asked for): a LEAK from the detector fails; a run too
  short for the detector is not judged.
- exit-code: a command that failed or was killed proves nothing about its memory (a
  crash can end a leak early), so a non-zero exit fails unless it is allowed.

A criterion that could not be judged says why and does not fail the check, unless the
check is strict: a CI job then learns that its run was too short instead of passing
quietly. Either way it is never reported as passed.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from memlens.analysis.envelope import EnvelopeParams, lower_envelope
from memlens.analysis.leakmodel import DetectorConfig, LeakFinding, Verdict
from memlens.analysis.leaks import detect
from memlens.analysis.leaktext import duration_text, headline, rate_range, rate_text
from memlens.analysis.trend import theil_sen
from memlens.errors import EXIT_CHECK_FAILED, EXIT_OK
from memlens.units import human_bytes

MAX_RSS = "max-rss"
MAX_GROWTH = "max-growth"
LEAK = "leak"
EXIT_CODE = "exit-code"

BYTES = "bytes"
RATE = "bytes/s"
CODE = "code"


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_JUDGED = "not judged"


@dataclass(frozen=True)
class TargetSeries:
    """One recorded target as the gate needs it: RSS over time (None where unknown).

    `kind` is "process" or "sum"; a sum lists its processes' keys in `members`, and a
    process names its parent's key in `parent`. `honest`, for a sum, is its total at the
    same times with shared pages counted once (its PSS column): what max-rss judges.
    """

    label: str
    kind: str
    times: Sequence[float]
    values: Sequence[float | int | None]
    members: tuple[str, ...] = ()
    parent: str | None = None
    honest: Sequence[float | int | None] | None = None


@dataclass(frozen=True)
class Criterion:
    """One limit judged on one target. `measured` and `limit` are in `unit`: bytes for
    max-rss, bytes/s for max-growth and leak, the shell's exit status for exit-code."""

    name: str
    target: str
    status: Status
    measured: float | None
    limit: float | None
    message: str
    unit: str = BYTES

    @property
    def measured_text(self) -> str:
        return _figure(self.measured, self.unit)

    @property
    def limit_text(self) -> str:
        if self.unit == CODE:
            return "0" if self.limit is None else _figure(self.limit, CODE)
        return _figure(self.limit, self.unit)


@dataclass(frozen=True)
class GateResult:
    """Every criterion, which targets were judged and why, and the verdict."""

    criteria: tuple[Criterion, ...]
    scope: str

    @property
    def failed(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.status is Status.FAILED)

    @property
    def not_judged(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.status is Status.NOT_JUDGED)

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 when a criterion did."""
        return EXIT_OK if self.passed else EXIT_CHECK_FAILED


def judge(
    series_by_target: Mapping[str, TargetSeries],
    *,
    max_rss: float | None,
    max_growth: float | None,
    warmup: float = 0.0,
    config: DetectorConfig = DetectorConfig(),  # noqa: B008 - frozen, shared safely
    exit_code: int | None = None,
    allowed_exit_codes: Collection[int] = (),
    strict: bool = False,
) -> GateResult:
    """Judge every limit given on every target that stands for a process tree.

    `exit_code` is the command's as a process reports it (negative: killed by that
    signal), None when there was no command or it is not known. With neither limit, a
    leak is what fails the check. `strict` turns "not judged" into a failure.
    """
    if warmup < 0:
        raise ValueError("the warm-up cannot be negative")
    chosen, scope = select(series_by_target)
    criteria: list[Criterion] = []
    if exit_code is not None:
        criteria.append(_exit_code(exit_code, allowed_exit_codes))
    names = [n for n, given in ((MAX_RSS, max_rss), (MAX_GROWTH, max_growth)) if given is not None]
    if not names:
        names = [LEAK]
    if not chosen:
        limits = {MAX_RSS: max_rss, MAX_GROWTH: max_growth, LEAK: None}
        for name in names:
            unit = BYTES if name == MAX_RSS else RATE
            message = "nothing was recorded: the run has no samples"
            criteria.append(
                Criterion(name, "no targets", Status.NOT_JUDGED, None, limits[name], message, unit)
            )
    for series in chosen:
        ts, vs = _clean(series.times, series.values)
        if max_rss is not None:
            if series.honest is not None:
                criteria.append(_max_total(series, max_rss))
            else:
                criteria.append(_max_rss(series.label, ts, vs, max_rss))
        after = _after_warmup(ts, vs, warmup)
        if max_growth is not None:
            criteria.append(
                _max_growth(
                    series.label, after, max_growth, warmup=warmup, config=config, max_rss=max_rss
                )
            )
        if LEAK in names:
            criteria.append(_leak(series.label, after, warmup, config))
    if strict:
        criteria = [_strictly(c) for c in criteria]
    return GateResult(tuple(criteria), scope)


def select(series_by_target: Mapping[str, TargetSeries]) -> tuple[list[TargetSeries], str]:
    """The series that stand for a process tree each: every sum, and every process that
    belongs to none; and a sentence saying so."""
    sums = {key: s for key, s in series_by_target.items() if s.kind == "sum"}
    covered = {member for s in sums.values() for member in s.members}
    # A descendant that joined after the sum's members were written still belongs to it.
    grew = True
    while grew:
        grew = False
        for key, s in series_by_target.items():
            if key not in covered and s.parent is not None and s.parent in covered:
                covered.add(key)
                grew = True
    chosen = [s for key, s in series_by_target.items() if s.kind == "sum" or key not in covered]
    alone = len(chosen) - len(sums)
    if sums and alone:
        scope = (
            f"{_count(len(sums), 'process tree')} as the sum of its processes, and "
            f"{_count(alone, 'process')} outside any tree on its own"
        )
    elif sums:
        scope = f"{_count(len(sums), 'process tree')} as the sum of its processes"
    else:
        scope = f"{_count(alone, 'process')}, each on its own"
    return chosen, scope


# -- the criteria ----------------------------------------------------------------------


def _max_rss(label: str, ts: list[float], vs: list[float], limit: float) -> Criterion:
    if not vs:
        return Criterion(MAX_RSS, label, Status.NOT_JUDGED, None, limit, "no samples")
    at = max(range(len(vs)), key=vs.__getitem__)
    peak = vs[at]
    over = peak > limit
    where = "above" if over else "within"
    into = duration_text(ts[at] - ts[0])
    message = f"peak {human_bytes(peak)}, {into} into the run, {where} the limit"
    status = Status.FAILED if over else Status.PASSED
    return Criterion(MAX_RSS, label, status, peak, limit, message)


def _max_total(series: TargetSeries, limit: float) -> Criterion:
    """max-rss on a process tree: its honest total (PSS added up), with the RSS sum of
    the same moment beside it, which counts every shared page once per process."""
    assert series.honest is not None
    pairs = [
        (float(t), float(h), r)
        for t, h, r in zip(series.times, series.honest, series.values, strict=True)
        if h is not None and math.isfinite(h)
    ]
    if not pairs:
        return Criterion(MAX_RSS, series.label, Status.NOT_JUDGED, None, limit, "no samples")
    at = max(range(len(pairs)), key=lambda i: pairs[i][1])
    t, peak, rss = pairs[at]
    over = peak > limit
    where = "above" if over else "within"
    into = duration_text(t - pairs[0][0])
    beside = "" if rss is None else f"; {human_bytes(rss)} as RSS counted per process"
    message = (
        f"peak {human_bytes(peak)} PSS (shared pages counted once{beside}), {into} into "
        f"the run, {where} the limit"
    )
    status = Status.FAILED if over else Status.PASSED
    return Criterion(MAX_RSS, series.label, status, peak, limit, message)


def _max_growth(
    label: str,
    after: tuple[list[float], list[float], str],
    limit: float,
    *,
    warmup: float,
    config: DetectorConfig,
    max_rss: float | None,
) -> Criterion:
    ts, vs, why_none = after
    if why_none:
        return Criterion(MAX_GROWTH, label, Status.NOT_JUDGED, None, limit, why_none, RATE)
    found = detect(ts, vs, limit=max_rss, config=config)
    if found.verdict is not Verdict.INSUFFICIENT:
        return _growth_by_detector(label, found, limit)
    return _growth_by_trend(label, ts, vs, limit, warmup=warmup, config=config)


def _growth_by_detector(label: str, found: LeakFinding, limit: float) -> Criterion:
    """Long enough for the detector: only a leak can break a growth limit."""
    text = headline(found)
    if found.is_leak and found.rate is not None and found.rate > limit:
        message = f"{text}; faster than the limit"
        return Criterion(MAX_GROWTH, label, Status.FAILED, found.rate, limit, message, RATE)
    if found.is_leak:
        text += "; within the limit"
    return Criterion(MAX_GROWTH, label, Status.PASSED, found.rate, limit, text, RATE)


def _growth_by_trend(
    label: str,
    ts: list[float],
    vs: list[float],
    limit: float,
    *,
    warmup: float,
    config: DetectorConfig,
) -> Criterion:
    """Too short for the detector: the floor's trend, and a message that says so."""
    span = ts[-1] - ts[0] if ts else 0.0
    short = (
        f"short run ({duration_text(span)} judged, {_from_text(warmup)}; the leak "
        f"detector needs {duration_text(config.min_duration)}), judged on the floor's "
        "trend, which cannot tell a leak from a warm-up"
    )
    floor = lower_envelope(ts, vs, short_run_params(config)) if len(ts) >= 2 else None
    points = len(floor.times) if floor is not None else 0
    if floor is None or points < max(3, config.min_envelope_points):
        message = (
            f"not enough samples: {len(ts)} over {duration_text(span)} "
            f"{_from_text(warmup)} make {points} floor points, and the trend needs "
            f"{max(3, config.min_envelope_points)}; sample more often or run longer"
        )
        return Criterion(MAX_GROWTH, label, Status.NOT_JUDGED, None, limit, message, RATE)
    t0 = floor.times[0]
    trend = theil_sen([t - t0 for t in floor.times], floor.values, level=config.ci_level)
    figure = f"{rate_text(trend.slope)} (CI {rate_range(trend.low, trend.high, trend.slope)})"
    rising = trend.p_up < config.alpha
    if rising and trend.slope > limit:
        message = f"{short}: the floor rose {figure}, faster than the limit"
        return Criterion(MAX_GROWTH, label, Status.FAILED, trend.slope, limit, message, RATE)
    if rising:
        message = f"{short}: the floor rose {figure}, within the limit"
    else:
        message = f"{short}: no significant rise of the floor ({figure})"
    return Criterion(MAX_GROWTH, label, Status.PASSED, trend.slope, limit, message, RATE)


def short_run_params(config: DetectorConfig) -> EnvelopeParams:
    """The detector's floor, but with windows as short as three samples: a run of
    seconds has no ten-second windows to spare."""
    return EnvelopeParams(
        min_window=0.0,
        max_points=config.max_envelope_points,
        quantile=config.envelope_quantile,
        jump_sigmas=config.jump_sigmas,
        jump_min=config.jump_min,
        sawtooth_min_drops=config.sawtooth_min_drops,
        cover=config.sawtooth_cover,
        min_points=config.min_envelope_points,
        excursion_max=config.excursion_max,
    )


def _leak(
    label: str,
    after: tuple[list[float], list[float], str],
    warmup: float,
    config: DetectorConfig,
) -> Criterion:
    ts, vs, why_none = after
    if why_none:
        return Criterion(LEAK, label, Status.NOT_JUDGED, None, None, why_none, RATE)
    found = detect(ts, vs, config=config)
    if found.verdict is Verdict.INSUFFICIENT:
        message = f"too short for the leak detector {_from_text(warmup)}: {found.reason}"
        return Criterion(LEAK, label, Status.NOT_JUDGED, None, None, message, RATE)
    status = Status.FAILED if found.is_leak else Status.PASSED
    return Criterion(LEAK, label, status, found.rate, None, headline(found), RATE)


def _exit_code(code: int, allowed: Collection[int]) -> Criterion:
    if code < 0:
        status = 128 - code
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        message = f"ended by {name} (exit {status}): a run cut short proves nothing"
    else:
        status = code
        message = "the command succeeded" if code == 0 else f"exited with {code}"
        if code != 0:
            message += " (allowed)" if code in allowed else ": a run that failed proves nothing"
    ok = status == 0 or status in allowed
    verdict = Status.PASSED if ok else Status.FAILED
    return Criterion(EXIT_CODE, "command", verdict, status, None, message, CODE)


def _strictly(criterion: Criterion) -> Criterion:
    if criterion.status is not Status.NOT_JUDGED:
        return criterion
    message = f"not judged, which fails a strict check: {criterion.message}"
    return Criterion(
        criterion.name,
        criterion.target,
        Status.FAILED,
        criterion.measured,
        criterion.limit,
        message,
        criterion.unit,
    )


# -- helpers ---------------------------------------------------------------------------


def _clean(
    times: Sequence[float], values: Sequence[float | int | None]
) -> tuple[list[float], list[float]]:
    ts: list[float] = []
    vs: list[float] = []
    for t, v in zip(times, values, strict=True):
        if v is not None and math.isfinite(v) and (not ts or t > ts[-1]):
            ts.append(float(t))
            vs.append(float(v))
    return ts, vs


def _after_warmup(
    ts: list[float], vs: list[float], warmup: float
) -> tuple[list[float], list[float], str]:
    """The samples from `warmup` seconds after the first on, or why there are none."""
    if not ts:
        return [], [], "no samples"
    start = ts[0] + warmup
    keep = [i for i, t in enumerate(ts) if t >= start]
    if len(keep) < 2:
        return (
            [],
            [],
            (
                f"the run lasted {duration_text(ts[-1] - ts[0])}: nothing is left to judge "
                f"{_from_text(warmup)}"
            ),
        )
    first = keep[0]
    return ts[first:], vs[first:], ""


def _from_text(warmup: float) -> str:
    return f"after a warm-up of {duration_text(warmup)}" if warmup > 0 else "from the start"


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun}es" if noun.endswith("s") else f"{n} {noun}s"


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == BYTES:
        return human_bytes(value)
    if unit == RATE:
        return rate_text(value)
    return str(round(value))
