"""`memlens.measure` and `@memlens.profile` on real allocations."""

from __future__ import annotations

import asyncio
import logging
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

import memlens
from memlens.api.measure import Measurement

MB = 1024 * 1024
# What the block's own machinery frees while it runs (a frame, a context manager's
# bookkeeping) counts against its peak: a 20 MB buffer may show as a few bytes less.
SLACK = 4096


@pytest.fixture(autouse=True)
def tracing_off() -> Iterator[None]:
    """Each test starts and ends with tracemalloc off, as a program usually runs."""
    if tracemalloc.is_tracing():
        tracemalloc.stop()
    yield
    if tracemalloc.is_tracing():
        tracemalloc.stop()


def test_measure_gives_the_change_and_the_peak_inside_the_block() -> None:
    with memlens.measure("load") as m:
        temporary = bytearray(20 * MB)
        del temporary
        kept = bytearray(5 * MB)
    assert m.label == "load"
    assert m.peak >= 20 * MB - SLACK
    assert 5 * MB - SLACK <= m.change < 6 * MB
    assert m.peak >= m.change
    assert m.peak_mb >= m.change_mb
    assert 4.99 <= m.change_mb < 6
    assert m.rss_before is not None
    assert m.rss_after is not None
    assert m.rss_change is not None
    assert m.seconds > 0
    assert str(m).startswith("load: +5.0 MB kept, peak +")
    assert len(kept) == 5 * MB
    assert not tracemalloc.is_tracing()  # started for the block only


def test_a_block_that_frees_what_it_did_not_allocate_shows_no_growth() -> None:
    with memlens.measure() as m:
        pass
    assert m.change < 64 * 1024
    assert m.peak < 64 * 1024


def test_an_outer_block_keeps_the_peak_of_an_inner_one() -> None:
    with memlens.measure("outer") as outer:
        with memlens.measure("inner") as inner:
            temporary = bytearray(20 * MB)
            del temporary
        small = bytearray(MB)
    assert inner.peak >= 20 * MB - SLACK
    assert outer.peak >= 20 * MB - SLACK
    assert MB - SLACK <= outer.change < 2 * MB
    assert len(small) == MB


def test_tracing_that_was_on_stays_on() -> None:
    tracemalloc.start()
    with memlens.measure() as m:
        temporary = bytearray(4 * MB)
        del temporary
    assert tracemalloc.is_tracing()
    assert m.peak >= 4 * MB - SLACK


def test_a_measurement_measures_one_block() -> None:
    m = memlens.measure()
    with m:
        pass
    with pytest.raises(RuntimeError), m:
        pass


def test_profile_measures_each_call() -> None:
    seen: list[Measurement] = []

    @memlens.profile(sink=seen.append)
    def build(size: int) -> bytes:
        temporary = bytearray(size * 2)
        del temporary
        return b"\x01" * size

    result = build(8 * MB)
    assert len(result) == 8 * MB
    (m,) = seen
    assert m.label.endswith("build")
    assert m.peak >= 16 * MB - SLACK
    assert 8 * MB - SLACK <= m.change < 9 * MB
    build(MB)
    assert len(seen) == 2


def test_profile_logs_by_default_and_reports_a_call_that_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @memlens.profile
    def fail() -> None:
        temporary = bytearray(3 * MB)
        del temporary
        raise KeyError("boom")

    with caplog.at_level(logging.INFO, logger="memlens.profile"), pytest.raises(KeyError):
        fail()
    (record,) = caplog.records
    measurement = record.__dict__["measurement"]
    assert isinstance(measurement, Measurement)
    assert measurement.peak >= 3 * MB - SLACK
    assert "fail" in record.getMessage()


def test_profile_measures_an_async_function() -> None:
    seen: list[Measurement] = []

    @memlens.profile(label="fetch", sink=seen.append)
    async def fetch() -> int:
        await asyncio.sleep(0)
        temporary = bytearray(6 * MB)
        del temporary
        return 7

    assert asyncio.run(fetch()) == 7
    (m,) = seen
    assert m.label == "fetch"
    assert m.peak >= 6 * MB - SLACK


def test_profile_with_a_profiler_leaves_snapshots_around_each_call(tmp_path: Path) -> None:
    profiler = memlens.Profiler(tmp_path)
    try:

        @memlens.profile(profiler=profiler, sink=lambda m: None)
        def work() -> int:
            return 1

        assert work() == 1
        contexts = [s.context for s in profiler.snapshots]
        assert len(contexts) == 2
        assert contexts[0].startswith("before ")
        assert contexts[0].endswith("work")
        assert contexts[1].startswith("after ")
    finally:
        profiler.cleanup()
