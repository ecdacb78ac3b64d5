"""The machine's figures through the whole pipe, with real parts: a real sampler's ticks,
a real `memlens watch` (hello, ticks, backfill, its recording), real recordings served
by a real `memlens serve`, and `--no-system` leaving them out everywhere. The probe's
own figures and its GPU-less path are tested in tests/unit/test_system_probe.py."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from websockets.sync.client import ClientConnection, connect

from helpers import Allocator, MemlensServer, run_memlens
from memlens.model import SYSTEM_FIELDS, SystemReading, Tick
from memlens.probes import open_process
from memlens.probes.system import SystemProbe
from memlens.store import StoreReader
from memlens.watch.sampler import Sampler, SamplerConfig

WIRE_FIELDS = {*SYSTEM_FIELDS, "gpus"}


def receive(ws: ClientConnection) -> dict[str, Any]:
    message = ws.recv(timeout=15)
    assert isinstance(message, str)
    parsed: dict[str, Any] = json.loads(message)
    return parsed


def ticks(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < count:
        message = receive(ws)
        if message["type"] == "tick":
            out.append(message)
    return out


def plausible(values: dict[str, Any]) -> None:
    """Figures that agree with psutil's and with each other."""
    assert values["mem_total"] == psutil.virtual_memory().total
    assert values["swap_total"] == psutil.swap_memory().total
    assert 0 <= values["mem_percent"] <= 100
    assert values["mem_used"] + values["mem_available"] == values["mem_total"]
    assert 0 <= values["swap_used"] <= values["swap_total"]
    assert values["cpu_percent"] is None or 0 <= values["cpu_percent"] <= 100
    for rate in ("disk_read_bps", "disk_write_bps", "net_rx_bps", "net_tx_bps"):
        assert values[rate] is None or values[rate] >= 0, rate


def sample(config: SamplerConfig, rounds: int, pause: float = 0.0) -> list[Tick]:
    sampler = Sampler(config, on_tick=lambda _t: None, probes=[open_process(os.getpid())])
    out = []
    try:
        for _ in range(rounds):
            out.append(sampler.sample_once())
            time.sleep(pause)
    finally:
        sampler.stop()
    return out


# -- the sampler -----------------------------------------------------------------------------


def test_real_ticks_carry_a_plausible_reading_of_the_machine() -> None:
    first, second = sample(SamplerConfig(interval=0.05, system_every=0.05), 2, pause=0.2)
    assert isinstance(first.system, SystemReading)
    assert isinstance(second.system, SystemReading)
    assert first.system.cpu_percent is None  # the probe's first reading knows no rates
    assert second.system.t > first.system.t
    assert second.system.cpu_percent is not None
    for tick in (first, second):
        assert tick.samples  # the processes are sampled as ever
        assert tick.system is not None
        plausible(tick.system.to_dict())


def test_between_reads_a_tick_carries_the_last_reading() -> None:
    ticks_ = sample(SamplerConfig(interval=0.05, system_every=3600.0), 3)
    assert ticks_[0].system is not None
    assert all(t.system is ticks_[0].system for t in ticks_)


def test_no_system_and_a_failing_read_leave_the_ticks_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert all(t.system is None and t.samples for t in sample(SamplerConfig(system=False), 2))

    class Failing(SystemProbe):
        def read(self) -> SystemReading:
            raise OSError("no /proc/stat here")

    monkeypatch.setattr("memlens.watch.sampler.SystemProbe", Failing)
    rounds = sample(SamplerConfig(interval=0.05, system_every=0.05), 3, pause=0.06)
    assert all(t.system is None for t in rounds)
    assert all(t.samples for t in rounds)  # a failing system read never stops sampling


# -- a live watch ------------------------------------------------------------------------------


def test_a_watch_streams_backfills_and_records_the_machine(
    allocator: Allocator, private_store: Path
) -> None:
    server = MemlensServer("watch", str(allocator.pid), "--port", "0", "--interval", "0.2")
    try:
        with connect(server.ws_url) as ws:
            hello = receive(ws)
            assert hello["type"] == "hello"
            assert hello["system_fields"] == list(SYSTEM_FIELDS)
            assert receive(ws)["type"] == "backfill"
            seen = ticks(ws, 12)  # 2.4 s at 0.2 s: at least two readings of the machine
        for tick in seen:
            system = tick["system"]
            assert set(system) == WIRE_FIELDS  # without its own time: the tick's stands for it
            plausible(system)
        readings = {json.dumps(t["system"], sort_keys=True) for t in seen}
        assert 2 <= len(readings) < len(seen)  # read about once a second, repeated between

        with connect(server.ws_url) as late:
            receive(late)
            fill = receive(late)
        series = fill["system"]
        assert set(series) == {"t", *WIRE_FIELDS}
        assert len(series["t"]) >= 2
        assert all(len(series[name]) == len(series["t"]) for name in series)
        assert series["t"] == sorted(series["t"])
        last = seen[-1]["system"]
        assert last["mem_used"] in series["mem_used"]  # the ticks' readings, kept for later tabs
        plausible({name: series[name][-1] for name in WIRE_FIELDS})
    finally:
        assert server.stop() == 0
    with StoreReader.open(private_store) as reader:
        stored = reader.system_series(reader.recording("last").id)
    assert len(stored["t"]) >= len(series["t"])
    assert set(series["t"]) <= set(stored["t"])
    plausible({name: stored[name][-1] for name in WIRE_FIELDS})


def test_no_system_leaves_the_machine_out_of_the_stream_and_the_recording(
    allocator: Allocator, private_store: Path
) -> None:
    args = ("watch", str(allocator.pid), "--port", "0", "--interval", "0.1", "--no-system")
    server = MemlensServer(*args)
    try:
        with connect(server.ws_url) as ws:
            assert receive(ws)["system_fields"] == []
            assert receive(ws)["system"] is None
            assert all(t["system"] is None for t in ticks(ws, 5))
        with connect(server.ws_url) as late:
            receive(late)
            fill = receive(late)
        assert fill["system"] is None
        assert fill["series"]  # the processes as ever
    finally:
        assert server.stop() == 0
    with StoreReader.open(private_store) as reader:
        rid = reader.recording("last").id
        assert reader.recording(rid).sample_count >= 5
        assert reader.system_series(rid)["t"] == []


# -- recordings served ------------------------------------------------------------------------


def record(allocator: Allocator, path: Path, *extra: str) -> None:
    result = run_memlens(
        "record", str(allocator.pid), "--interval", "0.2", "--duration", "2.5s", "-o", str(path),
        *extra,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def served(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    server = MemlensServer("serve", str(path), "--port", "0")
    try:
        with connect(server.ws_url, max_size=None) as ws:
            return receive(ws), receive(ws)
    finally:
        assert server.stop() == 0


def test_serve_sends_the_recorded_machine_in_its_backfill(
    allocator: Allocator, tmp_path: Path
) -> None:
    path = tmp_path / "with.db"
    record(allocator, path)
    with StoreReader.open(path) as reader:
        stored = reader.system_series(reader.recording("last").id)
    assert len(stored["t"]) >= 2
    hello, fill = served(path)
    assert hello["mode"] == "recording"
    assert hello["system_fields"] == list(SYSTEM_FIELDS)
    assert fill["system"] == stored  # few enough to come whole, not thinned
    plausible({name: stored[name][-1] for name in WIRE_FIELDS})

    without = tmp_path / "without.db"
    record(allocator, without, "--no-system")
    hello, fill = served(without)
    assert hello["system_fields"] == []
    assert fill["system"] is None
    assert fill["series"]
