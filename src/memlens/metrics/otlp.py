"""Pushing the live metrics to an OpenTelemetry collector over OTLP/HTTP (`--otlp`).

The values are exactly those of `/metrics` (`LiveMetrics.snapshot`), with the same names
and labels (as attributes), registered as observable instruments so that the SDK reads
them only when its periodic reader exports. The SDK is an optional extra
(`pip install 'memlens[otlp]'`) imported only here, when `--otlp` is given, so memlens
without it starts as fast and `--otlp` without it is one line of advice.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from memlens._version import __version__
from memlens.errors import UsageError
from memlens.metrics.prometheus import MAX_TARGETS, SPECS, LiveMetrics, Series, Spec

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.sdk.metrics import MeterProvider

MISSING = (
    "--otlp needs the OpenTelemetry SDK, which is an optional extra: pip install 'memlens[otlp]'"
)
# One export cycle calls every instrument's callback in turn; they share one snapshot
# taken within this many seconds rather than each taking its own.
SNAPSHOT_TTL = 0.5


def check_available() -> None:
    """Raise the one-line usage error when the extra is not installed (exit 2), before
    anything starts."""
    for module in ("opentelemetry.sdk.metrics", "opentelemetry.exporter.otlp.proto.http"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise UsageError(MISSING)


def metrics_url(endpoint: str) -> str:
    """The collector's address as given (`http://host:4318`) → its metrics path; a URL
    that already names a path is taken as it is."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--otlp {endpoint!r} is not an http:// or https:// URL")
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1/metrics")
    return urlunsplit(parts)


class _Shared:
    """The latest snapshot, renewed when older than SNAPSHOT_TTL."""

    def __init__(self, source: LiveMetrics) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._value: dict[str, Series] = {}

    def get(self) -> dict[str, Series]:
        with self._lock:
            now = time.monotonic()
            if now - self._at > SNAPSHOT_TTL:
                self._value = self._source.snapshot()
                self._at = now
            return self._value


class OtlpPusher:
    """A running MeterProvider; `stop` exports once more and ends its thread."""

    def __init__(self, provider: MeterProvider, url: str) -> None:
        self.provider = provider
        self.url = url

    def stop(self) -> None:
        self.provider.shutdown(timeout_millis=5_000)


def start_otlp(endpoint: str, source: LiveMetrics, *, interval: float = 10.0) -> OtlpPusher:
    """Push `source`'s values every `interval` seconds to the collector at `endpoint`.

    Headers (an API key, say) come from the SDK's own `OTEL_EXPORTER_OTLP_HEADERS`."""
    url = metrics_url(endpoint)
    check_available()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.metrics.view import View
    from opentelemetry.sdk.resources import Resource

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=url, timeout=5),
        export_interval_millis=interval * 1000.0,
    )
    resource = Resource.create(
        {
            "service.name": "memlens",
            "service.version": __version__,
            "host.name": socket.gethostname(),
            "process.pid": os.getpid(),
        }
    )
    try:
        # The SDK keeps 2,000 attribute sets per instrument unless told; memlens's own
        # cap is what bounds the series. `aggregation_cardinality_limit` is in
        # opentelemetry-sdk 1.3x; older ones keep their default.
        views = [View(instrument_name="memlens_*", aggregation_cardinality_limit=2 * MAX_TARGETS)]
    except TypeError:
        views = []
    provider = MeterProvider(
        metric_readers=[reader], resource=resource, views=views, shutdown_on_exit=False
    )
    meter = provider.get_meter("memlens", __version__)
    shared = _Shared(source)
    for spec in SPECS:
        callback = _callback(spec, shared)
        if spec.kind == "counter":
            meter.create_observable_counter(
                spec.name, [callback], unit=spec.unit, description=spec.help
            )
        else:
            meter.create_observable_gauge(
                spec.name, [callback], unit=spec.unit, description=spec.help
            )
    return OtlpPusher(provider, url)


def _callback(spec: Spec, shared: _Shared) -> Callable[[CallbackOptions], Iterable[Observation]]:
    from opentelemetry.metrics import Observation

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        series = shared.get().get(spec.name, [])
        return [
            Observation(value, dict(zip(spec.labels, labels, strict=True)))
            for labels, value in series
        ]

    return observe


__all__ = ["MISSING", "OtlpPusher", "check_available", "metrics_url", "start_otlp"]
