"""The chart as a file: `memlens export RUN --format svg|png` and `memlens check --chart`,
read back as XML (and PNG) from real recordings of real children."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import FAST_DETECTOR, LEAKY_LIST, MB, run_memlens

SVG = "{http://www.w3.org/2000/svg}"


def _scale(root: ET.Element, axis: str, attr: str) -> tuple[float, float]:
    """(value per pixel, value at pixel 0) of an axis, from its first and last tick."""
    ticks = root.findall(f".//{SVG}g[@class='{axis}']/{SVG}text")
    assert len(ticks) >= 3
    coord = "y" if axis == "y-axis" else "x"
    first, last = ticks[0], ticks[-1]
    v0, v1 = float(first.attrib[attr]), float(last.attrib[attr])
    p0, p1 = float(first.attrib[coord]), float(last.attrib[coord])
    if coord == "y":  # the label sits 4 px under its grid line
        p0, p1 = p0 - 4, p1 - 4
    per = (v1 - v0) / (p1 - p0)
    return per, v0 - p0 * per


def _no_outside_references(text: str, root: ET.Element) -> None:
    assert "href" not in text
    assert "url(" not in text
    assert "@import" not in text
    for name in ("script", "image", "style", "foreignObject", "use"):
        assert root.find(f".//{SVG}{name}") is None


@pytest.fixture(scope="module")
def leaking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording of a real child leaking 4 MB/s for 36 s, with a fast detector and a
    max_rss it crosses: the chart has a leak window, leak and threshold marks, a limit."""
    folder = tmp_path_factory.mktemp("leaking")
    config = folder / "memlens.toml"
    config.write_text(FAST_DETECTOR + '\n[thresholds]\nmax_rss = "60MB"\n')
    recording = folder / "leak.db"
    child = subprocess.Popen([sys.executable, "-c", LEAKY_LIST], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        done = run_memlens(
            "record", str(child.pid), "--duration", "36s", "--interval", "0.25",
            "--config", str(config), "-o", str(recording), timeout=90,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    return recording


def test_svg_points_follow_the_recorded_samples(leaking: Path, tmp_path: Path) -> None:
    out = tmp_path / "chart.svg"
    done = run_memlens("export", str(leaking), "--format", "svg", "-o", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    root = ET.fromstring(text)
    _no_outside_references(text, root)
    exported = json.loads(run_memlens("export", str(leaking), "--format", "json", "-o", "-").stdout)
    [target] = exported["targets"]
    columns = exported["series"][target["key"]]
    samples = [(t, v) for t, v in zip(columns["t"], columns["rss"], strict=True) if v is not None]
    assert len(samples) > 100
    [series] = root.findall(f".//{SVG}g[@class='series']")
    assert series.attrib["data-key"] == target["key"]
    points = [
        tuple(map(float, p.split(",")))
        for line in series.findall(f"{SVG}polyline")
        for p in line.attrib["points"].split()
    ]
    assert len(points) == len(samples)
    bytes_per_px, bytes_at_0 = _scale(root, "y-axis", "data-bytes")
    seconds_per_px, seconds_at_0 = _scale(root, "x-axis", "data-t")
    t0 = float(root.attrib["data-t0"])
    for (px, py), (t, v) in zip(points, samples, strict=True):
        # Coordinates are written to 0.01 px: each point is its sample within that.
        assert abs(py * bytes_per_px + bytes_at_0 - v) <= abs(bytes_per_px) * 0.01
        assert abs(px * seconds_per_px + seconds_at_0 - (t - t0)) <= seconds_per_px * 0.01
    # The leak grows: the line climbs (SVG's y grows downwards).
    assert points[-1][1] < points[0][1]
    assert samples[-1][1] - samples[0][1] > 60 * MB


def test_svg_shows_the_leak_window_marks_and_limit(leaking: Path, tmp_path: Path) -> None:
    out = tmp_path / "chart.svg"
    assert run_memlens("export", str(leaking), "-o", str(out)).returncode == 0
    root = ET.fromstring(out.read_text())
    windows = root.findall(f".//{SVG}rect[@class='leak-window']")
    assert windows, "no leak window drawn"
    kinds = {g.attrib["data-kind"] for g in root.findall(f".//{SVG}g[@class='mark']")}
    assert {"leak", "threshold"} <= kinds
    [limit] = root.findall(f".//{SVG}g[@class='limit']")
    assert float(limit.attrib["data-bytes"]) == 60 * MB
    assert "max_rss 60.0 MB" in "".join(limit.itertext())
    bytes_per_px, bytes_at_0 = _scale(root, "y-axis", "data-bytes")
    y = float(limit.find(f"{SVG}line").attrib["y1"])  # type: ignore[union-attr]
    assert abs(y * bytes_per_px + bytes_at_0 - 60 * MB) <= abs(bytes_per_px) * 0.01
    # The report says the same: the window is its leak window.
    report = json.loads(run_memlens("report", str(leaking), "--format", "json").stdout)
    assert report["targets"][0]["leak_windows"]
    labels = [t.text or "" for t in root.findall(f".//{SVG}g[@class='y-axis']/{SVG}text")]
    assert labels[0] == "0"
    assert all(label.endswith(" MB") for label in labels[1:])


def test_png_is_the_chart_drawn(leaking: Path, tmp_path: Path) -> None:
    pytest.importorskip("cairosvg", reason="the png extra (scripts/test installs it)")
    out = tmp_path / "chart.png"
    done = run_memlens("export", str(leaking), "-o", str(out))
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    svg = ET.fromstring(run_memlens("export", str(leaking), "--format", "svg", "-o", "-").stdout)
    assert (width, height) == (2 * int(svg.attrib["width"]), 2 * int(svg.attrib["height"]))


HOSTILE = "'<script>x</script>\x1b&amp;'; x = b'x' * (16 << 20); __import__('time').sleep(1)"


def test_check_writes_the_chart_beside_the_junit_file(tmp_path: Path) -> None:
    chart, junit = tmp_path / "memory.svg", tmp_path / "junit.xml"
    done = run_memlens(
        "check", "--max-rss", "40MB", "--chart", str(chart), "--junit", str(junit),
        # A short interpreter name: the title is cut at a fixed length, and a long venv
        # path would push the hostile text past it.
        "--", "python3", "-c", HOSTILE,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert junit.exists()
    text = chart.read_text()
    root = ET.fromstring(text)  # the command's markup stayed text
    _no_outside_references(text, root)
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text is not None
    assert "<script>x</script>\\x1b&" in title.text  # (the name is cut after it)
    assert root.findall(f".//{SVG}g[@class='series']")
    [limit] = root.findall(f".//{SVG}g[@class='limit']")
    assert float(limit.attrib["data-bytes"]) == 40 * MB


def test_check_refuses_a_chart_name_before_running_anything(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    done = run_memlens("check", "--chart", str(tmp_path / "c.txt"), "--", "touch", str(marker))
    assert done.returncode == 2
    assert ".svg or .png" in done.stderr
    assert not marker.exists()
