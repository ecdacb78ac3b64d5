"""M4 downsampling in SQLite against a plain Python M4 over the same rows (real files)."""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from pathlib import Path

import pytest

from memlens.errors import UsageError
from memlens.model import Reading, Tick
from memlens.store import Store, StoreReader

T0 = 1_700_000_000.0
DAY = 86_400
KEY = "42-4242"


def reference_m4(
    points: list[tuple[float, int | float | None]], start: float, end: float, buckets: int
) -> tuple[list[float], list[int | float | None]]:
    """First, min, max, last of each bucket [start + i·w, start + (i+1)·w), the last
    bucket closed at `end`; min and max skip unknown values; one point per time.
    `points` are in time order."""
    width = (end - start) / buckets
    times = [t for t, _ in points]
    ts: list[float] = []
    vs: list[int | float | None] = []
    for i in range(buckets):
        lo = bisect_left(times, start + i * width)
        if i == buckets - 1:
            hi = bisect_right(times, end)
        else:
            hi = bisect_left(times, start + (i + 1) * width)
        inside = points[lo:hi]
        if not inside:
            continue
        chosen = {inside[0], inside[-1]}
        known = [(t, v) for t, v in inside if v is not None]
        if known:
            chosen.add(min(known, key=lambda p: p[1]))  # type: ignore[arg-type, return-value]
            chosen.add(max(known, key=lambda p: p[1]))  # type: ignore[arg-type, return-value]
        for t, v in sorted(chosen, key=lambda p: p[0]):
            ts.append(t)
            vs.append(v)
    return ts, vs


def write_day(path: Path, values: list[Reading], times: list[float]) -> int:
    with Store.open(path, batch_rows=20_000) as store:
        rid = store.begin_recording(name="day", command=None, interval=1, host="h", started=T0)
        for seq, (t, value) in enumerate(zip(times, values, strict=True)):
            store.add_tick(rid, Tick(seq, t, {KEY: value}))
    return rid


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list[float], list[Reading]]:
    """A day at 1 Hz with jittered times, distinct RSS values, one one-sample spike, and
    swap unknown for whole stretches (so some buckets have no known swap at all)."""
    rng = random.Random(2024)
    times = [T0 + s + rng.uniform(0.0, 0.3) for s in range(DAY)]
    rss = rng.sample(range(100_000_000, 900_000_000), DAY)
    spike_at = 51_234
    rss[spike_at] = 8_000_000_000
    values = [
        Reading(
            rss=rss[s],
            vms=2 * rss[s],
            shared=4096,
            swap=None if (s // 500) % 3 == 0 else rng.randrange(10**9),
            threads=4,
            fds=10,
            cpu=rng.random() * 100,
        )
        for s in range(DAY)
    ]
    path = tmp_path_factory.mktemp("m4") / "day.db"
    rid = write_day(path, values, times)
    return path, rid, times, values


def test_a_one_sample_spike_survives_and_every_bucket_is_m4(
    day: tuple[Path, int, list[float], list[Reading]],
) -> None:
    path, rid, times, values = day
    start, end = T0, T0 + DAY
    with StoreReader.open(path) as reader:
        out = reader.downsampled(rid, KEY, start, end, 2000)
    assert out["bucketed"] is True
    assert 8_000_000_000 in out["rss"]
    assert out["t"][out["rss"].index(8_000_000_000)] == times[51_234]
    assert out["t"] == sorted(set(out["t"]))
    assert len(out["t"]) <= 4 * 2000
    expected = reference_m4(
        [(t, v.rss) for t, v in zip(times, values, strict=True)], start, end, 2000
    )
    assert (out["t"], out["rss"]) == expected


@pytest.mark.parametrize("field", ["swap", "cpu"])
def test_unknown_values_and_real_numbers(
    day: tuple[Path, int, list[float], list[Reading]], field: str
) -> None:
    path, rid, times, values = day
    start, end = T0 + 3600.5, T0 + 7 * 3600.25
    points = [(t, getattr(v, field)) for t, v in zip(times, values, strict=True)]
    with StoreReader.open(path) as reader:
        out = reader.downsampled(rid, KEY, start, end, 700, field=field)
    assert out["bucketed"] is True
    assert (out["t"], out[field]) == reference_m4(points, start, end, 700)
    if field == "swap":
        assert None in out["swap"]  # first/last of a bucket with nothing known


def test_few_points_come_back_raw(tmp_path: Path) -> None:
    times = [T0 + i for i in range(101)]
    values = [Reading(i, 0, 0, None, 1, 1, None) for i in range(101)]
    rid = write_day(tmp_path / "few.db", values, times)
    with StoreReader.open(tmp_path / "few.db") as reader:
        raw = reader.downsampled(rid, KEY, T0, T0 + 99, 25)  # 100 points = 4 × 25
        assert raw == {"t": times[:100], "rss": list(range(100)), "bucketed": False}
        assert reader.downsampled(rid, KEY, T0, T0 + 100, 25)["bucketed"] is True
        assert reader.downsampled(rid, "0-0", T0, T0 + 100, 25)["t"] == []
        assert reader.downsampled(rid, KEY, T0 + 5, T0, 25)["t"] == []
        with pytest.raises(UsageError, match="unknown field"):
            reader.downsampled(rid, KEY, T0, T0 + 100, 25, field="rss; DROP TABLE samples")
        with pytest.raises(UsageError, match="at least 1"):
            reader.downsampled(rid, KEY, T0, T0 + 100, 0)
