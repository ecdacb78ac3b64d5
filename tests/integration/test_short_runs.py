"""A run too short for a trend, recorded by memlens from a real child: `analyze`,
`analyze --replay`, `report` and `check` all say the same of it ("grew ... and did not
come back: growth, too short to call a trend"), and each names the settings it used."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from helpers import run_memlens

# Takes 8 MB (touched) every 0.5 s for 8 s, then holds it for 3 s: about 128 MB. Long
# enough for the live engine's one-second floor to have the 8 points a status needs.
GROWING = r"""
import time
held = []
for _ in range(16):
    buf = bytearray(8 << 20)
    buf[::4096] = b"x" * len(buf[::4096])
    held.append(buf)
    time.sleep(0.5)
time.sleep(3)
"""

SAID = re.compile(
    r"grew [\d.]+ MB in [\d.]+ s and did not come back: growth, too short to call a trend"
)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("short") / "short.db"
    done = run_memlens(
        "run", "-o", str(path), "--interval", "0.1", "--no-system", "--",
        sys.executable, "-c", GROWING,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


def child(body: dict[str, object]) -> dict[str, object]:
    """The child's own series (the one that grew most), not memlens's own processes."""
    series = body["series"]
    assert isinstance(series, list)
    return max(series, key=lambda s: s.get("growth") or 0.0)


def test_analyze_says_what_the_short_run_did(recording: Path) -> None:
    done = run_memlens("analyze", str(recording), "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    entry = child(body)
    assert entry["verdict"] == "insufficient"
    assert SAID.search(str(entry["reason"])), entry["reason"]
    assert entry["growth"] > 80 * 1024 * 1024
    assert body["settings"] == "the recording's settings"


def test_the_replay_shows_the_growing_status(recording: Path) -> None:
    done = run_memlens("analyze", str(recording), "--replay", "--every", "1s", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["every"] == 1.0
    alerts = child(body)["alerts"]
    assert isinstance(alerts, list)
    growing = [a for a in alerts if a["kind"] == "growing"]
    assert growing, alerts
    assert growing[0]["rule"] == "short"
    assert growing[0]["rate"] > 0
    assert "too short to call a trend" in growing[0]["text"]
    assert not [a for a in alerts if a["kind"] == "leak"]
    text = run_memlens("analyze", str(recording), "--replay", "--every", "1s")
    assert "replayed through the live engine, evaluated every 1 s" in text.stdout
    assert "growing raised at t+" in text.stdout


def test_report_and_check_say_the_same(recording: Path) -> None:
    report = run_memlens("report", str(recording), "--format", "json")
    assert report.returncode == 0, report.stderr
    assert SAID.search(report.stdout), report.stdout[:2000]
    assert "judged with the recording's settings" in report.stderr
    check = run_memlens("check", str(recording))
    assert SAID.search(check.stdout), check.stdout
    assert "the recording's settings" in check.stdout


def test_replay_needs_replay_for_every(recording: Path) -> None:
    done = run_memlens("analyze", str(recording), "--every", "1s")
    assert done.returncode == 2
    assert "--every goes with --replay" in done.stderr
