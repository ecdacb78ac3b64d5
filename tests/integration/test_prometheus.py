"""`/metrics` with real parts: a real `memlens exporter` (and `memlens watch`) on real
children, scraped over HTTP and parsed with prometheus_client's own parser, and a real
Prometheus server (Debian's `prometheus`, which scripts/test installs) that scrapes
the exporter with a token and answers through its HTTP API.

The collector is also fed real ticks directly, with and without a real system reading:
GPU gauges appear only where the reading has GPUs. The NVML path itself is exercised by
the GPU probe's own test, which skips where no driver is; here the GPU part is checked
when the machine has one and skipped, with the reason, when not.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from helpers import FAST_DETECTOR, LEAKY_LIST, MB, Allocator, MemlensServer, python_child
from memlens.metrics.prometheus import NAME_LIMIT, SPECS, LiveMetrics
from memlens.model import Reading, Target, Tick
from memlens.probes.system import SystemProbe

PROMETHEUS = "/usr/bin/prometheus"
PAGE = os.sysconf("SC_PAGE_SIZE")


def scrape(server: MemlensServer) -> list[Sample]:
    response = server.get("metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(samples: list[Sample], name: str, pid: int) -> float | None:
    found = [s.value for s in samples if s.name == name and s.labels.get("pid") == str(pid)]
    assert len(found) <= 1, found
    return found[0] if found else None


def known(samples: list[Sample], name: str, pid: int) -> float:
    found = value(samples, name, pid)
    assert found is not None, f"no {name} for PID {pid}"
    return found


def until_rss_matches(server: MemlensServer, allocator: Allocator) -> list[Sample]:
    """Scrape until the child's resident bytes are there and match /proc (the child is
    idle, so they settle); the last scrape."""
    deadline = time.monotonic() + 30
    seen = None
    while time.monotonic() < deadline:
        samples = scrape(server)
        seen = value(samples, "memlens_process_resident_bytes", allocator.pid)
        if seen is not None and abs(seen - allocator.vmrss()) <= PAGE:
            return samples
        time.sleep(0.2)
    raise AssertionError(f"resident bytes {seen} never matched VmRSS {allocator.vmrss()}")


@pytest.fixture
def exporter(allocator: Allocator) -> Iterator[MemlensServer]:
    allocator.alloc(40)
    server = MemlensServer("exporter", str(allocator.pid), "--port", "0", "--interval", "0.1")
    try:
        yield server
    finally:
        assert server.stop() == 0


def test_metrics_hold_the_childs_memory_and_nothing_else_is_served(
    exporter: MemlensServer, allocator: Allocator
) -> None:
    samples = until_rss_matches(exporter, allocator)
    assert known(samples, "memlens_process_resident_bytes", allocator.pid) > 40 * MB
    assert known(samples, "memlens_process_virtual_bytes", allocator.pid) > 40 * MB
    assert known(samples, "memlens_process_threads", allocator.pid) == 1
    assert known(samples, "memlens_process_open_fds", allocator.pid) >= 3
    assert value(samples, "memlens_process_running", allocator.pid) == 1
    names = {s.name for s in samples}
    assert "memlens_targets" in names
    assert "memlens_sampler_ticks_total" in names
    resident = [s for s in samples if s.name == "memlens_process_resident_bytes"]
    assert set(resident[0].labels) == {"pid", "name", "key", "kind"}
    assert resident[0].labels["kind"] == "process"
    assert f"memlens: Prometheus metrics at {exporter.base}metrics" in exporter.lines
    assert exporter.get("healthz").json()["status"] == "ok"
    assert exporter.get("api/targets").status_code == 404  # no dashboard
    assert exporter.get("ws").status_code == 404
    # Exited: running 0 and no memory figures (until the grace period drops it).
    allocator.command("exit 0")
    allocator.proc.wait()
    deadline = time.monotonic() + 20
    while value(samples, "memlens_process_running", allocator.pid) != 0:
        assert time.monotonic() < deadline, "the exit never showed"
        time.sleep(0.2)
        samples = scrape(exporter)
    assert value(samples, "memlens_process_resident_bytes", allocator.pid) is None


def test_the_watch_server_serves_metrics_too(allocator: Allocator) -> None:
    server = MemlensServer(
        "watch", str(allocator.pid), "--port", "0", "--interval", "0.1", "--no-record"
    )
    try:
        until_rss_matches(server, allocator)
        assert server.get("api/targets").status_code == 200  # the dashboard too
        # OpenMetrics when the scraper asks for it, as Prometheus does.
        asked = server.get(
            "metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0"},
        )
        assert asked.headers["content-type"].startswith("application/openmetrics-text")
        assert asked.text.rstrip().endswith("# EOF")
    finally:
        assert server.stop() == 0


def test_labels_are_bounded(tmp_path: Path) -> None:
    """A 100-character program name (psutil reports it whole) and a 10 KB command line:
    no label is longer than 64 characters and the command line is nowhere."""
    long_name = tmp_path / ("p" * 100)
    long_name.symlink_to(sys.executable)
    filler = "a" * 10_000
    child = subprocess.Popen(
        [str(long_name), "-c", "import time; print('ready', flush=True); time.sleep(600)", filler],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    server = MemlensServer("exporter", str(child.pid), "--port", "0", "--backend", "psutil")
    try:
        deadline = time.monotonic() + 20
        while value(samples := scrape(server), "memlens_process_resident_bytes", child.pid) is None:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        body = server.get("metrics").text
    finally:
        assert server.stop() == 0
        child.kill()
        child.wait()
        child.stdout.close()
    assert filler not in body
    ours = [s for s in samples if s.labels.get("pid") == str(child.pid)]
    assert ours
    for sample in ours:
        assert "cmdline" not in sample.labels
        assert all(len(v) <= NAME_LIMIT for v in sample.labels.values()), sample.labels
    assert ours[0].labels["name"] == "p" * NAME_LIMIT


def test_leak_gauges_follow_the_detector(allocator: Allocator, tmp_path: Path) -> None:
    config = tmp_path / "memlens.toml"
    config.write_text(FAST_DETECTOR)
    with python_child(LEAKY_LIST) as leaky:
        server = MemlensServer(
            "exporter",
            str(leaky.pid),
            str(allocator.pid),
            "--port",
            "0",
            "--interval",
            "0.2",
            "--config",
            str(config),
        )
        try:
            deadline = time.monotonic() + 120
            samples = scrape(server)
            while value(samples, "memlens_leak_alert", leaky.pid) != 1:
                assert time.monotonic() < deadline, "no leak alert in /metrics"
                time.sleep(0.5)
                samples = scrape(server)
            while value(samples, "memlens_leak_detected", allocator.pid) is None:
                assert time.monotonic() < deadline, "the idle child was never judged"
                time.sleep(0.5)
                samples = scrape(server)
        finally:
            assert server.stop() == 0
    assert value(samples, "memlens_leak_detected", allocator.pid) == 0
    assert value(samples, "memlens_leak_alert", allocator.pid) == 0
    assert value(samples, "memlens_leak_detected", leaky.pid) == 1
    rates = [
        s
        for s in samples
        if s.name == "memlens_leak_rate_bytes_per_second" and s.labels["pid"] == str(leaky.pid)
    ]
    assert len(rates) == 1
    assert rates[0].value > MB  # about 4 MB/s
    assert rates[0].labels["severity"] in {"low", "medium", "high", "critical"}
    assert f"(PID {leaky.pid}): LEAK" in server.stderr


def test_a_token_guards_metrics_on_a_wider_bind(allocator: Allocator) -> None:
    token = "s3cret-token-for-tests"
    server = MemlensServer(
        "exporter", str(allocator.pid), "--host", "0.0.0.0", "--port", "0", "--token", token
    )
    try:
        port = server.base.rsplit(":", 1)[1].strip("/")
        url = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong-token"}).status_code == 401
        ok = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert "memlens_targets" in ok.text
    finally:
        assert server.stop() == 0
    assert "reachable from other machines" in server.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_real_prometheus_scrapes_the_exporter(allocator: Allocator, tmp_path: Path) -> None:
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.skip(f"{PROMETHEUS} is missing (scripts/test installs Debian's prometheus)")
    allocator.alloc(30)
    token = "prometheus-bearer-token"
    server = MemlensServer(
        "exporter", str(allocator.pid), "--port", "0", "--interval", "0.2", "--token", token
    )
    port = server.base.rsplit(":", 1)[1].strip("/")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: memlens\n"
        "    scrape_interval: 1s\n"
        "    authorization:\n"
        f"      credentials: {token}\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{port}']\n"
    )
    api = f"127.0.0.1:{free_port()}"
    log = (tmp_path / "prometheus.log").open("w")
    prometheus = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address={api}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    query = f'memlens_process_resident_bytes{{pid="{allocator.pid}"}}'
    try:
        deadline = time.monotonic() + 90
        found = None
        while time.monotonic() < deadline:
            assert prometheus.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            try:
                answer = httpx.get(f"http://{api}/api/v1/query", params={"query": query}).json()
            except httpx.TransportError:  # not listening yet
                answer = {}
            results = answer.get("data", {}).get("result", [])
            if results:
                found = results[0]
                if abs(float(found["value"][1]) - allocator.vmrss()) <= PAGE:
                    break
            time.sleep(0.5)
        assert found is not None, (tmp_path / "prometheus.log").read_text()[-3000:]
        assert found["metric"]["job"] == "memlens"
        assert found["metric"]["name"]
        assert abs(float(found["value"][1]) - allocator.vmrss()) <= PAGE
        assert float(found["value"][1]) > 30 * MB
    finally:
        prometheus.send_signal(signal.SIGTERM)
        try:
            prometheus.wait(timeout=30)
        except subprocess.TimeoutExpired:
            prometheus.kill()
            prometheus.wait()
        log.close()
        assert server.stop() == 0
    assert prometheus.returncode == 0


def _target(pid: int, name: str = "worker") -> Target:
    return Target(
        key=f"{pid}-1", kind="process", pid=pid, start_time=1.0, name=name, cmdline="x " * 9000
    )


def test_system_and_gpu_gauges_only_where_the_reading_has_them() -> None:
    metrics = LiveMetrics()
    target = _target(os.getpid())
    reading = Reading(10 * MB, 20 * MB, MB, 0, 3, 7, 1.5, py_heap=2 * MB, gc_collections=12)
    metrics.on_tick(Tick(1, 100.0, {target.key: reading}, (target,)))
    bare = metrics.snapshot()
    assert not [n for n in bare if n.startswith(("memlens_system_", "memlens_gpu_"))]
    assert bare["memlens_python_heap_bytes"] == [
        ((str(target.pid), "worker", target.key, "process"), 2.0 * MB)
    ]
    assert "memlens_python_blocks" not in bare  # not known: left out, not 0

    probe = SystemProbe(gpu=True)
    probe.read()
    system = probe.read()
    metrics.on_tick(Tick(2, 101.0, {target.key: reading}, system=system))
    with_system = metrics.snapshot()
    assert with_system["memlens_system_memory_total_bytes"] == [((), float(system.mem_total))]
    assert "memlens_system_memory_available_bytes" in with_system
    gpus = [n for n in with_system if n.startswith("memlens_gpu_")]
    if not probe.gpu_available:
        assert gpus == []
        pytest.skip("no NVIDIA driver here: the GPU gauges are checked where one is")
    assert len(with_system["memlens_gpu_memory_total_bytes"]) == len(system.gpus)
    labels = with_system["memlens_gpu_memory_total_bytes"][0][0]
    assert labels[0] == str(system.gpus[0].index)
    assert len(labels[1]) <= NAME_LIMIT


def test_the_cap_on_targets_and_the_grace_after_exit() -> None:
    metrics = LiveMetrics(max_targets=2, grace=10.0)
    targets = [_target(pid) for pid in (11, 12, 13)]
    reading = Reading(MB, MB, 0, None, 1, 1, None)
    metrics.on_tick(Tick(1, 100.0, {t.key: reading for t in targets}, tuple(targets)))
    snapshot = metrics.snapshot()
    assert {labels[0] for labels, _ in snapshot["memlens_process_resident_bytes"]} == {"11", "12"}
    assert snapshot["memlens_targets_left_out_total"] == [((), 1.0)]
    assert "memlens_process_swap_bytes" not in snapshot  # None: unknown
    metrics.on_tick(Tick(2, 101.0, {targets[1].key: reading}, exits=(targets[0],)))
    snapshot = metrics.snapshot()
    assert {labels[0] for labels, _ in snapshot["memlens_process_resident_bytes"]} == {"12"}
    assert ((("11", "worker", "11-1", "process"), 0.0)) in snapshot["memlens_process_running"]
    metrics.on_tick(Tick(3, 112.0, {targets[1].key: reading}))
    snapshot = metrics.snapshot()
    assert [labels[0] for labels, _ in snapshot["memlens_process_running"]] == ["12"]


DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_metric_is_documented_and_the_dashboard_uses_real_ones() -> None:
    guide = (DOCS / "metrics.md").read_text()
    for spec in SPECS:
        assert f"`{spec.name}`" in guide, f"{spec.name} is not in docs/metrics.md"
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    names = {spec.name for spec in SPECS}
    used = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            used |= set(re.findall(r"memlens_[a-z_]+", target["expr"]))
    assert used <= names, used - names
    assert {
        "memlens_process_resident_bytes",
        "memlens_python_heap_bytes",
        "memlens_leak_rate_bytes_per_second",
        "memlens_system_memory_used_bytes",
    } <= used
