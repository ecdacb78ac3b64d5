"""GPU memory and utilisation through NVIDIA's NVML, when there is an NVIDIA GPU to ask.

NVML comes from the optional `nvidia-ml-py` package (`pip install memlens[gpu]`), which
provides the `pynvml` module. It is imported only when a `GpuProbe` is made, so `import
memlens` never pays for it, and its absence, or the absence of a driver (no GPU, a
container without the device, a macOS laptop), is not an error: the probe simply has no
devices. A machine without a GPU is the common case and must cost nothing and say
nothing.

Each figure NVML declines to give for one device (utilisation on a MIG slice, the memory
of another user's process) is left unknown (`None`) rather than failing the whole reading.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from typing import Any

from memlens.model import GpuProcess, GpuReading


def load_nvml() -> Any | None:
    """The initialised `pynvml` module, or None when the package or the driver is absent.

    NVML counts initialisations itself, so every probe initialises and shuts down its
    own; one probe's `close()` never ends another's session."""
    try:
        with warnings.catch_warnings():
            # The `pynvml` distribution (12.x), as opposed to `nvidia-ml-py`, which
            # provides the same module, warns on import that it is deprecated.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            nvml = importlib.import_module("pynvml")
    except ImportError:
        return None
    try:
        nvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...: no GPU here
        return None
    return nvml


def release_nvml(nvml: Any) -> None:
    # A driver that went away meanwhile leaves nothing to release.
    with contextlib.suppress(Exception):
        nvml.nvmlShutdown()


class GpuProbe:
    """A kept NVML session; `read()` gives one reading per device, an empty list where
    NVML cannot be used."""

    def __init__(self) -> None:
        self._nvml = load_nvml()
        self._handles: list[Any] = []
        if self._nvml is not None:
            try:
                count = int(self._nvml.nvmlDeviceGetCount())
                self._handles = [self._nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            except Exception:
                self.close()

    @property
    def available(self) -> bool:
        """Whether NVML answered: the package is installed and a driver is loaded."""
        return self._nvml is not None

    @property
    def device_count(self) -> int:
        return len(self._handles)

    def read(self) -> list[GpuReading]:
        nvml = self._nvml
        if nvml is None:
            return []
        return [_device(nvml, i, h) for i, h in enumerate(self._handles)]

    def close(self) -> None:
        if self._nvml is not None:
            release_nvml(self._nvml)
        self._nvml = None
        self._handles = []

    def __enter__(self) -> GpuProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _device(nvml: Any, index: int, handle: Any) -> GpuReading:
    memory = _ask(nvml.nvmlDeviceGetMemoryInfo, handle)
    rates = _ask(nvml.nvmlDeviceGetUtilizationRates, handle)
    return GpuReading(
        index=index,
        name=_text(_ask(nvml.nvmlDeviceGetName, handle)),
        uuid=_text(_ask(nvml.nvmlDeviceGetUUID, handle)),
        memory_total=_int(getattr(memory, "total", None)),
        memory_used=_int(getattr(memory, "used", None)),
        memory_free=_int(getattr(memory, "free", None)),
        utilization_percent=_float(getattr(rates, "gpu", None)),
        memory_utilization_percent=_float(getattr(rates, "memory", None)),
        processes=_processes(nvml, handle),
    )


def _processes(nvml: Any, handle: Any) -> tuple[GpuProcess, ...]:
    """Compute and graphics processes, each PID once (a process can be both)."""
    seen: dict[int, GpuProcess] = {}
    for ask in (
        getattr(nvml, "nvmlDeviceGetComputeRunningProcesses", None),
        getattr(nvml, "nvmlDeviceGetGraphicsRunningProcesses", None),
    ):
        if ask is None:
            continue
        for info in _ask(ask, handle) or ():
            pid = _int(getattr(info, "pid", None))
            if pid is None:
                continue
            used = _int(getattr(info, "usedGpuMemory", None))
            earlier = seen.get(pid)
            if earlier is None or (earlier.used_memory or 0) < (used or 0):
                seen[pid] = GpuProcess(pid, used)
    return tuple(seen[pid] for pid in sorted(seen))


def _ask(fn: Any, handle: Any) -> Any:
    try:
        return fn(handle)
    except Exception:  # NVMLError_NotSupported, _NoPermission, ...: this figure is unknown
        return None


def _text(value: object) -> str:
    if isinstance(value, bytes):  # nvidia-ml-py before 11.5 returned bytes
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _int(value: object) -> int | None:
    # NVML reports "not available" for a process's memory as None (newer bindings) or
    # as the all-ones 64-bit value.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < (1 << 64) - 1:
        return value
    return None


def _float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
