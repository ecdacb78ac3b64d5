"""`--otlp` with real parts: a real `memlens exporter` pushing through the real
OpenTelemetry SDK over HTTP to a small OTLP receiver in the test, which decodes each
request with the OTLP protobuf definitions (opentelemetry-proto, which the exporter
depends on)."""

from __future__ import annotations

import gzip
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import MB, Allocator, MemlensServer, run_memlens

PAGE = os.sysconf("SC_PAGE_SIZE")

pb = pytest.importorskip(
    "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
    reason="the otlp extra is not installed (pip install -e '.[otlp]')",
)


class Receiver(ThreadingHTTPServer):
    """Accepts POST /v1/metrics and queues each decoded ExportMetricsServiceRequest."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: queue.Queue[object] = queue.Queue()
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.paths.append(self.path)
        request = pb.ExportMetricsServiceRequest()
        request.ParseFromString(body)
        self.server.requests.put(request)
        answer = pb.ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def attributes(point: object) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in point.attributes}  # type: ignore[attr-defined]


def test_the_exporter_pushes_the_childs_memory(receiver: Receiver, allocator: Allocator) -> None:
    allocator.alloc(30)
    server = MemlensServer(
        "exporter",
        str(allocator.pid),
        "--port",
        "0",
        "--interval",
        "0.2",
        "--otlp",
        receiver.url,
        "--otlp-interval",
        "1",
    )
    try:
        deadline = time.monotonic() + 60
        found = None
        while found is None:
            request = receiver.requests.get(timeout=max(0.1, deadline - time.monotonic()))
            for resource in request.resource_metrics:  # type: ignore[attr-defined]
                names = {a.key: a.value.string_value for a in resource.resource.attributes}
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name != "memlens_process_resident_bytes":
                            continue
                        for point in metric.gauge.data_points:
                            if attributes(point).get("pid") != str(allocator.pid):
                                continue
                            # The child stays still: the pushed value settles on /proc's.
                            if abs(point.as_double - allocator.vmrss()) <= PAGE:
                                found = (names, metric, point)
    finally:
        assert server.stop() == 0
    names, metric, point = found
    assert names["service.name"] == "memlens"
    assert metric.unit == "By"
    assert set(attributes(point)) == {"pid", "name", "key", "kind"}
    assert point.as_double > 30 * MB
    assert receiver.paths[0] == "/v1/metrics"
    assert f"memlens: pushing to {receiver.url}/v1/metrics every 1 s" in server.lines


def test_without_the_sdk_otlp_is_one_line_and_exit_2() -> None:
    hidden = (
        "import sys; sys.modules['opentelemetry'] = None; from memlens.cli import main; "
        "sys.exit(main(['exporter', '1', '--otlp', 'http://127.0.0.1:4318']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", hidden], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "memlens: error: --otlp needs the OpenTelemetry SDK, which is an optional extra: "
        "pip install 'memlens[otlp]'"
    ]


def test_a_malformed_endpoint_is_bad_usage() -> None:
    result = run_memlens("exporter", "1", "--otlp", "collector:4318")
    assert result.returncode == 2
    assert "is not an http:// or https:// URL" in result.stderr
