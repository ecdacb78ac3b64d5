"""The leak detector against the first-to-last slope, on a labelled synthetic corpus.

Corpus: tests/leakgen.py, `--per-kind` series of each of its 12 kinds (fixed seeds
0..N-1), 30 minutes to 8 hours at 1 Hz. Each series is judged three ways:

- batch: `detect()` and `naive_slope()` on the whole series: precision, recall and F1
  per verdict, the share of each non-leak kind called a leak, the rate's relative
  error, how often the 95% interval holds the true rate, the onset's error;
- streaming: the series is fed sample by sample to an `OnlineDetector` evaluated every
  `--every` seconds (default 60), with the default configuration and with a patient one
  (`PATIENT` below), and to the same wrapper around `naive_slope` (same window and
  persistence as the default): alerts on series that do not leak (and before the onset
  of late leaks), and the time from a leak's onset to its first alert;
- cost: milliseconds per `OnlineDetector.evaluate()` on one hour of data at 1 Hz
  (3,600 samples), measured alone before the corpus runs (the corpus runs on `--jobs`
  processes and would disturb the timings).

    python -m bench.bench_leaks [--per-kind 40] [--every 60] [--jobs 2] [--no-write]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tests.leakgen import KINDS, MB, generate

from bench._util import (
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

MINUTE = 60.0
HOUR = 3600.0
CLASSES = (Verdict.LEAK, Verdict.PLATEAU, Verdict.STEP, Verdict.FLAT, Verdict.INSUFFICIENT)
DEFAULT = DetectorConfig()
# Waits for 30 minutes of data and 10 LEAK evaluations in a row: the trade the other way.
PATIENT = DetectorConfig(min_duration=1800.0, persistence=10)
# Columns: (key, heading). "patient" exists in streaming only.
COLUMNS = (
    ("memlens", "memlens (default)"),
    ("patient", "memlens, patient (streaming)"),
    ("naive", "naive first-to-last"),
)
TARGET_PR = 0.95
TARGET_FALSE = 0.05
TARGET_TTD_MIN = 10.0
TARGET_EVAL_MS = 5.0  # "a few milliseconds"


@dataclass
class Result:
    """What one series gave, for each method."""

    kind: str
    seed: int
    label: Verdict
    hours: float
    rate: float
    onset: float | None  # seconds from the start
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    rates: dict[str, float | None] = field(default_factory=dict)
    ci: tuple[float | None, float | None] = (None, None)
    onset_est: float | None = None
    alerts: dict[str, list[float]] = field(default_factory=dict)  # seconds from start
    standing: dict[str, bool] = field(default_factory=dict)  # an alert not withdrawn at the end


def run_one(task: tuple[str, int, float]) -> Result:
    kind, seed, every = task
    s = generate(kind, seed)
    t0 = s.times[0]
    onset = None if s.onset is None else s.onset - t0
    out = Result(kind, seed, s.label, s.duration / HOUR, s.rate, onset)
    found = detect(s.times, s.values)
    peer = naive_slope(s.times, s.values)
    out.verdicts = {"memlens": found.verdict, "naive": peer.verdict}
    out.rates = {"memlens": found.rate, "naive": peer.rate}
    out.ci = (found.rate_low, found.rate_high)
    out.onset_est = None if found.onset is None else found.onset - t0
    if s.label is Verdict.INSUFFICIENT:
        return out  # too short to stream
    detectors = {
        "memlens": OnlineDetector(config=DEFAULT),
        "patient": OnlineDetector(config=PATIENT),
        "naive": OnlineDetector(config=DEFAULT, analyser=naive_slope),
    }
    out.alerts = {name: [] for name in detectors}
    due = t0 + every
    for t, v in zip(s.times, s.values, strict=True):
        for d in detectors.values():
            d.update(t, v)
        if t >= due:
            due += every
            for name, d in detectors.items():
                if d.evaluate(t) is not None:
                    out.alerts[name].append(t - t0)
    out.standing = {name: d.alerting for name, d in detectors.items()}
    return out


def eval_cost(repeats: int) -> dict[str, list[float]]:
    """ms per evaluate() on the last hour (3,600 samples) of a long series of each kind."""
    costs: dict[str, list[float]] = {"memlens": [], "naive": []}
    for kind in KINDS:
        if kind == "short":
            continue
        s = next(s for s in map(lambda i: generate(kind, i), range(40)) if s.duration >= HOUR)
        times, values = s.times[-3600:], s.values[-3600:]
        detectors = {"memlens": OnlineDetector(), "naive": OnlineDetector(analyser=naive_slope)}
        for d in detectors.values():
            for t, v in zip(times, values, strict=True):
                d.update(t, v)
        for _ in range(repeats):
            for name, d in detectors.items():
                start = time.perf_counter()
                d.evaluate(times[-1])
                costs[name].append((time.perf_counter() - start) * 1000.0)
    return costs


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
    """Minutes from the onset to the first alert after it; inf when none came."""
    onset = r.onset or 0.0
    after = [a for a in r.alerts.get(method, []) if a >= onset]
    return (after[0] - onset) / MINUTE if after else math.inf


def false_alarms(group: Sequence[Result], method: str) -> tuple[int, float]:
    """Wrong alerts and the hours they could happen in: the whole series if it does not
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
    return f"{fmt(pct(values, 50), 1)} / {fmt(pct(values, 90), 1)} ({found}/{len(group)} alerted)"


class Figures:
    """The corpus's results, cut the ways the report needs."""

    def __init__(self, results: list[Result]) -> None:
        self.results = results
        self.leaks = [r for r in results if r.label is Verdict.LEAK]
        self.streamed_leaks = [r for r in self.leaks if r.alerts]
        self.fast = [r for r in self.streamed_leaks if r.rate >= 1.0 * MB / MINUTE]
        self.quiet = [r for r in results if r.label is not Verdict.LEAK and r.alerts]
        self.non_leak_kinds = [k for k, (lab, _) in KINDS.items() if lab is not Verdict.LEAK]

    def kind(self, kind: str) -> list[Result]:
        return [r for r in self.results if r.kind == kind]

    def called_leak(self, method: str, kind: str) -> float:
        group = self.kind(kind)
        return sum(1 for r in group if r.verdicts[method] is Verdict.LEAK) / len(group)

    def alerted(self, method: str, kind: str) -> float:
        group = self.kind(kind)
        return sum(1 for r in group if r.alerts.get(method)) / len(group)

    def standing(self, method: str, kind: str) -> float:
        group = self.kind(kind)
        return sum(1 for r in group if r.standing.get(method)) / len(group)

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
        lambda m: f"{max(f.called_leak(m, k) for k in f.non_leak_kinds):.1%}",
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

    def per_hour(m: str) -> str:
        count, hours = false_alarms(f.quiet, m)
        return f"{count / hours:.3f} ({count} in {hours:.0f} h)"

    row("streaming: false alarms per hour, non-leak series", None, per_hour)
    row(
        "streaming: non-leak series with an alert, worst kind",
        None,
        lambda m: "{:.0%} (`{}`)".format(
            *max((f.alerted(m, k), k) for k in f.non_leak_kinds if k != "short")
        ),
    )
    row(
        "streaming: non-leak series whose alert still stands at the end, worst kind",
        None,
        lambda m: "{:.0%} (`{}`)".format(
            *max((f.standing(m, k), k) for k in f.non_leak_kinds if k != "short")
        ),
    )
    row(
        "streaming: alerts before a late leak's onset",
        None,
        lambda m: "{} in {:.0f} h".format(
            *false_alarms([r for r in f.streamed_leaks if r.kind == "late_onset_leak"], m)
        ),
    )
    row(
        "streaming: time to detection, median / p90 min, all leaks",
        None,
        lambda m: ttd_text(f.streamed_leaks, m),
    )
    row("streaming: same, leaks ≥ 1 MB/min", None, lambda m: ttd_text(f.fast, m))
    row(
        "ms per evaluation on 1 h at 1 Hz, median / p99",
        lambda m: f"{median(costs[m]):.2f} / {pct(costs[m], 99):.2f}",
        lambda m: "as default",
    )
    return md_table(["measure", *(heading for _, heading in COLUMNS)], rows)


def kinds_table(f: Figures) -> str:
    rows = []
    for kind, (label, _) in KINDS.items():
        group = f.kind(kind)
        said = Counter(r.verdicts["memlens"].value for r in group)
        naive_leak = sum(1 for r in group if r.verdicts["naive"] is Verdict.LEAK)
        cells = []
        for method in ("memlens", "patient", "naive"):
            if label is Verdict.INSUFFICIENT:
                cells.append("–")
            elif label is Verdict.LEAK:
                cells.append(ttd_text(group, method))
            else:
                count, hours = false_alarms(group, method)
                alerted = sum(1 for r in group if r.alerts[method])
                cells.append(f"{alerted}/{len(group)}, {count / hours:.2f}/h")
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


def report(
    args: argparse.Namespace, results: list[Result], costs: dict[str, list[float]], wall: float
) -> str:
    f = Figures(results)
    p, r, _ = prf(results, "memlens", Verdict.LEAK)
    worst_batch = max(f.called_leak("memlens", k) for k in f.non_leak_kinds)
    worst_stream = max((f.alerted("memlens", k), k) for k in f.non_leak_kinds if k != "short")
    worst_standing = max((f.standing("memlens", k), k) for k in f.non_leak_kinds if k != "short")
    fast_ttd = pct([ttd(x, "memlens") for x in f.fast], 50)
    eval_ms = median(costs["memlens"])
    target = (
        f"LEAK precision and recall at least {TARGET_PR}: {p:.3f} / {r:.3f}: "
        f"{verdict(p >= TARGET_PR and r >= TARGET_PR)}. "
        f"No non-leak kind with more than {TARGET_FALSE:.0%} false alarms: judged on the "
        f"batch verdict (share of a kind's series called LEAK), worst kind "
        f"{worst_batch:.1%}: {verdict(worst_batch <= TARGET_FALSE)}; in streaming (share of "
        f"a kind's series that raised at least one alert) with the default configuration, "
        f"worst kind `{worst_stream[1]}` {worst_stream[0]:.0%}: "
        f"{verdict(worst_stream[0] <= TARGET_FALSE)}; live alerts still standing at the end "
        "of a non-leak series (not withdrawn once growth stopped), worst kind "
        f"`{worst_standing[1]}` {worst_standing[0]:.0%}: "
        f"{verdict(worst_standing[0] <= TARGET_FALSE)}. Median time to detection under "
        f"{TARGET_TTD_MIN:.0f} min for leaks of 1 MB/min and more: {fmt(fast_ttd, 1)} min: "
        f"{verdict(fast_ttd < TARGET_TTD_MIN)}. A few milliseconds per evaluation on an hour "
        f"of data (read as a median of at most {TARGET_EVAL_MS:.0f} ms): {eval_ms:.2f} ms: "
        f"{verdict(eval_ms <= TARGET_EVAL_MS)}."
    )
    figures = (
        f"{main_table(f, costs)}\n\n{len(results)} series ({args.per_kind} per kind, seeds "
        f"0–{args.per_kind - 1}), {sum(x.hours for x in results):.0f} hours of samples, all "
        f"of them streamed (none sampled out). Streaming evaluates every {args.every:.0f} s; "
        f"the default configuration keeps a {DEFAULT.window / HOUR:.0f} h window and alerts "
        f"after {DEFAULT.persistence} LEAK evaluations in a row, from "
        f"{DEFAULT.min_duration / MINUTE:.0f} min of data; the patient one waits for "
        f"{PATIENT.min_duration / MINUTE:.0f} min of data and {PATIENT.persistence} "
        "evaluations. The naive peer calls LEAK when the last sample is more than 1 MB above "
        "the first and knows no verdict but FLAT and INSUFFICIENT. Times to detection count "
        'a leak never alerted on as infinite ("never" when that reaches the percentile). '
        f"Run time {wall / 60:.1f} min on {args.jobs} process(es).\n\nPer kind (streaming "
        "cells: non-leak kinds, series that raised an alert and alerts per hour; leaks, "
        f"time to detection median / p90 min):\n\n{kinds_table(f)}"
    )
    notes = (
        "What the streaming false alarms are: alerts on warm-ups and cache fills while they "
        "still grow at a steady pace, and on slow wander while it climbs. For the length of "
        "the alert latency (5 min of data and 3 evaluations) such a stretch is the same "
        "series as a leak, so any detector that meets the 10-minute detection target alerts "
        "on it; the detector says PLATEAU once the growth visibly slows, and the batch "
        "verdict on the whole series is right. The patient configuration shows the other "
        "end of the trade: few such alerts, detection in half an hour and more. A live "
        "alert is withdrawn (a `cleared` event, docs/leak-detection.md, section 9) after "
        f'{DEFAULT.persistence} evaluations in a row without LEAK; the row "still stands '
        'at the end" counts the series whose alert was not withdrawn by their last sample. '
        'docs/leak-detection.md ("What it cannot tell apart") has the detail.'
    )
    what = __doc__.split("\n\n    python")[0].split("\n", 1)[1].strip()
    return render_section(
        "leaks",
        "Leak detection: verdicts, false alarms, time to detection",
        what=what,
        command=f"python -m bench.bench_leaks --per-kind {args.per_kind} --every "
        f"{args.every:g} --jobs {args.jobs}",
        figures=figures,
        target=target,
        notes=notes,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=40, help="series per kind (40)")
    parser.add_argument("--every", type=float, default=60.0, help="s between evaluations")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--cost-repeats", type=int, default=30, help="timed evaluations")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    costs = eval_cost(args.cost_repeats)
    print(f"cost: memlens {median(costs['memlens']):.2f} ms median per evaluation", flush=True)
    tasks = [(kind, seed, args.every) for seed in range(args.per_kind) for kind in KINDS]
    started = time.monotonic()
    results: list[Result] = []
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        for result in pool.imap_unordered(run_one, tasks, chunksize=1):
            results.append(result)
            if len(results) % 60 == 0:
                elapsed = time.monotonic() - started
                print(f"{len(results)}/{len(tasks)} series, {elapsed:.0f} s", flush=True)
    results.sort(key=lambda x: (list(KINDS).index(x.kind), x.seed))
    section = report(args, results, costs, time.monotonic() - started)
    print(section)
    if not args.no_write:
        write_section("leaks", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
