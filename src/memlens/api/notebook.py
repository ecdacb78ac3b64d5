"""IPython and Jupyter magics: `%load_ext memlens`, then

- `%%memlens` on a cell: the cell's peak and kept memory (tracemalloc, as
  `memlens.measure`), its RSS before and after, and a small inline chart of the RSS
  sampled over the cell;
- `%memlens_watch [ARGS]`: the kernel's live dashboard in the notebook (`memlens watch
  KERNEL_PID --port 0 ARGS` in a child process, shown in an iframe); `%memlens_watch stop`
  ends it.

IPython is an optional extra (`pip install 'memlens[notebook]'`); nothing here is
imported before `%load_ext`. docs/library.md ("Notebooks") describes the magics.
"""

from __future__ import annotations

import atexit
import os
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any

import psutil
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from memlens.api.measure import Measurement, measure
from memlens.units import human_bytes

SAMPLE_EVERY = 0.02  # s between RSS samples while a cell runs
MAX_SAMPLES = 5000  # kept per cell: 100 s at 20 ms, then every other one is dropped
CHART_W, CHART_H = 320, 64
WATCH_TIMEOUT = 30.0  # s to wait for the dashboard's URL


@dataclass
class CellMemory:
    """What `%%memlens` measured of one cell: `measurement` (bytes, tracemalloc's kept
    and peak, RSS around it) and the RSS samples `(seconds since the start, bytes)`."""

    measurement: Measurement
    samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def peak_rss(self) -> int | None:
        return max((v for _, v in self.samples), default=None)

    def text(self) -> str:
        m = self.measurement
        rss = self.peak_rss
        peak = "" if rss is None else f", RSS peak {human_bytes(rss)}"
        return f"memlens: {m}{peak} ({len(self.samples)} RSS samples)"

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return f"<div class='memlens-cell'><code>{escape(self.text())}</code><br>{self.svg()}</div>"

    def svg(self) -> str:
        """The RSS over the cell as a small standalone SVG line, its range labelled."""
        if not self.samples:
            return ""
        t1 = max(self.samples[-1][0], 1e-9)
        low = min(v for _, v in self.samples)
        high = max(v for _, v in self.samples)
        span = max(high - low, 1)
        points = " ".join(
            f"{t / t1 * (CHART_W - 2) + 1:.1f},"
            f"{CHART_H - 14 - (v - low) / span * (CHART_H - 20):.1f}"
            for t, v in self.samples
        )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{CHART_H}" '
            f'font-family="sans-serif" font-size="10"><polyline points="{points}" fill="none" '
            'stroke="#2f6fdf" stroke-width="1.5"/>'
            f'<text x="1" y="{CHART_H - 2}">RSS {human_bytes(low)} – {human_bytes(high)}, '
            f"{self.measurement.seconds:.3g} s</text></svg>"
        )


class _Sampler:
    """This process's RSS every SAMPLE_EVERY seconds on a thread, while a cell runs."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._process = psutil.Process()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="memlens-cell", daemon=True)

    def __enter__(self) -> _Sampler:
        self._read()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self._read()
            if len(self.samples) > MAX_SAMPLES:
                self.samples = self.samples[::2]

    def _read(self) -> None:
        try:
            rss = int(self._process.memory_info().rss)
        except psutil.Error:
            return
        self.samples.append((time.monotonic() - self._t0, rss))


@magics_class
class MemlensMagics(Magics):
    """The magics; one instance per shell, holding the dashboard it started."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._watch: subprocess.Popen[str] | None = None
        self._url: str | None = None
        atexit.register(self._stop_watch)

    @cell_magic
    def memlens(self, line: str, cell: str) -> None:
        """Run the cell, then show its peak and kept memory and its RSS over the cell
        (displayed, as the cell's own output runs through its own display; the figures
        stay in `_memlens`)."""
        shell = self.shell
        assert shell is not None  # a magic runs in a shell
        label = line.strip() or "cell"
        with _Sampler() as sampler, measure(label) as m:
            shell.run_cell(cell)  # type: ignore[no-untyped-call]
        result = CellMemory(m, sampler.samples)
        shell.user_ns["_memlens"] = result
        display(result)  # type: ignore[no-untyped-call]

    @line_magic
    def memlens_watch(self, line: str) -> Dashboard | str:
        """Start the kernel's live dashboard and show it; `stop` ends it."""
        words = shlex.split(line)
        if words[:1] == ["stop"]:
            stopped = self._stop_watch()
            return "memlens: dashboard stopped" if stopped else "memlens: no dashboard runs"
        if self._watch is not None and self._watch.poll() is None and self._url is not None:
            return Dashboard(self._url)
        command = [sys.executable, "-m", "memlens", "watch", str(os.getpid()), "--port", "0"]
        child = subprocess.Popen(
            [*command, *words],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        url = _read_url(child)
        self._watch, self._url = child, url
        return Dashboard(url)

    def _stop_watch(self) -> bool:
        child, self._watch, self._url = self._watch, None, None
        if child is None:
            return False
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if child.stdout is not None:
            child.stdout.close()
        return True


def _read_url(child: subprocess.Popen[str]) -> str:
    """The dashboard URL `memlens watch` prints; its output until then on failure."""
    assert child.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + WATCH_TIMEOUT
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        if line.startswith(("http://", "https://")):
            # Keep reading its output so that the child never blocks on a full pipe.
            threading.Thread(target=child.stdout.read, daemon=True).start()
            return line.strip()
        seen.append(line.rstrip())
    child.kill()
    child.wait()
    raise RuntimeError("memlens watch did not start: " + " / ".join(seen[-5:]))


@dataclass(frozen=True)
class Dashboard:
    """The live dashboard of this kernel: an iframe in a notebook, its URL in a shell."""

    url: str

    def __repr__(self) -> str:
        return f"memlens: live dashboard of this kernel at {self.url}"

    def _repr_html_(self) -> str:
        url = escape(self.url, quote=True)
        return (
            f'<iframe src="{url}" width="100%" height="520" style="border:0"></iframe>'
            f'<p><a href="{url}" target="_blank">open the dashboard</a></p>'
        )


def load(ipython: Any) -> None:
    ipython.register_magics(MemlensMagics)
