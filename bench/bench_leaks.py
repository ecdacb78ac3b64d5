"""The leak detector against the first-to-last slope, on a labelled synthetic corpus,
on fresh series it was not tuned on, and on recordings of real programs.

Corpus: tests/leakgen.py, `--per-kind` series of each of its 12 kinds (fixed seeds
0..N-1), 30 minutes to 8 hours at 1 Hz, and of its fast leaks (20-100 MB/min, 10 min to
1 h). Hold-out: `--holdout` series of each kind from seeds 1000 on, never used to tune
anything. The warm-up kinds are reported in two halves, exponential warm-ups and linear
ramps: a ramp is a leak for as long as it ramps, and no rule can tell them apart then.
Each series is judged three ways:

- batch: `detect()` and `naive_slope()` on the whole series: precision, recall and F1
  per verdict, the share of each non-leak kind called a leak, the rate's relative
  error, how often the 95% interval holds the true rate, the onset's error;
- streaming: the series is replayed through the live engine (`memlens analyze
  --replay`'s code, watch/rerun.py: the `AlertEngine` of `watch`, fed the samples as
  ticks), evaluated every `--every` seconds (default 60), with the default settings and
  the patient preset (`PATIENT` below); `naive_slope` in an `OnlineDetector` with the
  default persistence is the peer. Per kind: the share of series that raised a leak
  alarm, and that raised any level (a leak alarm or the calm growing status); for
  leaks, the time from the onset to the first alarm, and the share caught before the
  series ends;
- real programs: the recordings under tests/data/programs/ (made with `memlens run`),
  their whole-series verdict and replayed alerts, against what each program does;
- cost: milliseconds per `OnlineDetector.step()` on one hour of data at 1 Hz (3,600
  samples), measured alone before the corpus runs (the corpus runs on `--jobs`
  processes and would disturb the timings).

    python -m bench.bench_leaks [--per-kind 40] [--holdout 40] [--every 60] [--jobs 2]
                                [--no-write] [--kinds KIND,...] [--show-alarms]

`--show-alarms` prints each non-leak series that raised a leak alarm (and each leak
alarmed before its onset) with the rule and text of its first alarm; `--kinds` runs
only the kinds named, for a quick look (it writes nothing).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tests.leakgen import EXTRA_KINDS, KINDS, MB, generate

from bench._util import (
    ROOT,
    exit_on_sigterm,
    md_table,
    median,
    percentile,
    render_section,
    verdict,
    write_section,
)
from memlens.analysis.leakmodel import DetectorConfig, Verdict
from memlens.analysis.leaks import OnlineDetector, detect, naive_slope
from memlens.config import Settings
from memlens.formats.series import read_series
from memlens.watch.rerun import ReplaySeries, replay

MINUTE = 60.0
HOUR = 3600.0
CLASSES = (Verdict.LEAK, Verdict.PLATEAU, Verdict.STEP, Verdict.FLAT, Verdict.INSUFFICIENT)
DEFAULT = DetectorConfig()
# Waits for 30 minutes of data and 10 LEAK evaluations in a row: the trade the other way.
PATIENT = DetectorConfig(min_duration=1800.0, persistence=10)
PRESETS = {"memlens": DEFAULT, "patient": PATIENT}
# Columns: (key, heading). "patient" exists in streaming only.
COLUMNS = (
    ("memlens", "memlens (default)"),
    ("patient", "memlens, patient (streaming)"),
    ("naive", "naive first-to-last"),
)
HOLDOUT_SEED = 1000
PROGRAMS = ROOT / "tests" / "data" / "programs"
# The goals (the streaming ones on the corpus and on the hold-out alike).
TARGET_PR = 0.95
TARGET_WORST = 0.10  # share of a non-leak kind's series with a leak alarm, worst kind
TARGET_MEAN = 0.05  # ... mean over the non-leak kinds
TARGET_CAUGHT = 0.95  # leaks of 1 MB/min and more alarmed before the series ends
TARGET_TTD_1 = 12.0  # min, median, leaks of 1 MB/min and more
TARGET_TTD_20 = 2.0  # min, median, leaks of 20 MB/min and more
TARGET_EVAL_MS = 5.0  # "a few milliseconds"


@dataclass
class Result:
    """What one series gave, for each method."""

    kind: str  # the kind as reported: warm-ups split into "(exp)" and "(ramp)"
    seed: int
    label: Verdict
    hours: float
    rate: float
    onset: float | None  # seconds from the start
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    rates: dict[str, float | None] = field(default_factory=dict)
    ci: tuple[float | None, float | None] = (None, None)
    onset_est: float | None = None
    alerts: dict[str, list[float]] = field(default_factory=dict)  # leak alarms, s from start
    growing: dict[str, list[float]] = field(default_factory=dict)  # growing raised
    standing: dict[str, bool] = field(default_factory=dict)  # an alarm not withdrawn at the end
    first_alarm: str = ""  # the default settings' first leak alarm: when, which rule, its text


def reported_kind(kind: str, params: dict[str, float]) -> str:
    if kind.startswith("warmup"):
        return f"{kind} (ramp)" if "ramp" in params else f"{kind} (exp)"
    return kind


def run_one(task: tuple[str, int, float]) -> Result:
    kind, seed, every = task
    s = generate(kind, seed)
    t0 = s.times[0]
    onset = None if s.onset is None else s.onset - t0
    out = Result(reported_kind(kind, s.params), seed, s.label, s.duration / HOUR, s.rate, onset)
    found = detect(s.times, s.values)
    peer = naive_slope(s.times, s.values)
    out.verdicts = {"memlens": found.verdict, "naive": peer.verdict}
    out.rates = {"memlens": found.rate, "naive": peer.rate}
    out.ci = (found.rate_low, found.rate_high)
    out.onset_est = None if found.onset is None else found.onset - t0
    if s.label is Verdict.INSUFFICIENT:
        return out  # too short to stream
    series = [ReplaySeries("s", kind, 1, s.times, s.values, started=t0)]
    for name, config in PRESETS.items():
        alerts = replay(series, Settings(detector=config), every=every)["s"]
        out.alerts[name] = [a.raised_s for a in alerts if a.kind == "leak"]
        out.growing[name] = [a.raised_s for a in alerts if a.kind == "growing"]
        out.standing[name] = any(a.kind == "leak" and a.cleared_s is None for a in alerts)
        first = next((a for a in alerts if a.kind == "leak"), None)
        if name == "memlens" and first is not None:
            out.first_alarm = f"{first.raised_s / MINUTE:.1f} min, {first.rule}: {first.text}"
    naive = OnlineDetector(config=DEFAULT, analyser=naive_slope)
    out.alerts["naive"], out.growing["naive"] = [], []
    due = t0 + every
    for t, v in zip(s.times, s.values, strict=True):
        naive.update(t, v)
        if t >= due:
            due += every
            if naive.evaluate(t) is not None:
                out.alerts["naive"].append(t - t0)
    out.standing["naive"] = naive.alerting
    return out


def eval_cost(repeats: int) -> dict[str, list[float]]:
    """ms per step() on the last hour (3,600 samples) of a long series of each kind."""
    costs: dict[str, list[float]] = {"memlens": [], "naive": []}
    for kind in (*KINDS, *EXTRA_KINDS):
        if kind == "short":
            continue
        s = max((generate(kind, i) for i in range(40)), key=lambda x: x.duration)
        times, values = s.times[-3600:], s.values[-3600:]
        detectors = {
            "memlens": OnlineDetector(start=s.times[0]),
            "naive": OnlineDetector(analyser=naive_slope),
        }
        for d in detectors.values():
            for t, v in zip(times, values, strict=True):
                d.update(t, v)
        for _ in range(repeats):
            for name, d in detectors.items():
                start = time.perf_counter()
                d.step(times[-1])
                costs[name].append((time.perf_counter() - start) * 1000.0)
    return costs


# -- real programs ------------------------------------------------------------------------


@dataclass
class Program:
    name: str
    does: str
    expected: str  # the whole-series verdict it should get
    alarm: bool  # whether a live leak alarm is right
    verdict: str = ""
    reason: str = ""
    alerts: list[str] = field(default_factory=list)
    minutes: float = 0.0
    first_alarm: float | None = None


def programs(every: float) -> list[Program]:
    """Each recording of tests/data/programs/ judged whole and replayed, as `memlens
    analyze --replay` does (its process's series; default settings)."""
    manifest = PROGRAMS / "expected.json"
    if not manifest.is_file():
        return []
    out = []
    for name, spec in json.loads(manifest.read_text()).items():
        p = Program(name, spec["does"], spec["verdict"], spec["alarm"])
        found = read_series(PROGRAMS / spec["file"])
        one = next(x for x in found.series if x.kind == "process")
        finding = detect(one.times, one.values)
        p.verdict, p.reason = finding.verdict.value, finding.reason
        p.minutes = (one.times[-1] - one.times[0]) / MINUTE
        key = one.key or "s"
        alerts = replay(
            [ReplaySeries(key, name, one.pid or 0, one.times, one.values, one.started)],
            Settings(),
            every=every,
        )[key]
        p.alerts = [
            f"{a.kind} at {a.raised_s / MINUTE:.1f} min" + (f" ({a.rule})" if a.rule else "")
            for a in alerts
        ]
        leaks = [a.raised_s for a in alerts if a.kind == "leak"]
        p.first_alarm = leaks[0] / MINUTE if leaks else None
        out.append(p)
    return out


def programs_table(progs: list[Program]) -> str:
    rows = []
    for p in progs:
        ok = p.verdict == p.expected and (p.first_alarm is not None) == p.alarm
        rows.append(
            [
                f"`{p.name}`",
                p.does,
                f"{p.minutes:.1f}",
                f"{p.expected}, {'alarm' if p.alarm else 'no alarm'}",
                p.verdict,
                "; ".join(p.alerts) or "none",
                "yes" if ok else "**no**",
            ]
        )
    return md_table(
        [
            "program",
            "what it does",
            "minutes",
            "expected",
            "batch verdict",
            "live alerts (replayed)",
            "as expected",
        ],
        rows,
    )


# -- the figures ------------------------------------------------------------------------


def prf(results: Sequence[Result], method: str, cls: Verdict) -> tuple[float, float, float]:
    predicted = [r for r in results if r.verdicts[method] is cls]
    actual = [r for r in results if r.label is cls]
    hits = sum(1 for r in predicted if r.label is cls)
    precision = hits / len(predicted) if predicted else math.nan
    recall = hits / len(actual) if actual else math.nan
    f1 = (
        2 * precision * recall / (precision + recall)
        if predicted and actual and precision + recall > 0
        else math.nan
    )
    return precision, recall, f1


def ttd(r: Result, method: str) -> float:
    """Minutes from the onset to the first alarm after it; inf when none came."""
    onset = r.onset or 0.0
    after = [a for a in r.alerts.get(method, []) if a >= onset]
    return (after[0] - onset) / MINUTE if after else math.inf


def false_alarms(group: Sequence[Result], method: str) -> tuple[int, float]:
    """Wrong alarms and the hours they could happen in: the whole series if it does not
    leak, the time before the onset of a late leak."""
    count, hours = 0, 0.0
    for r in group:
        alerts = r.alerts.get(method, [])
        if r.label is Verdict.LEAK:
            onset = r.onset or 0.0
            count += sum(1 for a in alerts if a < onset)
            hours += onset / HOUR
        else:
            count += len(alerts)
            hours += r.hours
    return count, hours


def fmt(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "never"
    return f"{value:.{digits}f}"


def pct(values: Sequence[float], p: float) -> float:
    """bench._util.percentile, except that an infinite (never alerted) value at or
    next to the rank makes the answer infinite instead of NaN."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    below, above = ordered[math.floor(rank)], ordered[math.ceil(rank)]
    if math.isinf(below) or (math.isinf(above) and rank != math.floor(rank)):
        return math.inf
    return percentile(ordered, p)


def ttd_text(group: Sequence[Result], method: str) -> str:
    values = [ttd(r, method) for r in group]
    found = sum(1 for v in values if math.isfinite(v))
    return f"{fmt(pct(values, 50), 1)} / {fmt(pct(values, 90), 1)} ({found}/{len(group)} alarmed)"


class Figures:
    """The results of one set of series, cut the ways the report needs."""

    def __init__(self, results: list[Result]) -> None:
        self.results = results
        self.leaks = [r for r in results if r.label is Verdict.LEAK]
        self.streamed_leaks = [r for r in self.leaks if r.alerts]
        self.fast = [r for r in self.streamed_leaks if r.rate >= 1.0 * MB / MINUTE]
        self.faster = [r for r in self.streamed_leaks if r.rate >= 20.0 * MB / MINUTE]
        self.quiet = [r for r in results if r.label is not Verdict.LEAK and r.alerts]
        kinds = dict.fromkeys(r.kind for r in results)
        self.kinds = list(kinds)
        self.non_leak = [
            k for k in kinds if self.kind(k)[0].label not in (Verdict.LEAK, Verdict.INSUFFICIENT)
        ]
        # the goals leave out the linear ramps, which no rule tells from a leak as they ramp
        self.judged = [k for k in self.non_leak if not k.endswith("(ramp)")]

    def kind(self, kind: str) -> list[Result]:
        return [r for r in self.results if r.kind == kind]

    def called_leak(self, method: str, kind: str) -> float:
        group = self.kind(kind)
        return sum(1 for r in group if r.verdicts[method] is Verdict.LEAK) / len(group)

    def alerted(self, method: str, kind: str) -> float:
        group = self.kind(kind)
        return sum(1 for r in group if r.alerts.get(method)) / len(group)

    def any_level(self, method: str, kind: str) -> float:
        group = self.kind(kind)
        return sum(1 for r in group if r.alerts.get(method) or r.growing.get(method)) / len(group)

    def standing(self, method: str, kind: str) -> float:
        group = self.kind(kind)
        return sum(1 for r in group if r.standing.get(method)) / len(group)

    def worst(self, method: str, kinds: Sequence[str] | None = None) -> tuple[float, str]:
        return max((self.alerted(method, k), k) for k in (kinds or self.judged))

    def mean(self, method: str, kinds: Sequence[str] | None = None) -> float:
        chosen = kinds or self.judged
        return sum(self.alerted(method, k) for k in chosen) / len(chosen)

    def caught(self, method: str) -> float:
        return sum(1 for r in self.fast if math.isfinite(ttd(r, method))) / len(self.fast)

    def rel_errors(self, method: str) -> list[float]:
        return [
            abs((r.rates[method] or 0.0) - r.rate) / r.rate
            for r in self.leaks
            if r.verdicts[method] is Verdict.LEAK and r.rates[method] is not None
        ]


def main_table(f: Figures, costs: dict[str, list[float]]) -> str:
    rows: list[list[str]] = []

    def row(name: str, batch: Callable[[str], str] | None, stream: Callable[[str], str]) -> None:
        cells = []
        for key, _ in COLUMNS:
            if key == "patient":
                cells.append("–" if batch is not None else stream(key))
            else:
                cells.append(batch(key) if batch is not None else stream(key))
        rows.append([name, *cells])

    for cls in CLASSES:
        row(
            f"batch: {cls.value}: precision / recall / F1",
            lambda m, c=cls: " / ".join(fmt(v) for v in prf(f.results, m, c)),
            str,
        )
    row(
        "batch: non-leak series called LEAK, worst kind",
        lambda m: f"{max(f.called_leak(m, k) for k in f.non_leak):.1%}",
        str,
    )
    row(
        "batch: rate error, median \\|est − true\\| / true",
        lambda m: f"{fmt(pct(f.rel_errors(m), 50) * 100, 1)}%",
        str,
    )
    linear = [
        r for r in f.leaks if r.kind == "linear_leak" and r.verdicts["memlens"] is Verdict.LEAK
    ]
    covered = sum(1 for r in linear if (r.ci[0] or 0) <= r.rate <= (r.ci[1] or 0))
    row(
        "batch: 95% CI holds the true rate (linear leaks)",
        lambda m: f"{covered}/{len(linear)}" if m == "memlens" else "–",
        str,
    )
    late = [
        r for r in f.leaks if r.kind == "late_onset_leak" and r.verdicts["memlens"] is Verdict.LEAK
    ]
    errors = [abs((r.onset_est or 0.0) - (r.onset or 0.0)) / MINUTE for r in late]
    row(
        "batch: onset error, median / p90 min (late leaks)",
        lambda m: (
            f"{fmt(pct(errors, 50), 1)} / {fmt(pct(errors, 90), 1)}" if m == "memlens" else "–"
        ),
        str,
    )
    row(
        "streaming: non-leak series with a leak alarm, worst kind (ramps apart)",
        None,
        lambda m: "{:.0%} (`{}`)".format(*f.worst(m)),
    )
    row(
        "streaming: the same, mean over non-leak kinds (ramps apart)",
        None,
        lambda m: f"{f.mean(m):.1%}",
    )
    ramps = [k for k in f.non_leak if k.endswith("(ramp)")]
    row(
        "streaming: linear warm-up ramps with a leak alarm",
        None,
        lambda m: ", ".join(f"`{k}` {f.alerted(m, k):.0%}" for k in ramps),
    )

    def per_hour(m: str) -> str:
        count, hours = false_alarms(f.quiet, m)
        return f"{count / hours:.3f} ({count} in {hours:.0f} h)"

    row("streaming: false leak alarms per hour, non-leak series", None, per_hour)
    row(
        "streaming: non-leak series whose alarm still stands at the end, worst kind",
        None,
        lambda m: "{:.0%} (`{}`)".format(*max((f.standing(m, k), k) for k in f.non_leak)),
    )
    row(
        "streaming: alarms before a late leak's onset",
        None,
        lambda m: "{} in {:.0f} h".format(
            *false_alarms([r for r in f.streamed_leaks if r.kind == "late_onset_leak"], m)
        ),
    )
    row(
        "streaming: leaks ≥ 1 MB/min alarmed before the series ends",
        None,
        lambda m: f"{f.caught(m):.0%}",
    )
    row(
        "streaming: time to detection, median / p90 min, all leaks",
        None,
        lambda m: ttd_text(f.streamed_leaks, m),
    )
    row("streaming: same, leaks ≥ 1 MB/min", None, lambda m: ttd_text(f.fast, m))
    row("streaming: same, leaks ≥ 20 MB/min", None, lambda m: ttd_text(f.faster, m))
    row(
        "streaming: same, leaks ≥ 20 MB/min from a process's start / beginning later",
        None,
        lambda m: " · ".join(
            ttd_text(
                [r for r in f.faster if (r.onset or 0.0) < 600.0]
                if young
                else [r for r in f.faster if (r.onset or 0.0) >= 600.0],
                m,
            )
            for young in (True, False)
        ),
    )
    row(
        "ms per evaluation on 1 h at 1 Hz, median / p99",
        lambda m: f"{median(costs[m]):.2f} / {pct(costs[m], 99):.2f}",
        lambda m: "as default",
    )
    return md_table(["measure", *(heading for _, heading in COLUMNS)], rows)


def kinds_table(f: Figures) -> str:
    rows = []
    for kind in f.kinds:
        group = f.kind(kind)
        label = group[0].label
        said = Counter(r.verdicts["memlens"].value for r in group)
        naive_leak = sum(1 for r in group if r.verdicts["naive"] is Verdict.LEAK)
        cells = []
        for method in ("memlens", "patient", "naive"):
            if label is Verdict.INSUFFICIENT:
                cells.append("–")
            elif label is Verdict.LEAK:
                cells.append(ttd_text(group, method))
            else:
                alerted = sum(1 for r in group if r.alerts[method])
                level = sum(1 for r in group if r.alerts[method] or r.growing[method])
                cell = f"{alerted}/{len(group)}"
                if method != "naive":
                    cell += f", any level {level}/{len(group)}"
                cells.append(cell)
        rows.append(
            [
                f"`{kind}`",
                label.value,
                ", ".join(f"{v} {n}" for v, n in said.most_common()),
                f"{naive_leak}/{len(group)}",
                *cells,
            ]
        )
    return md_table(
        [
            "kind",
            "label",
            "batch: memlens said",
            "batch: naive LEAK",
            "streaming, default",
            "streaming, patient",
            "streaming, naive",
        ],
        rows,
    )


def goals(f: Figures, name: str, eval_ms: float | None) -> str:
    worst, kind = f.worst("memlens")
    mean = f.mean("memlens")
    caught = f.caught("memlens")
    ttd1 = pct([ttd(x, "memlens") for x in f.fast], 50)
    ttd20 = pct([ttd(x, "memlens") for x in f.faster], 50)
    p, r, _ = prf(f.results, "memlens", Verdict.LEAK)
    worst_batch = max(f.called_leak("memlens", k) for k in f.non_leak)
    text = (
        f"{name}: LEAK precision / recall {p:.3f} / {r:.3f} (at least {TARGET_PR}): "
        f"{verdict(p >= TARGET_PR and r >= TARGET_PR)}; non-leak series called LEAK, worst "
        f"kind {worst_batch:.1%}: {verdict(worst_batch <= 0.05)}. Streaming leak alarms on "
        f"non-leak series, worst kind `{kind}` {worst:.0%} (at most {TARGET_WORST:.0%}): "
        f"{verdict(worst <= TARGET_WORST)}; mean over non-leak kinds {mean:.1%} (at most "
        f"{TARGET_MEAN:.0%}): {verdict(mean <= TARGET_MEAN)}; leaks of 1 MB/min and more "
        f"caught before the series ends {caught:.0%} (at least {TARGET_CAUGHT:.0%}): "
        f"{verdict(caught >= TARGET_CAUGHT)}; their median time to detection {fmt(ttd1, 1)} "
        f"min (at most {TARGET_TTD_1:.0f}): {verdict(ttd1 <= TARGET_TTD_1)}; for leaks of "
        f"20 MB/min and more {fmt(ttd20, 1)} min (at most {TARGET_TTD_20:.0f}): "
        f"{verdict(ttd20 <= TARGET_TTD_20)}."
    )
    if eval_ms is not None:
        text += (
            f" A few milliseconds per evaluation on an hour of data (a median of at most "
            f"{TARGET_EVAL_MS:.0f} ms): {eval_ms:.2f} ms: {verdict(eval_ms <= TARGET_EVAL_MS)}."
        )
    return text


def report(
    args: argparse.Namespace,
    results: list[Result],
    held: list[Result],
    *,
    progs: list[Program],
    costs: dict[str, list[float]],
    wall: float,
) -> str:
    f = Figures(results)
    h = Figures(held) if held else None
    eval_ms = median(costs["memlens"])
    target = goals(f, "Corpus", eval_ms)
    if h is not None:
        target += " " + goals(h, "Hold-out (fresh seeds)", None)
    if progs:
        right = sum(
            1 for p in progs if p.verdict == p.expected and (p.first_alarm is not None) == p.alarm
        )
        target += f" Real programs judged as expected: {right}/{len(progs)}."
    figures = (
        f"Corpus ({args.per_kind} per kind, seeds 0–{args.per_kind - 1}):\n\n"
        f"{main_table(f, costs)}\n\n"
    )
    if h is not None:
        figures += (
            f"Hold-out ({args.holdout} per kind, seeds {HOLDOUT_SEED}–"
            f"{HOLDOUT_SEED + args.holdout - 1}, never used to tune):\n\n{main_table(h, costs)}\n\n"
        )
    figures += (
        f"{len(results) + len(held)} series, "
        f"{sum(x.hours for x in results + held):.0f} hours of samples, all of them streamed. "
        f"Streaming replays each series through the live engine every {args.every:.0f} s; "
        f"the patient preset waits for {PATIENT.min_duration / MINUTE:.0f} min of data and "
        f"{PATIENT.persistence} evaluations for its trend rule. The naive peer calls LEAK "
        "when the last sample is more than 1 MB above the first and knows no verdict but "
        "FLAT and INSUFFICIENT. Times to detection count a leak never alarmed on as "
        'infinite ("never" when that reaches the percentile). The warm-up kinds are split '
        "into exponential warm-ups `(exp)` and linear ramps `(ramp)`; the goals leave the "
        f"ramps out and the tables show them. Run time {wall / 60:.1f} min on {args.jobs} "
        "process(es).\n\nPer kind, corpus (streaming cells: non-leak kinds, series with a "
        "leak alarm, and with any level, leak or growing; leaks, time to detection median "
        f"/ p90 min):\n\n{kinds_table(f)}"
    )
    if h is not None:
        figures += f"\n\nPer kind, hold-out:\n\n{kinds_table(h)}"
    if progs:
        figures += (
            "\n\nReal programs (tests/data/programs/: each recorded with `memlens run "
            "--interval 1` for the minutes shown, in real time, not compressed; judged "
            "with the default settings, replayed every "
            f"{args.every:.0f} s):\n\n{programs_table(progs)}"
        )
    notes = (
        "What the remaining streaming alarms are: linear warm-up ramps that last longer "
        "than the young process's wait (8 minutes and 3 evaluations), or that climb at "
        "20 MB/min or more for 2 minutes (50 for 1), which are leaks for as long as they "
        "ramp (the alarm is withdrawn when they stop); a few warm-ups under a sawtooth "
        "whose slowing the trend rule does not see; and a few slow wanders that climb for "
        "half an hour. A young process's climb is judged on 2 minutes at 20 MB/min and on "
        "1 minute at 50 MB/min, so fast leaks from a process's start are alarmed at the "
        "first or second evaluation (one period and its stagger after the target appears, "
        "here 1.4 min, then 2.4), and those that begin later within one or two minutes. "
        "`--show-alarms` lists each wrong alarm's series, rule and text. "
        'docs/leak-detection.md ("Live levels") gives the rules.'
    )
    what = __doc__.split("\n\n    python")[0].split("\n", 1)[1].strip()
    return render_section(
        "leaks",
        "Leak detection: verdicts, false alarms, time to detection",
        what=what,
        command=f"python -m bench.bench_leaks --per-kind {args.per_kind} --holdout "
        f"{args.holdout} --every {args.every:g} --jobs {args.jobs}",
        figures=figures,
        target=target,
        notes=notes,
    )


def run_all(tasks: list[tuple[str, int, float]], jobs: int, label: str) -> list[Result]:
    started = time.monotonic()
    results: list[Result] = []
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for result in pool.imap_unordered(run_one, tasks, chunksize=1):
            results.append(result)
            if len(results) % 60 == 0:
                elapsed = time.monotonic() - started
                print(f"{label}: {len(results)}/{len(tasks)} series, {elapsed:.0f} s", flush=True)
    order = [*KINDS, *EXTRA_KINDS]
    results.sort(key=lambda x: (order.index(x.kind.split(" ")[0]), x.kind, x.seed))
    return results


def tasks_for(
    per_kind: int, first: int, every: float, kinds: Sequence[str] = ()
) -> list[tuple[str, int, float]]:
    return [
        (kind, seed, every)
        for seed in range(first, first + per_kind)
        for kind in (*KINDS, *EXTRA_KINDS)
        if not kinds or kind in kinds
    ]


def show_alarms(label: str, results: Sequence[Result]) -> None:
    """The non-leak series the default settings raised a leak alarm on, and the leaks'
    first alarms before their onset: what to read before changing a rule."""
    for r in results:
        wrong = r.label is not Verdict.LEAK or any(
            a < (r.onset or 0.0) for a in r.alerts["memlens"]
        )
        if r.first_alarm and wrong:
            print(f"{label}: {r.kind} seed {r.seed} ({r.hours * 60:.0f} min): {r.first_alarm}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=40, help="series per kind (40)")
    parser.add_argument("--holdout", type=int, default=40, help="fresh series per kind (40)")
    parser.add_argument("--every", type=float, default=60.0, help="s between evaluations")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--cost-repeats", type=int, default=30, help="timed evaluations")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument(
        "--kinds", default="", help="comma-separated kinds only (implies --no-write)"
    )
    parser.add_argument(
        "--show-alarms", action="store_true", help="print each wrong leak alarm's series and rule"
    )
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    unknown = [k for k in kinds if k not in KINDS and k not in EXTRA_KINDS]
    if unknown:
        parser.error(f"unknown kinds: {', '.join(unknown)}")
    args.no_write = args.no_write or bool(kinds)
    exit_on_sigterm()
    costs = eval_cost(args.cost_repeats)
    print(f"cost: memlens {median(costs['memlens']):.2f} ms median per evaluation", flush=True)
    started = time.monotonic()
    results = run_all(tasks_for(args.per_kind, 0, args.every, kinds), args.jobs, "corpus")
    held: list[Result] = []
    if args.holdout:
        held = run_all(
            tasks_for(args.holdout, HOLDOUT_SEED, args.every, kinds), args.jobs, "hold-out"
        )
    if args.show_alarms:
        show_alarms("corpus", results)
        show_alarms("hold-out", held)
    progs = programs(args.every)
    section = report(args, results, held, progs=progs, costs=costs, wall=time.monotonic() - started)
    print(section)
    if not args.no_write:
        write_section("leaks", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
