"""Heap profiles kept in a real store file: at most N per target, spread over the run with
the first and the newest kept; read back whole; a damaged blob is refused; and the stack
comparison `memlens diff` makes of two of them."""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

import pytest

from heap_fixtures import MB, T0, frame, profile, stack
from memlens.errors import CorruptRecording
from memlens.formats.heap_profile import from_dict, load_json
from memlens.report.heap_compare import last_profile, stack_changes, stack_label
from memlens.store import StoreReader
from memlens.store.schema import MIGRATIONS, _add_heap_profiles, migrate
from memlens.watch.heap_keep import HeapKeeper
from memlens.watch.heap_points import compact
from memlens.watch.recorder import Recorder

KEY = "4242-1"
F = frame("f", "/srv/app/leak.py", 5)
G = frame("g", "/srv/app/leak.py", 8)
MOD = frame("<module>", "/srv/app/leak.py", 12)


def _recorder(path: Path) -> Recorder:
    return Recorder.start(path, name="test", command=None, interval=1.0)


def test_a_recording_keeps_at_most_n_profiles_per_target_the_first_and_newest_among_them(
    tmp_path: Path,
) -> None:
    db = tmp_path / "keep.db"
    recorder = _recorder(db)
    keeper = HeapKeeper(recorder.on_heap, keep=4)
    times = [T0 + s for s in (0, 30, 60, 61, 90, 120, 150)]
    for i, t in enumerate(times):
        p = profile([stack([MOD, F], (i + 1) * MB)], time=t)
        keeper.on_point(KEY, compact(p, t))
        keeper.on_point(KEY, compact(p, t - 1))  # an older answer than one kept: ignored
    recorder.finish()
    with StoreReader.open(db) as reader:
        rows = reader.heap_profiles(recorder.recording_id)
        assert [r.t for r in rows] == keeper.kept(KEY)
        assert len(rows) == 4
        assert rows[0].t == times[0]
        assert rows[-1].t == times[-1]
        assert {r.key for r in rows} == {KEY}
        assert rows[-1].inuse_bytes == 7 * MB
        assert rows[-1].pid == 4242
        back = load_json(
            reader.heap_profile_json(recorder.recording_id, KEY, rows[-1].t) or b"", "x"
        )
        assert back.stacks[0].frames[-1].function == "f"
        assert back.inuse_bytes == 7 * MB
        kept = last_profile(reader, recorder.recording_id, None)
        assert kept is not None
        assert (kept.key, kept.t) == (KEY, times[-1])


def test_a_damaged_or_inflating_blob_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "bad.db"
    recorder = _recorder(db)
    HeapKeeper(recorder.on_heap).on_point(KEY, compact(profile(), T0))
    recorder.finish()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE heap_profiles SET profile = ?", (b"not zlib",))
    with StoreReader.open(db) as reader, pytest.raises(CorruptRecording, match="damaged"):
        reader.heap_profile_json(recorder.recording_id, KEY, T0)
    bomb = zlib.compress(b" " * (65 << 20), 9)  # 65 MB of blanks in a few kilobytes
    with conn:
        conn.execute("UPDATE heap_profiles SET profile = ?", (bomb,))
    conn.close()
    with StoreReader.open(db) as reader, pytest.raises(CorruptRecording, match="too large"):
        reader.heap_profile_json(recorder.recording_id, KEY, T0)


def test_stacks_are_matched_without_lines_and_ranked_by_the_size_of_their_change() -> None:
    before = from_dict(
        profile([stack([MOD, F], 20 * MB), stack([MOD, G], 2 * MB), stack([MOD], 1 * MB)])
    )
    moved_f = frame("f", "/srv/app/leak.py", 7)  # the fix moved f's lines
    after = from_dict(
        profile(
            [
                stack([MOD, moved_f], 2 * MB),
                stack([MOD, G], 2 * MB),
                stack([MOD, frame("h", "/srv/app/new.py", 3)], 3 * MB),
            ]
        )
    )
    changes = stack_changes(before, after)
    assert [(stack_label(c.frames), c.a, c.b) for c in changes] == [
        ("f (leak.py:7) ← <module> (leak.py:12)", 20 * MB, 2 * MB),
        ("h (new.py:3) ← <module> (leak.py:12)", 0.0, 3 * MB),
        ("<module> (leak.py:12)", 1 * MB, 0.0),
    ]  # g's stack did not change: not listed
    assert changes[0].change == -18 * MB
    assert changes[0].to_dict()["frames"][-1] == {
        "function": "f",
        "file": "/srv/app/leak.py",
        "line": 7,
    }
    assert stack_changes(before, before) == []


def test_a_store_made_before_heap_profiles_is_migrated_and_has_none(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, db, migrations=MIGRATIONS[: MIGRATIONS.index(_add_heap_profiles)])
    conn.execute(
        "INSERT INTO recordings (name, started, host, interval, memlens_version) "
        "VALUES ('old', 1.0, 'h', 1.0, '0.0')"
    )
    conn.close()
    with StoreReader.open(db) as reader:
        [info] = reader.recordings()
        assert reader.heap_profiles(info.id) == []
        assert last_profile(reader, info.id, None) is None
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()
