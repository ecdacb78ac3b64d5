"""The notebook magics in a real IPython shell, in a child process: `%load_ext memlens`,
`%%memlens` on cells that keep and free known amounts, and `%memlens_watch` serving the
kernel's live dashboard."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import MB

pytest.importorskip("IPython", reason="the notebook extra (in the test extra)")

SHELL = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
shell.run_cell("%load_ext memlens")
out = {}
shell.run_cell("%%memlens load\nkept = b'k' * (40 << 20)\n")
kept = shell.user_ns["_memlens"]
out["kept"] = {
    "repr": repr(kept),
    "change": kept.measurement.change,
    "peak": kept.measurement.peak,
    "samples": kept.samples,
    "svg": kept.svg(),
    "html": kept._repr_html_(),
}
shell.run_cell("%%memlens\nbuf = b'f' * (60 << 20)\ndel buf\n")
freed = shell.user_ns["_memlens"]
out["freed"] = {"change": freed.measurement.change, "peak": freed.measurement.peak}
out["same"] = freed is not kept
shell.run_cell("%%memlens\nraise ValueError('in the cell')\n")
out["failed"] = {"measured": shell.user_ns["_memlens"] is not freed}
print("JSON", json.dumps(out))
"""


def test_the_cell_magic_measures_kept_and_peak_memory(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SHELL], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stdout.splitlines() if x.startswith("JSON ")]
    out = json.loads(line[5:])
    # What the magic displayed: in a terminal, the text; in a notebook, with the chart.
    assert "memlens: load: +40.0 MB kept, peak +40.0 MB" in done.stdout
    kept = out["kept"]
    assert 40 * MB <= kept["change"] < 41 * MB
    assert kept["peak"] >= kept["change"]
    assert kept["repr"].startswith("memlens: load: +40.0 MB kept, peak +40.0 MB")
    samples = kept["samples"]
    assert len(samples) >= 2  # one before, one after, more while it ran
    assert samples[-1][1] - samples[0][1] > 30 * MB  # the RSS took the bytes in
    svg = ET.fromstring(kept["svg"])
    [line] = svg.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(line.attrib["points"].split()) == len(samples)
    assert kept["svg"] in kept["html"]
    freed = out["freed"]
    assert freed["peak"] >= 60 * MB
    assert freed["change"] < 1 * MB
    assert out["same"]
    # A cell that raises is measured too (its error is IPython's to show, as ever).
    assert out["failed"] == {"measured": True}


WATCH = r"""
import sys, urllib.request
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
shell.run_cell("%load_ext memlens")
shown = shell.run_cell("%memlens_watch --no-record --no-token").result
print(repr(shown), flush=True)
again = shell.run_cell("%memlens_watch").result
print("same" if again.url == shown.url else "other", flush=True)
with urllib.request.urlopen(shown.url, timeout=30) as page:
    print(page.status, "memlens" in page.read().decode(), flush=True)
print(shell.run_cell("%memlens_watch stop").result, flush=True)
try:
    urllib.request.urlopen(shown.url, timeout=5)
    print("still up")
except OSError:
    print("gone")
print(shell.run_cell("%memlens_watch stop").result, flush=True)
"""


def test_the_line_magic_serves_the_kernels_dashboard(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WATCH], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    shown = [x for x in done.stdout.splitlines() if x.startswith("Out[")]
    assert shown  # the shell displayed the dashboard as the line's result
    lines = [x for x in done.stdout.splitlines() if not x.startswith("Out[")]
    assert lines[0].startswith("memlens: live dashboard of this kernel at http://127.0.0.1:")
    assert lines[1:] == [
        "same",
        "200 True",
        "memlens: dashboard stopped",
        "gone",
        "memlens: no dashboard runs",
    ]
