"""The whole machine: CPU, memory, swap, disk and network rates, and GPUs where NVML is.

Rates (CPU percent, bytes per second) are differences between two readings of the
kernel's cumulative counters, so the first `read()` of a probe knows none of them
(`None`) and each later one covers the time since the one before. The probe keeps its
own previous counters rather than using `psutil.cpu_percent()`, whose state is
process-wide: two probes (or a probe and anything else in the process calling it) would
each see only a slice of the interval.

What is counted, so that one byte is counted once:

- **disk**: on Linux, whole block devices that are not stacked on others (no device-mapper
  or md volumes, whose I/O their member disks count again) and not loop, ram or zram
  devices (backed by files or by memory); elsewhere, psutil's total;
- **network**: every interface but loopback (traffic to 127.0.0.1 never leaves the machine).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import psutil

from memlens.model import SystemReading
from memlens.probes.gpu import GpuProbe

_SYS_BLOCK = "/sys/block"
_VIRTUAL_DISKS = ("loop", "ram", "zram")


@dataclass(frozen=True, slots=True)
class _Raw:
    """One reading's cumulative counters and memory figures, before rates."""

    mono: float
    cpu_busy: float  # CPU seconds since boot, all CPUs
    cpu_total: float
    disk: tuple[int, int] | None  # bytes read, written since boot
    net: tuple[int, int]  # bytes received, sent since boot
    mem_total: int
    mem_available: int
    swap_total: int
    swap_free: int


class SystemProbe:
    """Reads the machine; keeps the previous counters to turn them into rates.

    On Linux it reads /proc/stat, /proc/meminfo, /proc/diskstats and /proc/net/dev through
    descriptors kept open, one pread each, which costs about a quarter of psutil's four
    calls (psutil opens each file anew and reads /proc/meminfo twice); elsewhere, or
    with `backend="psutil"`, psutil. Both count alike (see the module's docstring).

    With `gpu=True` each reading also carries one `GpuReading` per NVIDIA device, and
    none, silently, where the `nvidia-ml-py` package or a driver is missing. Not safe
    to share between threads: give each reading loop its own probe.
    """

    def __init__(self, *, gpu: bool = False, backend: str | None = None) -> None:
        linux = sys.platform.startswith("linux") and os.path.isdir("/proc/self")
        if backend not in (None, "linux", "psutil"):
            raise ValueError(f"unknown system probe backend {backend!r}")
        self._proc: _ProcFiles | None = None
        if backend == "linux" or (backend is None and linux):
            self._proc = _ProcFiles()
        self.backend = "psutil" if self._proc is None else "linux"
        self._gpu = GpuProbe() if gpu else None
        self._prev: _Raw | None = None

    @property
    def gpu_available(self) -> bool:
        return self._gpu is not None and self._gpu.available

    def read(self) -> SystemReading:
        t = time.time()
        raw = self._proc.read() if self._proc is not None else _psutil_raw()
        prev, self._prev = self._prev, raw
        cpu = disk_r = disk_w = net_rx = net_tx = None
        if prev is not None:
            cpu = _percent(raw.cpu_busy - prev.cpu_busy, raw.cpu_total - prev.cpu_total)
            elapsed = raw.mono - prev.mono
            if raw.disk is not None and prev.disk is not None:
                disk_r = _rate(raw.disk[0] - prev.disk[0], elapsed)
                disk_w = _rate(raw.disk[1] - prev.disk[1], elapsed)
            net_rx = _rate(raw.net[0] - prev.net[0], elapsed)
            net_tx = _rate(raw.net[1] - prev.net[1], elapsed)
        used = max(0, raw.mem_total - raw.mem_available)
        return SystemReading(
            t=t,
            cpu_percent=cpu,
            mem_total=raw.mem_total,
            mem_used=used,
            mem_available=raw.mem_available,
            mem_percent=100.0 * used / raw.mem_total if raw.mem_total else 0.0,
            swap_total=raw.swap_total,
            swap_used=max(0, raw.swap_total - raw.swap_free),
            disk_read_bps=disk_r,
            disk_write_bps=disk_w,
            net_rx_bps=net_rx,
            net_tx_bps=net_tx,
            gpus=tuple(self._gpu.read()) if self._gpu is not None else (),
        )

    def close(self) -> None:
        if self._proc is not None:
            self._proc.close()
        if self._gpu is not None:
            self._gpu.close()

    def __enter__(self) -> SystemProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _percent(busy: float, total: float) -> float | None:
    if total <= 0:
        return None
    return min(100.0, max(0.0, 100.0 * busy / total))


def _rate(delta: int, elapsed: float) -> float | None:
    # A counter that went backwards belongs to a device that went away or was reset.
    if elapsed <= 0 or delta < 0:
        return None
    return delta / elapsed


# -- Linux: /proc through kept descriptors -------------------------------------------------


_SECTOR = 512  # /proc/diskstats counts 512-byte sectors whatever the device's own size
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class _ProcFiles:
    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        try:
            for name in ("stat", "meminfo", "diskstats", "net/dev"):
                self._fds[name] = os.open(f"/proc/{name}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.close()
            raise
        self._disks = _physical_disks()
        self._disks_at = time.monotonic()

    def _text(self, name: str, size: int) -> bytes:
        return os.pread(self._fds[name], size, 0)

    def read(self) -> _Raw:
        mono = time.monotonic()
        if mono - self._disks_at > 10.0:  # a disk plugged in or removed since
            self._disks, self._disks_at = _physical_disks(), mono
        busy, total = _proc_cpu(self._text("stat", 512))
        memory = _proc_meminfo(self._text("meminfo", 16384))
        return _Raw(
            mono=mono,
            cpu_busy=busy,
            cpu_total=total,
            disk=_proc_diskstats(self._text("diskstats", 1 << 20), self._disks),
            net=_proc_net(self._text("net/dev", 1 << 20)),
            mem_total=memory.get(b"MemTotal:", 0),
            mem_available=_available(memory),
            swap_total=memory.get(b"SwapTotal:", 0),
            swap_free=memory.get(b"SwapFree:", 0),
        )

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _proc_cpu(text: bytes) -> tuple[float, float]:
    """Busy and total seconds from /proc/stat's first line; as psutil counts: guest time is
    inside user and nice time already, and iowait is idle."""
    values = [int(v) for v in text.split(b"\n", 1)[0].split()[1:]]
    values += [0] * (8 - len(values))
    # user nice system idle iowait irq softirq steal; guest and guest_nice follow, counted
    # in user and nice already
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    total = user + nice + system + idle + iowait + irq + softirq + steal
    return (total - idle - iowait) / _CLOCK_TICKS, total / _CLOCK_TICKS


def _proc_meminfo(text: bytes) -> dict[bytes, int]:
    out: dict[bytes, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = int(parts[1]) * (1024 if len(parts) > 2 else 1)
    return out


def _available(memory: dict[bytes, int]) -> int:
    """MemAvailable, or (kernels before 3.14, or a 0 that some kernels report) the
    estimate `free` makes."""
    avail = memory.get(b"MemAvailable:", 0)
    if avail <= 0:
        avail = sum(
            memory.get(k, 0) for k in (b"MemFree:", b"Buffers:", b"Cached:", b"SReclaimable:")
        )
    return min(avail, memory.get(b"MemTotal:", avail))


def _proc_diskstats(text: bytes, wanted: set[str]) -> tuple[int, int]:
    read = written = 0
    for line in text.splitlines():
        fields = line.split()
        # major minor name reads merged sectors-read ms writes merged sectors-written ...
        if len(fields) >= 10 and fields[2].decode(errors="replace") in wanted:
            read += int(fields[5]) * _SECTOR
            written += int(fields[9]) * _SECTOR
    return read, written


def _proc_net(text: bytes) -> tuple[int, int]:
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(b":")
        fields = rest.split()
        if len(fields) >= 9 and not name.strip().startswith(b"lo"):
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


def _physical_disks() -> set[str]:
    """Whole devices not stacked on others and not backed by a file or by memory."""
    out: set[str] = set()
    try:
        names = os.listdir(_SYS_BLOCK)
    except OSError:
        return out
    for name in names:
        if name.startswith(_VIRTUAL_DISKS):
            continue
        try:
            if os.listdir(os.path.join(_SYS_BLOCK, name, "slaves")):
                continue
        except OSError:
            pass
        # /sys/block spells a "/" in a device's name (cciss/c0d0) as "!".
        out.add(name.replace("!", "/"))
    return out


# -- elsewhere: psutil ----------------------------------------------------------------------


def _psutil_raw() -> _Raw:
    mono = time.monotonic()
    times = psutil.cpu_times()
    total = float(sum(times))
    total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    disk = psutil.disk_io_counters(perdisk=False)
    per_nic = psutil.net_io_counters(pernic=True) or {}
    nics = [c for name, c in per_nic.items() if not name.startswith("lo")]
    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    return _Raw(
        mono=mono,
        cpu_busy=total - idle,
        cpu_total=total,
        # None: no disks at all (some containers, some BSDs)
        disk=None if disk is None else (disk.read_bytes, disk.write_bytes),
        net=(sum(c.bytes_recv for c in nics), sum(c.bytes_sent for c in nics)),
        mem_total=int(memory.total),
        mem_available=int(memory.available),
        swap_total=int(swap.total),
        swap_free=int(swap.free),
    )
