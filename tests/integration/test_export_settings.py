"""An export carries the settings its recording is judged with, and an import keeps
them: a verdict on the imported recording uses what it was recorded with. Real stores,
real files, the real `memlens analyze`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import MB
from memlens.analysis.leakmodel import DetectorConfig
from memlens.config import Settings, Thresholds, judged_with, recorded_settings
from memlens.errors import CorruptRecording
from memlens.formats import FORMATS, dump_json, import_file, parse_export
from memlens.model import Reading, Target, Tick
from memlens.store import Store, StoreReader, load_recording

T0 = 1_700_000_000.0
SETTINGS = Settings(
    thresholds=Thresholds(max_rss=900 * MB),
    detector=DetectorConfig(persistence=7, min_duration=600.0, young_fast_rate=30 * MB / 60),
    every=30.0,
)
LIMIT = 600 * MB  # under max_rss: the verdict shows which it used


def recorded(db: Path) -> int:
    """Ten minutes of one process growing 1 MB a minute, made with SETTINGS, its memory
    limit kept."""
    store = Store.open(db)
    rid = store.begin_recording(
        name="svc",
        command="svc",
        interval=1.0,
        host="box",
        started=T0,
        judged_with=judged_with(SETTINGS),
    )
    target = Target("7-1", "process", 7, T0, "svc", "svc")
    store.add_target(rid, target)
    store.set_memory_limit(rid, target.key, T0, LIMIT)
    for k in range(600):
        rss = 100 * MB + k * MB // 60
        store.add_tick(rid, Tick(k + 1, T0 + k, {target.key: Reading(rss, 0, 0, None, 0, 0, None)}))
    store.close()
    return rid


def settings_of(db: Path, rid: int) -> tuple[dict | None, dict[str, int]]:
    with StoreReader.open(db) as reader:
        return reader.judged_with(rid)


@pytest.mark.parametrize("fmt", ["json", "binary"])
def test_export_then_import_keeps_the_settings_and_limits(fmt: str, tmp_path: Path) -> None:
    db = tmp_path / "memlens.db"
    rid = recorded(db)
    with StoreReader.open(db) as reader:
        original = load_recording(reader, reader.recording(rid))
    assert original.judged_with == judged_with(SETTINGS)
    assert original.limits == {"7-1": LIMIT}
    path = tmp_path / f"export.{FORMATS[fmt].extension}"
    path.write_bytes(FORMATS[fmt].write(original))
    copy, _ = import_file(path, tmp_path / "other.db")
    settings, limits = settings_of(tmp_path / "other.db", copy)
    assert settings is not None
    assert recorded_settings(settings, "copy") == SETTINGS
    assert limits == {"7-1": LIMIT}


def test_a_verdict_on_the_imported_recording_says_its_settings(tmp_path: Path) -> None:
    db = tmp_path / "memlens.db"
    rid = recorded(db)
    with StoreReader.open(db) as reader:
        path = tmp_path / "export.json"
        path.write_bytes(dump_json(load_recording(reader, reader.recording(rid))))
    other = tmp_path / "other.db"
    copy, _ = import_file(path, other)
    out = subprocess.run(
        [sys.executable, "-m", "memlens", "analyze", f"{other}#{copy}", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    assert doc["settings"] == "the recording's settings"
    assert doc["limit"] == LIMIT  # the recorded limit, not this machine's memory


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda j: j.update(limits={"9-9": 1}), "names no listed target"),
        (lambda j: j.update(limits={"7-1": -5}), "is not a size in bytes"),
        (lambda j: j["settings"]["detector"].update(alpha=float("nan")), "alpha is nan"),
        (lambda j: j["settings"].update(every=0), "every is 0 s"),
        (lambda j: j["settings"]["detector"].update(persistence="3"), "not a number"),
        (lambda j: j["settings"]["detector"].update(rate_bands=[[1, "low"]] * 99), "short list"),
        (lambda j: j.update(settings=[1]), "is not an object"),
    ],
)
def test_damaged_settings_in_an_export_are_refused(
    change: object, words: str, tmp_path: Path
) -> None:
    db = tmp_path / "memlens.db"
    rid = recorded(db)
    with StoreReader.open(db) as reader:
        doc = json.loads(dump_json(load_recording(reader, reader.recording(rid))))
    change(doc["judged_with"])  # type: ignore[operator]
    with pytest.raises(CorruptRecording, match=words):
        parse_export(json.dumps(doc).encode(), "x.json")
