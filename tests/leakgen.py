"""Labelled synthetic memory series for the leak detector's tests and benchmark.

Every series is one process's memory at 1 Hz, in bytes (page-quantised like RSS), with
the verdict it should get. Fixed seeds: `generate(kind, seed)` is the same series on
every machine and Python version (`random.Random` with an integer seed).

Ranges (issue: rates 0.05-5 MB/min, bases 50-500 MB, noise 0.2-15 MB, 30 min-8 h):
durations are log-uniform in [30 min, 8 h]; the noise is Gaussian, independent from one
second to the next, with a standard deviation log-uniform in [0.2, 15] MB, capped where
a kind needs its signal to stand above it (each generator says how).

Labels, and the choices behind them:

- linear_leak, sawtooth_leak, staircase_leak, late_onset_leak: LEAK. A leak grows by at
  least twice the noise's SD over the time it runs (the noise cap is growth / 2): a
  smaller one is below what the detector claims to see (docs/leak-detection.md).
- staircase_leak: the floor climbs in steps every 2-20 minutes, at least 6 steps in the
  series and still climbing at its end: LEAK.
- repeated_steps: 2 or 3 steps, all in the first 65% of the series, then flat for the
  rest: STEP. The line between the two is drawn by `DetectorConfig.max_steps` (3): up to
  that many steps followed by a level is a step; more steps, still climbing, is a leak.
- single_step: one step, anywhere from 20% to 70% of the series: STEP.
- warmup_plateau, warmup_plateau_sawtooth: growth that stops (exponential approach with
  a time constant of 1-15 min, or a linear ramp to a cap lasting up to a third of the
  series), then a level for at least half the series: PLATEAU.
- flat_wander: a flat floor with an Ornstein-Uhlenbeck wander (time constant 2-20 min,
  at most a sixth of the series, SD 0.5-8 MB) under the noise: FLAT.
- batch_spikes: a flat floor with a 20 s-3 min batch job every 5-30 min: FLAT.
- sawtooth_flat: a GC sawtooth (10 s-2 min cycles, 5-80 MB) over a flat floor: FLAT.
- short: under 4 minutes of anything: INSUFFICIENT.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from memlens.analysis.leaks import Verdict

MB = 1024.0 * 1024.0
MINUTE = 60.0
HOUR = 3600.0
PAGE = 4096.0
T0 = 1_700_000_000.0  # a Unix time, so reasons print times of day

LEAK_KINDS = ("linear_leak", "sawtooth_leak", "staircase_leak", "late_onset_leak")


@dataclass(frozen=True)
class Series:
    kind: str
    label: Verdict
    seed: int
    times: list[float]
    values: list[float]
    rate: float = 0.0  # bytes/s of the leak; 0 when there is none
    onset: float | None = None  # when the leak starts (a time in `times`' scale)
    params: dict[str, float] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.times[-1] - self.times[0]


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    if hi <= lo:
        return lo
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _duration(rng: random.Random) -> float:
    return round(_log_uniform(rng, 30 * MINUTE, 8 * HOUR) / 60.0) * 60.0


def _noise_sd(rng: random.Random, cap_mb: float = 15.0) -> float:
    return _log_uniform(rng, 0.2, max(0.2, min(15.0, cap_mb))) * MB


def _finish(floor: list[float], sd: float, rng: random.Random) -> list[float]:
    """Add the noise and quantise to pages, as RSS is."""
    gauss = rng.gauss
    return [max(PAGE, (v + gauss(0.0, sd)) // PAGE * PAGE) for v in floor]


def _sawtooth(rng: random.Random, n: int, period: float, amplitude: float) -> list[float]:
    """Garbage that piles up linearly and is collected at once; cycles vary ±25% in
    length and ±15% in height, as a collector's do."""
    out = [0.0] * n
    i = 0
    while i < n:
        length = max(3, round(period * rng.uniform(0.75, 1.25)))
        height = amplitude * rng.uniform(0.85, 1.15)
        for j in range(min(length, n - i)):
            out[i + j] = height * j / length
        i += length
    return out


def _sawtooth_params(rng: random.Random) -> tuple[float, float]:
    return _log_uniform(rng, 10.0, 120.0), _log_uniform(rng, 5.0, 80.0) * MB


def _rate(rng: random.Random) -> float:
    return _log_uniform(rng, 0.05, 5.0) * MB / MINUTE


# -- the kinds --------------------------------------------------------------------------


def linear_leak(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    n = int(_duration(rng)) + 1
    base = rng.uniform(50, 500) * MB
    rate = _rate(rng)
    sd = _noise_sd(rng, rate * (n - 1) / MB / 2.0)
    floor = [base + rate * i for i in range(n)]
    return _finish(floor, sd, rng), rate, {"base": base, "sd": sd, "start": 0.0}


def sawtooth_leak(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    n = int(_duration(rng)) + 1
    base = rng.uniform(50, 500) * MB
    rate = _rate(rng)
    period, amplitude = _sawtooth_params(rng)
    sd = _noise_sd(rng, min(5.0, rate * (n - 1) / MB / 2.0))
    saw = _sawtooth(rng, n, period, amplitude)
    floor = [base + rate * i + g for i, g in enumerate(saw)]
    params = {"base": base, "sd": sd, "period": period, "amplitude": amplitude, "start": 0.0}
    return _finish(floor, sd, rng), rate, params


def staircase_leak(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    duration = _duration(rng)
    n = int(duration) + 1
    base = rng.uniform(50, 500) * MB
    rate = _rate(rng)
    interval = rng.uniform(2 * MINUTE, min(20 * MINUTE, duration / 6.0))
    sd = _noise_sd(rng, rate * (n - 1) / MB / 2.0)
    floor = [0.0] * n
    level = base
    next_step = interval * rng.uniform(0.7, 1.3)
    for i in range(n):
        while i >= next_step:
            gap = interval * rng.uniform(0.7, 1.3)
            level += rate * gap
            next_step += gap
        floor[i] = level
    params = {"base": base, "sd": sd, "interval": interval, "start": 0.0}
    return _finish(floor, sd, rng), rate, params


def late_onset_leak(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    n = int(_duration(rng)) + 1
    base = rng.uniform(50, 500) * MB
    rate = _rate(rng)
    start = round(rng.uniform(0.3, 0.6) * (n - 1))
    sd = _noise_sd(rng, rate * (n - 1 - start) / MB / 2.0)
    floor = [base + rate * max(0, i - start) for i in range(n)]
    return _finish(floor, sd, rng), rate, {"base": base, "sd": sd, "start": float(start)}


def _warmup(rng: random.Random, n: int, amplitude: float) -> tuple[list[float], dict[str, float]]:
    duration = n - 1
    if rng.random() < 0.5:
        tau = rng.uniform(1 * MINUTE, min(15 * MINUTE, duration / 8.0))
        return [amplitude * (1.0 - math.exp(-i / tau)) for i in range(n)], {"tau": tau}
    ramp = rng.uniform(3 * MINUTE, min(40 * MINUTE, duration / 3.0))
    return [amplitude * min(1.0, i / ramp) for i in range(n)], {"ramp": ramp}


def warmup_plateau(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    n = int(_duration(rng)) + 1
    base = rng.uniform(50, 500) * MB
    amplitude = _log_uniform(rng, 10, 200) * MB
    sd = _noise_sd(rng, amplitude / MB / 4.0)
    shape, params = _warmup(rng, n, amplitude)
    floor = [base + w for w in shape]
    return _finish(floor, sd, rng), 0.0, {"base": base, "sd": sd, **params}


def warmup_plateau_sawtooth(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    n = int(_duration(rng)) + 1
    base = rng.uniform(50, 500) * MB
    amplitude = _log_uniform(rng, 10, 200) * MB
    sd = _noise_sd(rng, min(5.0, amplitude / MB / 4.0))
    shape, params = _warmup(rng, n, amplitude)
    period, saw_amplitude = _sawtooth_params(rng)
    saw = _sawtooth(rng, n, period, saw_amplitude)
    floor = [base + w + g for w, g in zip(shape, saw, strict=True)]
    params |= {"period": period, "saw_amplitude": saw_amplitude}
    return _finish(floor, sd, rng), 0.0, {"base": base, "sd": sd, **params}


def _steps(rng: random.Random, n: int, at: list[int], sizes: list[float]) -> list[float]:
    floor = [0.0] * n
    level = 0.0
    edges = dict(zip(at, sizes, strict=True))
    ramp_left = 0
    ramp_size = 0.0
    for i in range(n):
        if i in edges:
            ramp_left = rng.randint(1, 8)  # a step takes a few seconds to allocate
            ramp_size = edges[i] / ramp_left
        if ramp_left:
            level += ramp_size
            ramp_left -= 1
        floor[i] = level
    return floor


def single_step(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    n = int(_duration(rng)) + 1
    base = rng.uniform(50, 500) * MB
    size = _log_uniform(rng, 10, 200) * MB
    sd = _noise_sd(rng, size / MB / 5.0)
    at = round(rng.uniform(0.2, 0.7) * (n - 1))
    floor = [base + s for s in _steps(rng, n, [at], [size])]
    return _finish(floor, sd, rng), 0.0, {"base": base, "sd": sd, "size": size, "at": at}


def repeated_steps(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    n = int(_duration(rng)) + 1
    base = rng.uniform(50, 500) * MB
    count = rng.choice((2, 3))
    sizes = [_log_uniform(rng, 10, 100) * MB for _ in range(count)]
    sd = _noise_sd(rng, min(sizes) / MB / 5.0)
    while True:
        at = sorted(round(rng.uniform(0.1, 0.65) * (n - 1)) for _ in range(count))
        if all(b - a >= 0.08 * n for a, b in itertools.pairwise(at)):
            break
    floor = [base + s for s in _steps(rng, n, at, sizes)]
    params = {"base": base, "sd": sd, "count": float(count), "size": sum(sizes)}
    return _finish(floor, sd, rng), 0.0, params


def flat_wander(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    duration = _duration(rng)
    n = int(duration) + 1
    base = rng.uniform(50, 500) * MB
    sd = _noise_sd(rng)
    tau = rng.uniform(2 * MINUTE, min(20 * MINUTE, duration / 6.0))
    wander_sd = _log_uniform(rng, 0.5, 8.0) * MB
    # Ornstein-Uhlenbeck, exact discretisation at 1 s steps.
    keep = math.exp(-1.0 / tau)
    kick = wander_sd * math.sqrt(1.0 - keep * keep)
    x = rng.gauss(0.0, wander_sd)
    floor = [0.0] * n
    for i in range(n):
        floor[i] = base + x
        x = x * keep + rng.gauss(0.0, kick)
    params = {"base": base, "sd": sd, "tau": tau, "wander_sd": wander_sd}
    return _finish(floor, sd, rng), 0.0, params


def batch_spikes(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    n = int(_duration(rng)) + 1
    base = rng.uniform(50, 500) * MB
    sd = _noise_sd(rng)
    every = rng.uniform(5 * MINUTE, 30 * MINUTE)
    length = rng.uniform(20.0, 180.0)
    height = _log_uniform(rng, 20, 300) * MB
    floor = [base] * n
    t = every * rng.uniform(0.2, 1.0)
    while t < n:
        start = int(t)
        run = int(length * rng.uniform(0.7, 1.3))
        h = height * rng.uniform(0.8, 1.2)
        edge = rng.randint(1, 5)
        for j in range(run):
            if start + j >= n:
                break
            rise = min(1.0, (j + 1) / edge, (run - j) / edge)
            floor[start + j] = base + h * rise
        t += every * rng.uniform(0.8, 1.2)
    params = {"base": base, "sd": sd, "every": every, "length": length, "height": height}
    return _finish(floor, sd, rng), 0.0, params


def sawtooth_flat(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    n = int(_duration(rng)) + 1
    base = rng.uniform(50, 500) * MB
    sd = _noise_sd(rng, 5.0)
    period, amplitude = _sawtooth_params(rng)
    floor = [base + g for g in _sawtooth(rng, n, period, amplitude)]
    params = {"base": base, "sd": sd, "period": period, "amplitude": amplitude}
    return _finish(floor, sd, rng), 0.0, params


def short(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    n = rng.randint(30, 240)
    base = rng.uniform(50, 500) * MB
    rate = _rate(rng) if rng.random() < 0.5 else 0.0
    floor = [base + rate * i for i in range(n)]
    return _finish(floor, _noise_sd(rng, 2.0), rng), 0.0, {"base": base, "leak_rate": rate}


Generator = Callable[[random.Random], tuple[list[float], float, dict[str, float]]]

KINDS: dict[str, tuple[Verdict, Generator]] = {
    "linear_leak": (Verdict.LEAK, linear_leak),
    "sawtooth_leak": (Verdict.LEAK, sawtooth_leak),
    "staircase_leak": (Verdict.LEAK, staircase_leak),
    "late_onset_leak": (Verdict.LEAK, late_onset_leak),
    "warmup_plateau": (Verdict.PLATEAU, warmup_plateau),
    "warmup_plateau_sawtooth": (Verdict.PLATEAU, warmup_plateau_sawtooth),
    "single_step": (Verdict.STEP, single_step),
    "repeated_steps": (Verdict.STEP, repeated_steps),
    "flat_wander": (Verdict.FLAT, flat_wander),
    "batch_spikes": (Verdict.FLAT, batch_spikes),
    "sawtooth_flat": (Verdict.FLAT, sawtooth_flat),
    "short": (Verdict.INSUFFICIENT, short),
}


def fast_leak(rng: random.Random) -> tuple[list[float], float, dict[str, float]]:
    """A leak of 20-100 MB/min, 10 min to 1 h, from the start or (half of them) from 20-60%
    of the series: what a runaway cache or a leak per request costs under load."""
    n = round(_log_uniform(rng, 10 * MINUTE, HOUR)) + 1
    base = rng.uniform(50, 500) * MB
    rate = _log_uniform(rng, 20.0, 100.0) * MB / MINUTE
    start = 0 if rng.random() < 0.5 else round(rng.uniform(0.2, 0.6) * (n - 1))
    sd = _noise_sd(rng, rate * MINUTE / MB / 2.0)
    floor = [base + rate * max(0, i - start) for i in range(n)]
    return _finish(floor, sd, rng), rate, {"base": base, "sd": sd, "start": float(start)}


# Kinds outside the 12 above (their seeds do not move the others'): fast leaks, for the
# time to detection of leaks of 20 MB/min and more.
EXTRA_KINDS: dict[str, tuple[Verdict, Generator]] = {
    "fast_leak": (Verdict.LEAK, fast_leak),
}


def generate(kind: str, seed: int) -> Series:
    """The series of `kind` for `seed`: the same on every run."""
    if kind in EXTRA_KINDS:
        label, make = EXTRA_KINDS[kind]
        rng = random.Random(seed * 1009 + 100 + sorted(EXTRA_KINDS).index(kind))
    else:
        label, make = KINDS[kind]
        rng = random.Random(seed * 1009 + sorted(KINDS).index(kind))
    values, rate, params = make(rng)
    times = [T0 + i for i in range(len(values))]
    onset = T0 + params["start"] if label is Verdict.LEAK else None
    return Series(kind, label, seed, times, values, rate, onset, params)


def corpus(per_kind: int, *, first_seed: int = 0, kinds: tuple[str, ...] = ()) -> Iterator[Series]:
    """`per_kind` series of each kind (all kinds unless given), seeds from `first_seed`."""
    for kind in kinds or tuple(KINDS):
        for seed in range(first_seed, first_seed + per_kind):
            yield generate(kind, seed)
