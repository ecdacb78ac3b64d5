"""`Session.sample_now`, the round a caller drives itself (the Profiler's snapshot): a
real probe of this process, a real recording and the alert engine judging inline."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import pytest

from memlens.config import Settings, Thresholds
from memlens.model import Tick
from memlens.probes import open_process
from memlens.store import StoreReader
from memlens.watch.alerts import AlertEngine
from memlens.watch.recorder import Recorder
from memlens.watch.sampler import SamplerConfig
from memlens.watch.session import Judge, Session


def _session(tmp_path: Path, judge: Judge = "thread") -> tuple[Session, Recorder, AlertEngine]:
    settings = Settings(thresholds=Thresholds(max_rss=1))
    recorder = Recorder.start(
        tmp_path / "rounds.db", name="rounds", command=None, interval=0.05, settings=settings
    )
    engine = AlertEngine(settings)
    config = SamplerConfig(interval=0.05, agents=False, system=False)
    probes = [open_process(os.getpid())]
    session = Session(config, probes, recorder=recorder, alerts=engine, judge=judge)
    return session, recorder, engine


def test_an_inline_round_is_recorded_and_judged_before_it_returns(tmp_path: Path) -> None:
    session, recorder, engine = _session(tmp_path, "inline")
    seen: list[Tick] = []
    session.add_consumer(seen.append)

    def later(tick: Tick) -> Tick:
        return dataclasses.replace(tick, time=tick.time + 100.0)

    try:
        tick = session.sample_now(later)
        assert seen == [tick]  # the consumers got the adjusted tick
        assert [a.data["metric"] for a in engine.alerts] == ["rss"]
        recorder.store.flush()
        with StoreReader.open(tmp_path / "rounds.db") as reader:
            (event,) = reader.events(recorder.recording_id, kinds=["threshold"])
        assert event.t == tick.time
    finally:
        session.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        session.sample_now()


def test_driven_rounds_and_the_threads_never_overlap(tmp_path: Path) -> None:
    session, _, _ = _session(tmp_path)
    inside = threading.Lock()
    seqs: list[int] = []
    overlaps = 0

    def slow(tick: Tick) -> None:
        nonlocal overlaps
        if not inside.acquire(blocking=False):
            overlaps += 1
            return
        try:
            seqs.append(tick.seq)
            time.sleep(0.01)  # widen the window a second round would have to enter
        finally:
            inside.release()

    session.add_consumer(slow)
    session.start()
    try:
        for _ in range(20):
            session.sample_now()
    finally:
        session.stop()
    assert overlaps == 0
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert len(seqs) >= 20
