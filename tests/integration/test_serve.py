"""`memlens serve` of a recording: the whole day, bucketed on the server, zoomable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from helpers import MB, MemlensServer, run_memlens, synthetic_day


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    path = tmp_path_factory.mktemp("day") / "day.db"
    rid, key = synthetic_day(path)
    return path, rid, key


def test_a_day_is_sent_bucketed_and_keeps_its_spike(day: tuple[Path, int, str]) -> None:
    path, rid, key = day
    srv = MemlensServer("serve", str(path), "--port", "0")
    try:
        with connect(srv.ws_url, max_size=None) as ws:
            hello: dict[str, Any] = json.loads(ws.recv(timeout=30))
            assert hello["mode"] == "recording"
            assert hello["recording"]["id"] == rid
            assert [t["key"] for t in hello["targets"]] == [key]
            fill: dict[str, Any] = json.loads(ws.recv(timeout=30))
            assert fill["type"] == "backfill"
            series = fill["series"][key]
            assert 1000 <= fill["bucketed"][key] == len(series["t"]) <= 8000
            assert max(series["rss"]) == 900 * MB  # one sample in 86,400, still there
            assert series["t"] == sorted(series["t"])
        start = series["t"][0]
        window = srv.get(
            "api/range",
            params={"target": key, "start": start + 3600, "end": start + 4199, "buckets": 800},
        ).json()
        assert window["bucketed"] is False
        assert len(window["t"]) == 600
        whole = srv.get(
            "api/range",
            params={"target": key, "start": start, "end": start + 86_400, "buckets": 500},
        ).json()
        assert whole["bucketed"] is True
        assert len(whole["t"]) <= 2000
        assert max(whole["rss"]) == 900 * MB
        bad = srv.get("api/range", params={"target": key, "start": "x", "end": 1})
        assert bad.status_code == 400
        assert srv.get("healthz").json()["mode"] == "recording"
    finally:
        assert srv.stop() == 0


def test_serving_what_is_not_a_recording(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    result = run_memlens("serve", str(text), "--port", "0")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    missing = run_memlens("serve", "42", "--db", str(tmp_path / "none.db"), "--port", "0")
    assert missing.returncode == 2
