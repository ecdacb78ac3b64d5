"""The live watch as Prometheus metrics: `/metrics` on the server, and the values that
`memlens.metrics.otlp` pushes.

`LiveMetrics.on_tick` runs on the sampler's thread, so it only keeps references to the
latest values (a dict update and a few assignments); everything else is done when a
scraper asks, on the scraper's schedule, not the sampler's. docs/metrics.md lists every
metric, its labels and units.

Labels are bounded so that a long watch cannot blow up a time-series database: a
target's labels are its PID, its process name (cut to 64 characters), its key
(`PID-STARTTICKS`) and its kind (`process` or `sum`), never its command line; at most
`max_targets` targets are exported (the rest are counted in
`memlens_targets_left_out_total`); an exited target disappears after a grace period.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memlens.analysis.leakmodel import LeakFinding
from memlens.model import SAMPLE_FIELDS, Alert, Reading, SystemReading, Target, Tick
from memlens.probes.maps import CATEGORIES, MapsReading, Usage

if TYPE_CHECKING:
    # prometheus_client is imported on the first scrape: a watch that nobody scrapes
    # does not carry it (about 4 MB of a server's memory).
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

MAX_TARGETS = 5_000
NAME_LIMIT = 64  # characters of a label value taken from the process
EXIT_GRACE = 60.0  # s an exited target stays (as memlens_process_running 0)

TARGET_LABELS = ("pid", "name", "key", "kind")
GPU_LABELS = ("gpu", "gpu_name")

Labels = tuple[str, ...]
Series = list[tuple[Labels, float]]


@dataclass(frozen=True)
class Spec:
    """One metric: its name as exposed (counters end in `_total`), its type, its OTLP
    unit, its labels and its help text."""

    name: str
    kind: str  # "gauge" or "counter"
    unit: str
    labels: Labels
    help: str


def _process(name: str, unit: str, help: str, kind: str = "gauge") -> Spec:
    return Spec(name, kind, unit, TARGET_LABELS, help)


def _system(name: str, unit: str, help: str) -> Spec:
    return Spec(name, "gauge", unit, (), help)


def _gpu(name: str, unit: str, help: str) -> Spec:
    return Spec(name, "gauge", unit, GPU_LABELS, help)


# Reading fields exported per target, in the order exposed.
READING_SPECS: tuple[tuple[str, Spec], ...] = (
    ("rss", _process("memlens_process_resident_bytes", "By", "Resident set size.")),
    ("vms", _process("memlens_process_virtual_bytes", "By", "Virtual memory size.")),
    ("shared", _process("memlens_process_shared_bytes", "By", "Resident shared memory.")),
    ("swap", _process("memlens_process_swap_bytes", "By", "Memory swapped out.")),
    ("threads", _process("memlens_process_threads", "1", "OS threads.")),
    ("fds", _process("memlens_process_open_fds", "1", "Open file descriptors.")),
    ("cpu", _process("memlens_process_cpu_percent", "%", "CPU use; 100 is one core.")),
    ("uss", _process("memlens_process_unique_bytes", "By", "Unique set size.")),
    ("pss", _process("memlens_process_proportional_bytes", "By", "Proportional set size.")),
    ("py_heap", _process("memlens_python_heap_bytes", "By", "Bytes traced by tracemalloc.")),
    (
        "py_heap_peak",
        _process("memlens_python_heap_peak_bytes", "By", "Peak traced by tracemalloc."),
    ),
    ("py_blocks", _process("memlens_python_blocks", "1", "Blocks held by Python's allocator.")),
    (
        "gc_collections",
        _process(
            "memlens_python_gc_collections_total", "1", "Garbage collections.", kind="counter"
        ),
    ),
    (
        "gc_uncollectable",
        _process(
            "memlens_python_gc_uncollectable_total",
            "1",
            "Objects the collector found uncollectable.",
            kind="counter",
        ),
    ),
)
RUNNING = _process("memlens_process_running", "1", "1 while running, 0 for a while after exit.")
START_TIME = _process("memlens_process_start_time_seconds", "s", "Unix time the process started.")
PROCESS_GPU = Spec(
    "memlens_process_gpu_memory_bytes",
    "gauge",
    "By",
    (*TARGET_LABELS, "gpu"),
    "GPU memory the process holds on one device.",
)
LEAK_DETECTED = _process("memlens_leak_detected", "1", "1 when the latest verdict is a leak.")
LEAK_ALERT = _process(
    "memlens_leak_alert", "1", "1 while memlens's leak alert is raised (persistent verdicts)."
)
LEAK_RATE = Spec(
    "memlens_leak_rate_bytes_per_second",
    "gauge",
    "By/s",
    (*TARGET_LABELS, "severity"),
    "Growth rate of the memory floor in the latest leak verdict.",
)
LEAK_TIME_TO_LIMIT = _process(
    "memlens_leak_time_to_limit_seconds", "s", "Time until the leak reaches the memory limit."
)
MAP_LABELS = (*TARGET_LABELS, "category")
# A memory map's figures by category (memlens.probes.maps), read every 10 s or so.
MAP_SPECS: tuple[tuple[str, Spec], ...] = (
    (
        "rss",
        Spec(
            "memlens_process_map_resident_bytes",
            "gauge",
            "By",
            MAP_LABELS,
            "Resident memory by where it lives (heap, anon, file, stack, shmem, other).",
        ),
    ),
    (
        "pss",
        Spec(
            "memlens_process_map_proportional_bytes",
            "gauge",
            "By",
            MAP_LABELS,
            "Proportional set size by where it lives.",
        ),
    ),
    (
        "uss",
        Spec(
            "memlens_process_map_unique_bytes",
            "gauge",
            "By",
            MAP_LABELS,
            "Private memory (USS) by where it lives.",
        ),
    ),
    (
        "swap",
        Spec(
            "memlens_process_map_swap_bytes", "gauge", "By", MAP_LABELS, "Swap by where it lives."
        ),
    ),
)
THREAD_STACKS = _process("memlens_process_thread_stacks", "1", "Thread stacks in the memory map.")
SYSTEM_SPECS: tuple[tuple[str, Spec], ...] = (
    ("cpu_percent", _system("memlens_system_cpu_percent", "%", "CPU use, all CPUs, 0-100.")),
    ("mem_total", _system("memlens_system_memory_total_bytes", "By", "Physical memory.")),
    ("mem_used", _system("memlens_system_memory_used_bytes", "By", "Memory in use.")),
    (
        "mem_available",
        _system("memlens_system_memory_available_bytes", "By", "Memory available."),
    ),
    ("mem_percent", _system("memlens_system_memory_percent", "%", "Memory in use, percent.")),
    ("swap_total", _system("memlens_system_swap_total_bytes", "By", "Swap space.")),
    ("swap_used", _system("memlens_system_swap_used_bytes", "By", "Swap in use.")),
    (
        "disk_read_bps",
        _system("memlens_system_disk_read_bytes_per_second", "By/s", "Disk reads."),
    ),
    (
        "disk_write_bps",
        _system("memlens_system_disk_write_bytes_per_second", "By/s", "Disk writes."),
    ),
    (
        "net_rx_bps",
        _system("memlens_system_network_receive_bytes_per_second", "By/s", "Network in."),
    ),
    (
        "net_tx_bps",
        _system("memlens_system_network_transmit_bytes_per_second", "By/s", "Network out."),
    ),
)
GPU_SPECS: tuple[tuple[str, Spec], ...] = (
    ("memory_total", _gpu("memlens_gpu_memory_total_bytes", "By", "GPU memory.")),
    ("memory_used", _gpu("memlens_gpu_memory_used_bytes", "By", "GPU memory in use.")),
    (
        "utilization_percent",
        _gpu("memlens_gpu_utilization_percent", "%", "Share of time a kernel ran."),
    ),
    (
        "memory_utilization_percent",
        _gpu("memlens_gpu_memory_utilization_percent", "%", "Share of time memory was used."),
    ),
)
TARGETS = _system("memlens_targets", "1", "Targets exported now.")
LEFT_OUT = Spec(
    "memlens_targets_left_out_total", "counter", "1", (), "Targets not exported (over the cap)."
)
TICKS = Spec("memlens_sampler_ticks_total", "counter", "1", (), "Sampling rounds.")
MISSED = Spec(
    "memlens_sampler_missed_ticks_total", "counter", "1", (), "Rounds skipped for lack of time."
)

SPECS: tuple[Spec, ...] = (
    *(spec for _, spec in READING_SPECS),
    RUNNING,
    START_TIME,
    PROCESS_GPU,
    LEAK_DETECTED,
    LEAK_ALERT,
    LEAK_RATE,
    LEAK_TIME_TO_LIMIT,
    *(spec for _, spec in MAP_SPECS),
    THREAD_STACKS,
    *(spec for _, spec in SYSTEM_SPECS),
    *(spec for _, spec in GPU_SPECS),
    TARGETS,
    LEFT_OUT,
    TICKS,
    MISSED,
)
_FIELD_INDEX = {name: i for i, name in enumerate(SAMPLE_FIELDS)}

Verdicts = Callable[[], dict[str, LeakFinding]]
Stats = Callable[[], dict[str, int]]


@dataclass(frozen=True)
class _Known:
    labels: Labels
    start_time: float
    kind: str
    running: bool = True


def target_labels(target: Target) -> Labels:
    """The bounded labels of a target: never its command line, its name cut short."""
    return (str(target.pid), target.name[:NAME_LIMIT], target.key, target.kind)


class LiveMetrics:
    """The latest values of a watch, rendered as metric families when asked.

    Fed by `on_tick` (sampler thread) and `on_alert` (the alert engine's sink); read by
    `collect`/`snapshot` (any thread). `verdicts` gives the alert engine's latest leak
    finding per target, `stats` the sampler's counters.
    """

    def __init__(
        self,
        *,
        verdicts: Verdicts | None = None,
        stats: Stats | None = None,
        max_targets: int = MAX_TARGETS,
        grace: float = EXIT_GRACE,
    ) -> None:
        self.verdicts = verdicts
        self.stats = stats
        self.max_targets = max_targets
        self.grace = grace
        self.left_out = 0
        self._lock = threading.Lock()
        self._targets: dict[str, _Known] = {}
        self._latest: dict[str, Reading] = {}
        self._maps: dict[str, tuple[dict[str, Usage], int]] = {}
        self._exited: deque[tuple[float, str]] = deque()
        self._system: SystemReading | None = None
        self._alerting: set[str] = set()  # keys whose leak alert is raised
        self._registry: CollectorRegistry | None = None

    @property
    def registry(self) -> CollectorRegistry:
        """prometheus_client's registry holding this collector, made on first use."""
        with self._lock:
            if self._registry is None:
                from prometheus_client import CollectorRegistry

                self._registry = CollectorRegistry(auto_describe=False)
                self._registry.register(self)
            return self._registry

    def on_tick(self, tick: Tick) -> None:
        """The sampler's consumer, on its thread: only dict updates and references."""
        with self._lock:
            for target in tick.new_targets:
                if target.key not in self._targets and len(self._targets) >= self.max_targets:
                    self.left_out += 1
                    continue
                self._targets[target.key] = _Known(
                    target_labels(target), target.start_time, target.kind
                )
            if self.left_out:
                known = self._targets
                for key, reading in tick.samples.items():
                    if key in known:
                        self._latest[key] = reading
            else:
                self._latest.update(tick.samples)
            for target in tick.exits:
                self._latest.pop(target.key, None)
                self._maps.pop(target.key, None)
                was = self._targets.get(target.key)
                if was is not None and was.running:
                    self._targets[target.key] = _Known(was.labels, was.start_time, was.kind, False)
                    self._exited.append((tick.time, target.key))
            if tick.system is not None:
                self._system = tick.system
            while self._exited and self._exited[0][0] < tick.time - self.grace:
                _, key = self._exited.popleft()
                known_one = self._targets.get(key)
                if known_one is not None and not known_one.running:
                    del self._targets[key]
                    self._alerting.discard(key)

    def on_maps(self, key: str, reading: MapsReading) -> None:
        """A memory map's reading (the maps poller's sink, on its thread)."""
        with self._lock:
            if key in self._targets and self._targets[key].running:
                self._maps[key] = (reading.categories, reading.thread_stacks)

    def on_alert(self, alert: Alert) -> None:
        """An alert sink: a raised leak alert holds until cleared or the target goes."""
        if alert.kind != "leak" or alert.key is None:
            return
        with self._lock:
            if alert.data.get("state") == "raised":
                self._alerting.add(alert.key)
            else:
                self._alerting.discard(alert.key)

    def snapshot(self) -> dict[str, Series]:
        """Every metric that has a value now, by name: (label values, value) pairs."""
        with self._lock:
            targets = list(self._targets.items())
            latest = dict(self._latest)
            maps = dict(self._maps)
            system = self._system
            left_out = self.left_out
            alerting = set(self._alerting)
        out: dict[str, Series] = {}

        def put(spec: Spec, labels: Labels, value: float | None) -> None:
            if value is not None and math.isfinite(value):
                out.setdefault(spec.name, []).append((labels, float(value)))

        for key, known in targets:
            put(RUNNING, known.labels, 1.0 if known.running else 0.0)
            put(START_TIME, known.labels, known.start_time)
            reading = latest.get(key)
            if reading is None:
                continue
            for field, spec in READING_SPECS:
                put(spec, known.labels, reading[_FIELD_INDEX[field]])
            mapped = maps.get(key)
            if mapped is not None:
                _map_series(put, known.labels, *mapped)
        if self.verdicts is not None:
            _leaks(put, dict(targets), self.verdicts(), alerting)
        if system is not None:
            _system_series(put, system, targets)
        put(TARGETS, (), float(len(targets)))
        put(LEFT_OUT, (), float(left_out))
        if self.stats is not None:
            stats = self.stats()
            put(TICKS, (), stats.get("ticks"))
            put(MISSED, (), stats.get("missed_ticks"))
        return out

    def collect(self) -> Iterator[Metric]:
        """prometheus_client's Collector protocol: families built afresh on each scrape."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        snapshot = self.snapshot()
        for spec in SPECS:
            series = snapshot.get(spec.name)
            if not series:
                continue
            family: GaugeMetricFamily | CounterMetricFamily
            if spec.kind == "counter":
                family = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
            else:
                family = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
            for labels, value in series:
                family.add_metric(labels, value)
            yield family

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition (text format, or OpenMetrics when the Accept header asks) and
        its content type."""
        from prometheus_client.exposition import choose_encoder

        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


Put = Callable[[Spec, Labels, float | None], None]


def _leaks(
    put: Put, targets: dict[str, _Known], findings: dict[str, LeakFinding], alerting: set[str]
) -> None:
    for key, finding in findings.items():
        known = targets.get(key)
        if known is None:
            continue
        put(LEAK_DETECTED, known.labels, 1.0 if finding.is_leak else 0.0)
        put(LEAK_ALERT, known.labels, 1.0 if key in alerting else 0.0)
        put(LEAK_RATE, (*known.labels, finding.severity.value), finding.rate)
        put(LEAK_TIME_TO_LIMIT, known.labels, finding.time_to_limit)


def _map_series(put: Put, labels: Labels, categories: dict[str, Usage], stacks: int) -> None:
    for category in CATEGORIES:
        usage = categories.get(category)
        if usage is None:
            continue
        for field, spec in MAP_SPECS:
            put(spec, (*labels, category), getattr(usage, field))
    put(THREAD_STACKS, labels, stacks)


def _system_series(put: Put, system: SystemReading, targets: Iterable[tuple[str, _Known]]) -> None:
    for field, spec in SYSTEM_SPECS:
        put(spec, (), getattr(system, field))
    if not system.gpus:
        return
    by_pid = {
        known.labels[0]: known.labels
        for _, known in targets
        if known.running and known.kind == "process"
    }
    for gpu in system.gpus:
        labels = (str(gpu.index), gpu.name[:NAME_LIMIT])
        for field, spec in GPU_SPECS:
            put(spec, labels, getattr(gpu, field))
        for process in gpu.processes:
            owner = by_pid.get(str(process.pid))
            if owner is not None:
                put(PROCESS_GPU, (*owner, str(gpu.index)), process.used_memory)


__all__ = ["MAX_TARGETS", "NAME_LIMIT", "SPECS", "LiveMetrics", "Spec", "target_labels"]
