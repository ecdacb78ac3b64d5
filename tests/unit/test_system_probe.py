"""The system probe reads this machine; the GPU probe is silent where NVML cannot be used.

No GPU is needed: the absent-package path runs everywhere (the import is made to fail
the way it fails without `nvidia-ml-py`), the absent-driver and device paths run on a
stand-in module shaped like `pynvml` (a real driver cannot be had here), and the real
NVML path runs only where a driver answers.
"""

from __future__ import annotations

import os
import sys
import time
import types
from pathlib import Path
from typing import Any

import psutil
import pytest

from memlens.probes import gpu as gpu_module
from memlens.probes.gpu import GpuProbe
from memlens.probes.system import SystemProbe, _proc_cpu, _proc_diskstats, _proc_net

LINUX = sys.platform.startswith("linux") and os.path.isdir("/proc/self")
BACKENDS = ["psutil", *(["linux"] if LINUX else [])]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_first_reading_has_no_rates_and_the_next_one_has_them(backend: str) -> None:
    with SystemProbe(backend=backend) as probe:
        first = probe.read()
        assert first.cpu_percent is None
        assert first.disk_read_bps is None
        assert first.net_rx_bps is None
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:  # keep a CPU busy so there is time to count
            sum(range(1000))
        second = probe.read()
    assert second.t > first.t
    assert second.cpu_percent is not None
    assert 0.0 < second.cpu_percent <= 100.0
    for rate in (second.disk_read_bps, second.disk_write_bps, second.net_rx_bps):
        assert rate is None or rate >= 0.0
    assert second.net_tx_bps is not None
    assert second.gpus == ()


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_figures_agree_with_psutil(backend: str) -> None:
    with SystemProbe(backend=backend) as probe:
        reading = probe.read()
    memory, swap = psutil.virtual_memory(), psutil.swap_memory()
    assert reading.mem_total == memory.total
    assert reading.mem_used + reading.mem_available == reading.mem_total
    # the machine is shared: other processes move these between the two readings
    assert abs(reading.mem_available - memory.available) < 0.1 * memory.total
    assert reading.mem_percent == pytest.approx(100.0 * reading.mem_used / reading.mem_total)
    assert reading.swap_total == swap.total
    assert 0 <= reading.swap_used <= reading.swap_total
    assert set(reading.to_dict()) >= {
        "cpu_percent",
        "mem_used",
        "mem_available",
        "mem_percent",
        "swap_used",
        "disk_read_bps",
        "disk_write_bps",
        "net_rx_bps",
        "net_tx_bps",
        "gpus",
    }


@pytest.mark.skipif(not LINUX, reason="reads Linux's /proc")
def test_network_rates_leave_out_loopback_and_cpu_counts_as_psutil_does() -> None:
    text = Path("/proc/net/dev").read_bytes()
    per_nic = psutil.net_io_counters(pernic=True)
    # psutil reads the same file; a counter may move between the two reads
    rx, _tx = _proc_net(text)
    outside = [c for name, c in per_nic.items() if not name.startswith("lo")]
    assert rx <= sum(c.bytes_recv for c in outside)
    sample = (
        b"Inter-|   Receive\n face |bytes packets\n"
        b"    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n"
        b"  eth0: 500 5 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n"
    )
    assert _proc_net(sample) == (500, 200)
    busy, total = _proc_cpu(b"cpu  100 0 50 800 50 0 0 0 20 0\ncpu0 ...\n")
    ticks = os.sysconf("SC_CLK_TCK")
    assert (busy * ticks, total * ticks) == pytest.approx((150, 1000))
    disks = b"   8 0 sda 1 0 10 0 2 0 20 0 0 0 0\n   8 1 sda1 1 0 10 0 2 0 20 0 0 0 0\n"
    assert _proc_diskstats(disks, {"sda"}) == (10 * 512, 20 * 512)


@pytest.mark.skipif(not LINUX, reason="reads Linux's /proc")
def test_the_linux_backend_keeps_its_files_open_and_closes_them() -> None:
    before = len(os.listdir("/proc/self/fd"))
    probe = SystemProbe(backend="linux")
    assert probe.backend == "linux"
    assert len(os.listdir("/proc/self/fd")) == before + 4
    for _ in range(3):
        probe.read()
    probe.close()
    assert len(os.listdir("/proc/self/fd")) == before


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown system probe backend"):
        SystemProbe(backend="nope")


# -- GPUs -------------------------------------------------------------------------------------


def test_without_the_nvml_package_there_are_no_gpus_and_nothing_is_said(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # what `import pynvml` does when absent
    probe = GpuProbe()
    assert not probe.available
    assert probe.read() == []
    probe.close()
    with SystemProbe(gpu=True) as system:
        assert not system.gpu_available
        assert system.read().gpus == ()
    assert capsys.readouterr() == ("", "")


class NVMLError(Exception):
    pass


def stand_in_nvml(*, driver: bool) -> types.ModuleType:
    """A module shaped like `pynvml`: without a driver nvmlInit fails as NVML's does."""
    nvml: Any = types.ModuleType("pynvml")
    nvml.calls = []

    def init() -> None:
        nvml.calls.append("init")
        if not driver:
            raise NVMLError("NVML Shared Library Not Found")

    def memory(handle: int) -> Any:
        return types.SimpleNamespace(total=80 << 30, used=(handle + 1) << 30, free=0)

    def rates(handle: int) -> Any:
        if handle == 1:
            raise NVMLError("Not Supported")  # a MIG slice
        return types.SimpleNamespace(gpu=42, memory=7)

    def compute(handle: int) -> list[Any]:
        return [types.SimpleNamespace(pid=100, usedGpuMemory=1 << 20)] if handle == 0 else []

    def graphics(handle: int) -> list[Any]:
        return [
            types.SimpleNamespace(pid=100, usedGpuMemory=None),
            types.SimpleNamespace(pid=7, usedGpuMemory=(1 << 64) - 1),  # "not available"
        ]

    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: nvml.calls.append("shutdown")
    nvml.nvmlDeviceGetCount = lambda: 2
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i
    nvml.nvmlDeviceGetName = lambda h: b"Stand-in GPU" if h == 0 else "Stand-in GPU"
    nvml.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"
    nvml.nvmlDeviceGetMemoryInfo = memory
    nvml.nvmlDeviceGetUtilizationRates = rates
    nvml.nvmlDeviceGetComputeRunningProcesses = compute
    nvml.nvmlDeviceGetGraphicsRunningProcesses = graphics
    return nvml


def test_without_a_driver_there_are_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = stand_in_nvml(driver=False)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    probe = GpuProbe()
    assert not probe.available
    assert probe.read() == []
    probe.close()
    assert nvml.calls == ["init"]  # nothing to shut down


def test_devices_and_their_processes_are_read_and_unknowns_stay_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nvml = stand_in_nvml(driver=True)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    with GpuProbe() as probe:
        assert probe.available
        first, second = probe.read()
    assert nvml.calls == ["init", "shutdown"]
    assert (first.index, first.name, first.uuid) == (0, "Stand-in GPU", "GPU-0")
    assert (first.memory_total, first.memory_used) == (80 << 30, 1 << 30)
    assert (first.utilization_percent, first.memory_utilization_percent) == (42.0, 7.0)
    # pid 100 is both a compute and a graphics process: once, with the memory known
    assert [(p.pid, p.used_memory) for p in first.processes] == [(7, None), (100, 1 << 20)]
    assert second.utilization_percent is None
    assert second.memory_used == 2 << 30
    assert second.to_dict()["processes"] == [
        {"pid": 7, "used_memory": None},
        {"pid": 100, "used_memory": None},
    ]


def nvml_answers() -> bool:
    probe = GpuProbe()
    try:
        return probe.available and probe.device_count > 0
    finally:
        probe.close()


@pytest.mark.skipif(not nvml_answers(), reason="no NVIDIA driver and GPU on this machine")
def test_real_gpus_are_read_through_nvml() -> None:
    with SystemProbe(gpu=True) as probe:
        reading = probe.read()
    assert reading.gpus
    for device in reading.gpus:
        assert device.name
        assert device.memory_total is not None
        assert device.memory_total > 0
        assert device.memory_used is not None
        assert 0 <= device.memory_used <= device.memory_total


def test_the_gpu_module_imports_nothing_until_a_probe_is_made() -> None:
    assert "pynvml" not in vars(gpu_module)
