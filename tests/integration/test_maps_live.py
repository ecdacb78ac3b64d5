"""Memory maps in a live watch: read off the sampler's round at a budgeted rate, and
exported as Prometheus gauges by category, on real children."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from websockets.sync.client import ClientConnection, connect

from helpers import MB, Allocator, MemlensServer, run_memlens
from memlens.model import MAP_TOP, MAP_TOP_FIELDS, Target
from memlens.probes.maps import CATEGORIES, MapsProbe, MapsReading
from memlens.store import StoreReader
from memlens.store.recording import load_recording
from memlens.watch.maps_poll import MapsPoller, MapsSettings


def scrape(server: MemlensServer) -> list[Sample]:
    response = server.get("metrics", timeout=10)
    assert response.status_code == 200, response.text
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def by_category(samples: list[Sample], name: str, pid: int) -> dict[str, float]:
    return {
        s.labels["category"]: s.value
        for s in samples
        if s.name == name and s.labels.get("pid") == str(pid)
    }


def rollup_rss(pid: int) -> int:
    probe = MapsProbe(pid)
    try:
        return probe.rollup().rss
    finally:
        probe.close()


def test_exporter_serves_the_categories(allocator: Allocator) -> None:
    allocator.alloc(40)
    server = MemlensServer(
        "exporter", str(allocator.pid), "--port", "0", "--interval", "0.2",
        "--maps-interval", "0.2",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            samples = scrape(server)
            resident = by_category(samples, "memlens_process_map_resident_bytes", allocator.pid)
            # The child is idle: the categories settle on the kernel's own total.
            if resident and sum(resident.values()) == rollup_rss(allocator.pid):
                break
            assert time.monotonic() < deadline, f"the categories never matched: {resident}"
            time.sleep(0.2)
        assert set(resident) == set(CATEGORIES)
        assert resident["anon"] >= 40 * MB  # the bytearray: one anonymous mapping
        for name in (
            "memlens_process_map_proportional_bytes",
            "memlens_process_map_unique_bytes",
            "memlens_process_map_swap_bytes",
        ):
            assert set(by_category(samples, name, allocator.pid)) == set(CATEGORIES)
        labels = next(s.labels for s in samples if s.name == "memlens_process_map_swap_bytes")
        assert set(labels) == {"pid", "name", "key", "kind", "category"}
        stacks = [s for s in samples if s.name == "memlens_process_thread_stacks"]
        assert [s.value for s in stacks] == [0.0]  # one thread: the main one's is [stack]
    finally:
        assert server.stop() == 0


def test_no_maps_exports_none(allocator: Allocator) -> None:
    server = MemlensServer(
        "exporter", str(allocator.pid), "--port", "0", "--interval", "0.1", "--no-maps"
    )
    try:
        deadline = time.monotonic() + 20
        while not any(s.name == "memlens_process_resident_bytes" for s in scrape(server)):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1.5)  # past the poller's first pass, had there been one
        assert not any(s.name.startswith("memlens_process_map_") for s in scrape(server))
    finally:
        assert server.stop() == 0


def _target(allocator: Allocator) -> Target:
    probe = MapsProbe(allocator.pid)
    try:
        key = probe.key
    finally:
        probe.close()
    return Target(key, "process", allocator.pid, 0.0, "python", "python")


def test_poller_adapts_its_pace_to_the_budget(allocator: Allocator) -> None:
    got: list[tuple[str, MapsReading]] = []
    target = _target(allocator)
    poller = MapsPoller(
        lambda: [target], [lambda key, r: got.append((key, r))], MapsSettings(budget=1e-6)
    )
    try:
        assert poller.poll_once() == 1
    finally:
        poller.stop()
    assert [key for key, _ in got] == [target.key]
    assert poller.cpu_seconds > 0
    # A pass that cost more than the budget allows stretches the pace to fit it.
    assert poller.interval == pytest.approx(poller.cpu_seconds / 1e-6)
    assert poller.interval > 10.0


def test_poller_reads_only_the_chosen_and_drops_the_ended(allocator: Allocator) -> None:
    target = _target(allocator)
    other = Target("999999999-1", "process", 999_999_999, 0.0, "gone", "gone")
    total = Target("sum-1", "sum", allocator.pid, 0.0, "sum", "sum")
    got: list[str] = []
    poller = MapsPoller(
        lambda: [total, other, target], [lambda key, r: got.append(key)], MapsSettings()
    )
    try:
        assert poller.poll_once() == 1  # the sum is no process; no process has that PID
        allocator.command("exit 0")
        allocator.proc.wait()
        assert poller.poll_once() == 0
    finally:
        poller.stop()
    assert got == [target.key]


def receive(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    message = ws.recv(timeout=timeout)
    assert isinstance(message, str)
    parsed: dict[str, Any] = json.loads(message)
    return parsed


def until(ws: ClientConnection, kind: str, limit: int = 2000) -> dict[str, Any]:
    for _ in range(limit):
        message = receive(ws)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def test_watch_streams_records_and_backfills_the_maps(
    allocator: Allocator, private_store: Path
) -> None:
    allocator.alloc(40)
    server = MemlensServer(
        "watch", str(allocator.pid), "--port", "0", "--interval", "0.2",
        "--maps-interval", "0.3",
    )  # fmt: skip
    try:
        with connect(server.ws_url) as ws:
            key = receive(ws)["targets"][0]["key"]
            first = until(ws, "maps")
            second = until(ws, "maps")
        assert first["key"] == second["key"] == key
        assert second["t"] > first["t"]
        assert set(first["categories"]) == set(CATEGORIES)
        assert set(first["categories"]["anon"]) == {"rss", "pss", "uss", "swap"}
        assert first["categories"]["anon"]["rss"] >= 40 * MB
        assert first["mappings"] > 0
        assert 0 < len(first["top"]) <= MAP_TOP
        assert set(first["top"][0]) == set(MAP_TOP_FIELDS)
        biggest = first["top"][0]
        assert (biggest["category"], biggest["label"]) == ("anon", "[anon]")
        assert biggest["rss"] >= 40 * MB
        # A tab that opens later gets the readings so far in its backfill.
        with connect(server.ws_url) as late:
            until(late, "hello")
            backfill = until(late, "backfill")
        assert [m["t"] for m in backfill["maps"]][:2] == [first["t"], second["t"]]
    finally:
        assert server.stop() == 0
    reader = StoreReader.open(private_store)
    try:
        recording = load_recording(reader, reader.recording("last"))
    finally:
        reader.close()
    kept = recording.maps[key]
    assert [m.t for m in kept][:2] == [first["t"], second["t"]]
    assert kept[0].to_dict() == {k: v for k, v in first.items() if k not in ("type", "key")}


def test_record_then_serve_sends_the_recordings_maps(allocator: Allocator, tmp_path: Path) -> None:
    allocator.alloc(20)
    path = tmp_path / "run.db"
    done = run_memlens(
        "record", str(allocator.pid), "--duration", "3s", "--interval", "0.2",
        "--maps-interval", "0.3", "-o", str(path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    reader = StoreReader.open(path)
    try:
        recording = load_recording(reader, reader.recording("last"))
    finally:
        reader.close()
    ((key, kept),) = recording.maps.items()
    assert len(kept) >= 3
    server = MemlensServer("serve", str(path), "--port", "0")
    try:
        with connect(server.ws_url) as ws:
            until(ws, "hello")
            backfill = until(ws, "backfill")
    finally:
        assert server.stop() == 0
    assert [(m["key"], m["t"]) for m in backfill["maps"]] == [(key, m.t) for m in kept]
    assert backfill["maps"][-1]["categories"]["anon"]["rss"] >= 20 * MB


def test_poller_says_where_a_target_grew(allocator: Allocator) -> None:
    target = _target(allocator)
    poller = MapsPoller(lambda: [target], [], MapsSettings())
    try:
        assert poller.poll_once() == 1
        assert poller.growth(target.key, 0.0, time.time() + 1) is None  # one reading
        allocator.alloc(40)
        assert poller.poll_once() == 1
    finally:
        poller.stop()
    where = poller.growth(target.key, 0.0, time.time() + 1)
    assert where is not None
    assert where["grew"]["anon"] >= 40 * MB
    assert where["cause"].startswith("anonymous memory grew ")
    assert where["cause"].endswith("over the leak: a native heap leak")
