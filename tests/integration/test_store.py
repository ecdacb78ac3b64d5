"""The recording store on real SQLite files, real child processes and real filesystems."""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import MB, Allocator
from memlens.errors import (
    CorruptRecording,
    MemlensError,
    NewerSchema,
    NotARecording,
    StoreUnwritable,
    UsageError,
)
from memlens.model import (
    SAMPLE_FIELDS,
    SYSTEM_FIELDS,
    GpuProcess,
    GpuReading,
    Reading,
    SystemReading,
    Target,
    Tick,
)
from memlens.probes import open_process
from memlens.store import SCHEMA_VERSION, Store, StoreReader
from memlens.store.schema import MIGRATIONS, migrate
from memlens.watch.history import History
from memlens.watch.sampler import Sampler, SamplerConfig

T0 = 1_700_000_000.0


def target(i: int, **kw: object) -> Target:
    return Target(
        key=f"{1000 + i}-{500 + i}",
        kind="process",
        pid=1000 + i,
        start_time=T0 - 10,
        name=f"worker-{i}",
        cmdline=f"python worker.py {i}",
        **kw,  # type: ignore[arg-type]
    )


def reading(rng: random.Random) -> Reading:
    """A reading with every field that may be unknown sometimes unknown."""
    maybe: Callable[[int], int | None] = lambda v: None if rng.random() < 0.3 else v  # noqa: E731
    return Reading(
        rss=rng.randrange(1, 8 * 1024) * 4096,
        vms=rng.randrange(1, 64 * 1024) * 4096,
        shared=rng.randrange(0, 1024) * 4096,
        swap=maybe(rng.randrange(0, 1024) * 4096),
        threads=rng.randrange(1, 64),
        fds=rng.randrange(3, 200),
        cpu=None if rng.random() < 0.3 else rng.random() * 200,
        uss=maybe(rng.randrange(1, 8 * 1024) * 4096),
        pss=maybe(rng.randrange(1, 8 * 1024) * 4096),
    )


def integrity(path: Path) -> str:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "memlens.db"


# -- round trips --------------------------------------------------------------------------


def test_ticks_of_a_real_sampler_read_back_exactly(allocator: Allocator, db: Path) -> None:
    sampler = Sampler(
        SamplerConfig(children=True),
        on_tick=lambda t: None,
        probes=[open_process(allocator.pid)],
        children_of_memlens=[allocator.proc],
    )
    history = History(capacity=1000, recent=1000)  # every sample at full resolution
    store = Store.open(db)
    rid = store.begin_recording(
        name="real", command="python alloc --token ***", interval=0.05, host="here"
    )

    def record(tick: Tick) -> None:
        store.add_tick(rid, tick)
        for key, value in tick.samples.items():
            history.add(key, tick.time, value)

    for mb in (0, 16, 32, 0):
        if mb:
            allocator.alloc(mb)
        record(sampler.sample_once())
    allocator.command("exit 5")
    allocator.proc.wait()
    for _ in range(200):
        tick = sampler.sample_once()
        record(tick)
        if tick.exits:
            break
        time.sleep(0.02)
    sampler.stop()
    store.end_recording(rid, ended=time.time(), exit_code=5)
    store.close()

    reader = StoreReader.open(db)
    info = reader.recording("last")
    assert (info.id, info.name, info.exit_code) == (rid, "real", 5)
    assert info.command == "python alloc --token ***"
    recorded = history.all_series()
    assert info.sample_count == sum(len(column["t"]) for column in recorded.values())
    stored = {t.key: t for t in reader.targets(rid)}
    assert set(stored) == {t.key for t in sampler.targets()}
    for live in sampler.targets():
        assert stored[live.key] == live  # state, exit code, members: everything
    proc_key = next(key for key, t in stored.items() if t.kind == "process")
    assert stored[f"sum-{proc_key}"].members == [proc_key]
    assert stored[proc_key].state == "exited"
    assert stored[proc_key].exit_code == 5
    for key, column in recorded.items():
        assert reader.series(rid, key) == column
    rss = reader.series(rid, proc_key)["rss"]
    assert max(v for v in rss if v is not None) - rss[0] >= 30 * MB  # type: ignore[operator]
    exits = reader.events(rid, kinds=["exit"])
    assert {e.target_key for e in exits} == {proc_key, f"sum-{proc_key}"}
    assert next(e for e in exits if e.target_key == proc_key).data["exit_code"] == 5
    reader.close()


def test_many_readings_with_unknown_values_read_back_exactly(db: Path) -> None:
    rng = random.Random(11)
    targets = [target(i) for i in range(10)]
    history = History(capacity=5000, recent=5000)  # every sample at full resolution
    with Store.open(db, batch_rows=1000) as store:
        rid = store.begin_recording(name="volume", command=None, interval=1.0, host="h")
        for seq in range(3000):
            samples = {t.key: reading(rng) for t in targets}
            t = T0 + seq * 0.25
            store.add_tick(rid, Tick(seq + 1, t, samples, tuple(targets) if seq == 0 else ()))
            for key, value in samples.items():
                history.add(key, t, value)
        store.flush()
        status = store.status()
        assert (status["written"], status["queued"], status["degraded"]) == (30_000, 0, False)
        assert status["commits"] >= 30_000 // 1000
    with StoreReader.open(db) as reader:
        assert reader.recording(rid).sample_count == 30_000
        assert reader.recording(rid).target_count == 10
        for t in targets:
            assert reader.series(rid, t.key) == history.series(t.key)
        key = targets[3].key
        assert reader.series(rid, key, since=T0 + 10, limit=7) == history.series(
            key, since=T0 + 10, limit=7
        )
        window = reader.series(rid, key, since=T0 + 10, until=T0 + 20)
        assert window["t"] == [T0 + 10 + 0.25 * i for i in range(1, 41)]
        empty = reader.series(rid, "no-such-key")
        assert set(empty) == {"t", *SAMPLE_FIELDS}
        assert all(column == [] for column in empty.values())


def test_events_names_and_the_end_of_a_recording(db: Path) -> None:
    with Store.open(db) as store:
        first = store.begin_recording(name="a", command=None, interval=1, host="h", started=T0)
        second = store.begin_recording(
            name="b", command="app --password hunter2 -v", interval=1, host="h", started=T0 + 5
        )
        third = store.begin_recording(name="a", command=None, interval=1, host="h", started=T0 + 9)
        store.add_target(first, target(1))
        store.add_event(first, "note", T0 + 1, {"text": "warm-up done"})
        store.add_event(first, "leak", T0 + 2, {"slope": 1.5}, target_key=target(1).key)
        store.add_event(first, "warning", T0 + 3, {"text": "unannounced"}, target_key="7-7")
        with pytest.raises(ValueError, match="unknown event kind"):
            store.add_event(first, "gossip", T0, {})
        changed = target(1, state="exited", exit_code=3, exit_reason="exited", exit_time=T0 + 4)
        store.update_target(first, changed)
        store.end_recording(first, ended=T0 + 4, exit_code=3)
    with StoreReader.open(db) as reader:
        assert [r.id for r in reader.recordings()] == [first, second, third]
        assert reader.recording("last").id == third
        assert reader.recording("a").id == third  # the newest of that name
        assert reader.recording("b").id == second
        assert reader.recording("b").command == "app --password *** -v"  # redacted anyway
        assert reader.recording(str(second)).id == second
        assert reader.recording(first).ended == T0 + 4
        assert reader.recording(first).exit_code == 3
        for unknown in ("nope", 99):
            with pytest.raises(UsageError, match="no recording") as err:
                reader.recording(unknown)
            assert str(db) in str(err.value)
        events = reader.events(first)
        assert [(e.kind, e.target_key, e.data) for e in events] == [
            ("note", None, {"text": "warm-up done"}),
            ("leak", target(1).key, {"slope": 1.5}),
            ("warning", "7-7", {"text": "unannounced"}),
        ]
        assert [e.kind for e in reader.events(first, kinds=["leak", "note"])] == ["note", "leak"]
        stored = {t.key: t for t in reader.targets(first)}
        assert stored[target(1).key] == changed
        assert stored["7-7"].pid == 7  # a placeholder for a key never announced


def test_close_is_idempotent_and_a_closed_store_refuses_work(db: Path) -> None:
    store = Store.open(db)
    rid = store.begin_recording(name="x", command=None, interval=1, host="h")
    store.close()
    store.close()
    store.flush()
    with pytest.raises(RuntimeError, match="closed"):
        store.add_tick(rid, Tick(1, T0, {}))


def test_two_stores_share_one_file(db: Path) -> None:
    rng = random.Random(5)
    one, two = Store.open(db), Store.open(db)
    ids = [
        s.begin_recording(name=f"s{i}", command=None, interval=1, host="h")
        for i, s in enumerate((one, two))
    ]
    assert len(set(ids)) == 2
    for seq in range(500):
        for s, rid in zip((one, two), ids, strict=True):
            s.add_tick(rid, Tick(seq, T0 + seq, {"1-1": reading(rng)}))
    one.close()
    two.close()
    with StoreReader.open(db) as reader:
        assert [reader.recording(rid).sample_count for rid in ids] == [500, 500]


def test_bad_data_is_rejected_alone_and_the_rest_is_written(db: Path) -> None:
    good = Reading(1, 2, 3, None, 4, 5, None)
    bad = Reading([1], 2, 3, None, 4, 5, None)  # type: ignore[arg-type]  # cannot be bound
    with Store.open(db) as store:
        rid = store.begin_recording(name="bad", command=None, interval=1, host="h")
        for seq, value in enumerate((good, bad, good)):
            store.add_tick(rid, Tick(seq, T0 + seq, {"1-1": value}))
        store.flush()
        status = store.status()
    assert (status["written"], status["rejected"], status["queued"]) == (2, 1, 0)
    assert status["degraded"] is False
    with StoreReader.open(db) as reader:
        assert reader.series(rid, "1-1")["t"] == [T0, T0 + 2]


# -- durability ----------------------------------------------------------------------------

RECORDER = r"""
import sys, time
from memlens.model import Reading, Target, Tick
from memlens.store import Store

store = Store.open(sys.argv[1])
rid = store.begin_recording(name="killed", command=None, interval=0.05, host="child")
targets = tuple(
    Target(key=f"{i}-1", kind="process", pid=i, start_time=0.0, name="w", cmdline="w")
    for i in range(5)
)
print(rid, flush=True)
seq = 0
while True:
    seq += 1
    t = time.time()
    samples = {x.key: Reading(seq, 2, 3, None, 4, 5, 0.5) for x in targets}
    store.add_tick(rid, Tick(seq, t, samples, targets if seq == 1 else ()))
    print(repr(t), flush=True)
    time.sleep(0.05)
"""


def test_kill_9_loses_at_most_about_a_second_and_never_the_file(db: Path) -> None:
    db.parent.mkdir(parents=True)
    child = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        rid = int(child.stdout.readline())
        queued: list[float] = []
        while len(queued) < 80:  # about four seconds at 20 Hz
            line = child.stdout.readline()
            assert line, "the recording child ended early"
            queued.append(float(line))
        killed_at = time.time()
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert integrity(db) == "ok"
    with StoreReader.open(db) as reader:
        assert reader.recording(rid).name == "killed"
        stored = reader.series(rid, "3-1")["t"]
    old_enough = [t for t in queued if t < killed_at - 1.5]
    assert len(old_enough) >= 40
    assert set(old_enough) <= set(stored)
    assert set(stored) <= set(queued)  # and nothing made up
    assert integrity(db) == "ok"


def test_a_reader_holding_a_snapshot_does_not_block_the_writer(db: Path) -> None:
    store = Store.open(db, commit_interval=0.05)
    rid = store.begin_recording(name="r", command=None, interval=1, host="h")
    store.add_tick(rid, Tick(1, T0, {"1-1": Reading(1, 2, 3, 0, 4, 5, 0.0)}))
    store.flush()
    reader = StoreReader.open(db)
    with reader.snapshot():
        before = reader.recording(rid).sample_count
        commits = store.status()["commits"]
        for seq in range(2, 202):
            store.add_tick(rid, Tick(seq, T0 + seq, {"1-1": Reading(seq, 2, 3, 0, 4, 5, 0.0)}))
            if seq % 50 == 0:
                store.flush(timeout=30)  # would raise if the reader blocked the commits
        assert store.status()["commits"] >= commits + 4
        assert reader.recording(rid).sample_count == before == 1  # the snapshot holds
        assert len(reader.series(rid, "1-1")["t"]) == 1
    store.flush()
    assert reader.recording(rid).sample_count == 201
    assert len(reader.series(rid, "1-1")["t"]) == 201
    store.close()
    reader.close()


# -- files that are not (good) recordings ---------------------------------------------------


def _one_line_naming(error: MemlensError, path: Path) -> str:
    text = str(error)
    assert "\n" not in text
    assert str(path) in text
    return text


def _recording(path: Path, ticks: int = 4000) -> None:
    rng = random.Random(1)
    with Store.open(path) as store:
        rid = store.begin_recording(name="r", command=None, interval=1, host="h")
        for seq in range(ticks):
            store.add_tick(rid, Tick(seq, T0 + seq, {f"{i}-1": reading(rng) for i in range(4)}))


def test_a_text_file_is_not_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("shopping list\n" * 200)
    for opener in (Store.open, StoreReader.open):
        with pytest.raises(NotARecording) as err:
            opener(path)
        assert "not an SQLite database" in _one_line_naming(err.value, path)
    assert err.value.exit_code == 2
    assert path.read_text() == "shopping list\n" * 200


def test_another_apps_database_is_not_a_recording_and_stays_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (name TEXT, colour TEXT)")
    conn.execute("CREATE TABLE birds (name TEXT)")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    for opener in (Store.open, StoreReader.open):
        with pytest.raises(NotARecording) as err:
            opener(path)
        assert "another application" in _one_line_naming(err.value, path)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_a_truncated_recording_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "cut.db"
    _recording(path)
    assert integrity(path) == "ok"
    size = path.stat().st_size
    assert size > 64 * 1024
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    for opener in (Store.open, StoreReader.open):
        with pytest.raises(CorruptRecording) as err:
            opener(path)
        assert "truncated" in _one_line_naming(err.value, path)
    assert err.value.exit_code == 2


def test_a_damaged_page_is_reported_as_corrupt_when_read(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    _recording(path)
    with open(path, "r+b") as f:  # scribble over the middle of the file, size unchanged
        f.seek(path.stat().st_size // 2)
        f.write(os.urandom(16 * 4096))
    with pytest.raises(CorruptRecording) as err:
        _read_everything(path)
    _one_line_naming(err.value, path)


def _read_everything(path: Path) -> None:
    with StoreReader.open(path) as reader:
        for info in reader.recordings():
            for t in reader.targets(info.id):
                reader.series(info.id, t.key)


def test_a_recording_from_a_newer_memlens_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    _recording(path, ticks=10)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 6}")
    conn.commit()
    conn.close()
    for opener in (Store.open, StoreReader.open):
        with pytest.raises(NewerSchema) as err:
            opener(path)
        text = _one_line_naming(err.value, path)
        assert f"version {SCHEMA_VERSION + 6}" in text
        assert f"up to {SCHEMA_VERSION}" in text
    assert err.value.exit_code == 2


def test_a_missing_file_is_created_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "new.db"
    for opener in (lambda p: Store.open(p, create=False), StoreReader.open):
        with pytest.raises(NotARecording):
            opener(path)
    assert not path.exists()
    Store.open(path).close()
    assert StoreReader.open(path).recordings() == []


def test_a_path_under_a_regular_file_is_unwritable(tmp_path: Path) -> None:
    """ENOTDIR: the parent "directory" is a regular file. Real for any user, root too."""
    blocker = tmp_path / "blocker"
    blocker.write_text("I am a file")
    path = blocker / "memlens" / "memlens.db"
    with pytest.raises(StoreUnwritable) as err:
        Store.open(path)
    assert "ENOTDIR" in _one_line_naming(err.value, blocker / "memlens")
    assert err.value.exit_code == 2


# -- real filesystems: read-only, full ---------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount small tmpfs filesystems (needs root; skips otherwise), unmounted after."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def test_a_read_only_filesystem_is_unwritable_but_readable(
    tmpfs: Callable[..., Path],
) -> None:
    """EROFS, from a tmpfs mounted read-only: root cannot write there either."""
    empty = tmpfs("ro-empty", "ro,size=64k")
    with pytest.raises(StoreUnwritable) as err:
        Store.open(empty / "memlens.db")
    _one_line_naming(err.value, empty / "memlens.db")

    disk = tmpfs("ro-later", "size=4m")
    path = disk / "memlens.db"
    _recording(path, ticks=50)
    remount(disk, "ro")
    with pytest.raises(StoreUnwritable) as err:
        Store.open(path)
    _one_line_naming(err.value, path)
    with StoreReader.open(path) as reader:  # archived recordings stay readable
        assert reader.recording("last").sample_count == 200


def fill(filler: Path) -> None:
    """Write zeros until the filesystem says it is full."""
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise


def test_a_full_disk_degrades_the_writer_which_keeps_rows_and_catches_up(
    tmpfs: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    disk = tmpfs("full", "size=512k")
    path = disk / "memlens.db"
    keys = [f"{i}-1" for i in range(5)]
    sent: dict[float, Reading] = {}

    def tick(store: Store, rid: int, seq: int) -> None:
        value = Reading(seq * 4096, 2 * seq * 4096, 0, None, 4, 9, 0.25)
        sent[T0 + seq] = value
        store.add_tick(rid, Tick(seq, T0 + seq, dict.fromkeys(keys, value)))

    store = Store.open(path, retry_interval=0.1, max_kept_rows=1500)
    rid = store.begin_recording(name="full", command=None, interval=1, host="h")
    for seq in range(200):
        tick(store, rid, seq)
    store.flush()
    assert integrity(path) == "ok"

    filler = disk / "filler"
    fill(filler)
    caplog.set_level(logging.WARNING, logger="memlens.store.db")
    for seq in range(200, 700):
        tick(store, rid, seq)
    with pytest.raises(StoreUnwritable, match="full"):
        store.flush(timeout=2.0)
    while store.status()["failures"] < 5:  # several retries, still one warning
        time.sleep(0.05)
    status = store.status()
    assert status["degraded"] is True
    assert "database or disk is full" in status["last_error"]
    assert status["written"] == 1000
    assert status["kept"] == 1500  # bounded: the newest 300 ticks
    assert status["dropped"] == 2500 - 1500
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot write" in warnings[0].getMessage()
    assert integrity(path) == "ok"  # what was committed is intact, and readable meanwhile
    with StoreReader.open(path) as reader:
        assert reader.series(rid, keys[0])["t"] == [T0 + s for s in range(200)]

    filler.unlink()
    store.flush(timeout=60)
    status = store.status()
    assert (status["degraded"], status["queued"], status["written"]) == (False, 0, 2500)
    store.close()
    assert integrity(path) == "ok"
    with StoreReader.open(path) as reader:
        column = reader.series(rid, keys[4])
        expected = [*range(200), *range(400, 700)]
        assert column["t"] == [T0 + s for s in expected]
        assert column["rss"] == [sent[T0 + s].rss for s in expected]
        assert reader.recording(rid).sample_count == 2500


# -- schema migrations ------------------------------------------------------------------------


def _add_labels(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE recordings ADD COLUMN label TEXT NOT NULL DEFAULT 'none'")


def _broken(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE half_done (x)")
    raise sqlite3.OperationalError("this migration fails half way")


def test_a_version_1_file_is_migrated_step_by_step(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _recording(path, ticks=20)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION

    with pytest.raises(StoreUnwritable, match="half way"):
        Store.open(path, migrations=(*MIGRATIONS, _broken))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION  # rolled back
    assert conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'half_done'"
    ).fetchone() == (0,)
    conn.close()

    with Store.open(path, migrations=(*MIGRATIONS, _add_labels)) as store:
        rid = store.begin_recording(name="after", command=None, interval=1, host="h")
        store.add_tick(rid, Tick(1, T0, {"9-9": Reading(1, 2, 3, 4, 5, 6, 7.0)}))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert conn.execute("SELECT name, label, sample_count FROM recordings").fetchall() == [
        ("r", "none", 80),
        ("after", "none", 1),
    ]
    conn.close()
    with pytest.raises(NewerSchema):  # and this memlens, which knows one version less
        StoreReader.open(path)
    assert integrity(path) == "ok"


# -- retention -------------------------------------------------------------------------------


def test_a_file_from_before_the_python_fields_reads_and_records_on(tmp_path: Path) -> None:
    """Version 1 had no agent fields: its samples read back with them unknown, and new
    samples with them recorded into the same file once it is migrated."""
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, path, migrations=MIGRATIONS[:1])
    conn.execute(
        "INSERT INTO recordings (id, name, started, host, interval, memlens_version, "
        "sample_count) VALUES (1, 'old', ?, 'h', 1.0, '0.1.0', 2)",
        (T0,),
    )
    conn.execute(
        "INSERT INTO targets (id, recording_id, key, kind, pid, start_time, name, cmdline, "
        "members, state) VALUES (1, 1, '7-7', 'process', 7, ?, 'old', 'old', '[]', 'running')",
        (T0,),
    )
    for i in range(2):
        conn.execute(
            "INSERT INTO samples (target_id, t, rss, vms, shared, swap, threads, fds, cpu) "
            "VALUES (1, ?, ?, 2, 3, 0, 1, 4, 0.5)",
            (T0 + i, 1000 + i),
        )
    conn.close()
    with StoreReader.open(path) as reader:
        old = reader.series(1, "7-7")
    assert old["rss"] == [1000, 1001]
    assert old["py_heap"] == [None, None]
    assert old["gc_collections"] == [None, None]
    with Store.open(path) as store:
        rid = store.begin_recording(name="new", command=None, interval=1, host="h")
        reading = Reading(5, 6, 7, 0, 1, 2, 0.0, py_heap=4096, py_blocks=90, gc_collections=3)
        store.add_tick(rid, Tick(1, T0 + 10, {"8-8": reading}))
    with StoreReader.open(path) as reader:
        new = reader.series(rid, "8-8")
    assert (new["py_heap"], new["py_blocks"], new["gc_collections"]) == ([4096], [90], [3])
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert integrity(path) == "ok"


def test_prune_deletes_old_samples_and_events_and_keeps_counts(db: Path) -> None:
    with Store.open(db) as store:
        rid = store.begin_recording(name="p", command=None, interval=1, host="h")
        for seq in range(100):
            store.add_tick(rid, Tick(seq, T0 + seq, {"1-1": Reading(seq, 1, 1, 0, 1, 1, 0.0)}))
        for seq in range(10):
            store.add_event(rid, "note", T0 + seq * 10, {"n": seq})
    with StoreReader.open(db) as reader:
        assert reader.prune(samples_before=T0 + 60, events_before=T0 + 25) == (60, 3)
        assert reader.series(rid, "1-1")["t"][0] == T0 + 60
        assert reader.recording(rid).sample_count == 40
        assert [e.data["n"] for e in reader.events(rid)] == list(range(3, 10))
        assert reader.prune(samples_before=T0, events_before=T0) == (0, 0)
    assert integrity(db) == "ok"


# -- the machine's readings (schema version 3) --------------------------------------------------


def machine(t: float, used: int, *, first: bool = False, gpu: bool = False) -> SystemReading:
    """A reading of a 16 GB machine; the first of a probe knows no rates."""
    total = 16 * 1024 * MB
    gpus = ()
    if gpu:
        card = GpuReading(
            0, "H100", "GPU-1", 80 * 1024 * MB, used // 2, None, 45.0, None, (GpuProcess(7, None),)
        )
        gpus = (card,)
    return SystemReading(
        t=t,
        cpu_percent=None if first else 12.5,
        mem_total=total,
        mem_used=used,
        mem_available=total - used,
        mem_percent=100.0 * used / total,
        swap_total=2048 * MB,
        swap_used=3 * MB,
        disk_read_bps=None if first else 1.5e6,
        disk_write_bps=None if first else 0.0,
        net_rx_bps=None if first else 2048.25,
        net_tx_bps=None if first else 512.0,
        gpus=gpus,
    )


def test_system_readings_read_back_exactly_each_once(db: Path) -> None:
    """Ticks repeat a reading until the next is read: each is stored once, unknown rates
    as NULL and the GPUs whole; thinning keeps the last reading."""
    readings = [machine(T0 + i, (1000 + i) * MB, first=i == 0, gpu=i % 2 == 1) for i in range(10)]
    with Store.open(db) as store:
        rid = store.begin_recording(name="m", command=None, interval=0.25, host="h")
        for seq in range(40):  # four ticks per reading
            tick = Tick(seq, T0 + seq * 0.25, {"1-1": Reading(1, 1, 1, 0, 1, 1, 0.0)})
            store.add_tick(rid, dataclasses.replace(tick, system=readings[seq // 4]))
        store.flush()
        assert store.status()["written"] == 40 + 10  # a reading is a row, like a sample
    with StoreReader.open(db) as reader:
        series = reader.system_series(rid)
        assert series["t"] == [r.t for r in readings]
        for name in SYSTEM_FIELDS:
            assert series[name] == [getattr(r, name) for r in readings], name
        assert series["gpus"][0] is None
        assert series["gpus"][1] == [readings[1].gpus[0].to_dict()]
        assert reader.recording(rid).sample_count == 40  # readings are not samples
        assert reader.system_series(rid, since=T0 + 7)["t"] == [T0 + 8, T0 + 9]
        assert reader.system_series(rid, T0 + 1, T0 + 3)["t"] == [T0 + 2, T0 + 3]
        thin = reader.system_series(rid, points=4)
        assert thin["t"] == [T0 + 0, T0 + 3, T0 + 6, T0 + 9]
        assert thin["mem_used"] == [readings[i].mem_used for i in (0, 3, 6, 9)]
        assert reader.system_series(rid + 1)["t"] == []
        assert reader.prune(samples_before=T0 + 5, events_before=T0) == (20, 0)
        assert reader.system_series(rid)["t"] == [T0 + i for i in range(5, 10)]
    assert integrity(db) == "ok"


def test_a_version_2_file_gets_the_system_table_and_records_on(tmp_path: Path) -> None:
    """A file from before the machine's readings: migrated, its samples intact, it reads
    with no readings and records new ones."""
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, path, migrations=MIGRATIONS[:2])
    conn.execute(
        "INSERT INTO recordings (id, name, started, host, interval, memlens_version, "
        "sample_count) VALUES (1, 'old', ?, 'h', 1.0, '0.1.0', 1)",
        (T0,),
    )
    conn.execute(
        "INSERT INTO targets (id, recording_id, key, kind, pid, start_time, name, cmdline, "
        "members, state) VALUES (1, 1, '7-7', 'process', 7, ?, 'old', 'old', '[]', 'running')",
        (T0,),
    )
    conn.execute(
        "INSERT INTO samples (target_id, t, rss, vms, shared, swap, threads, fds, cpu, py_heap) "
        "VALUES (1, ?, 1000, 2, 3, 0, 1, 4, 0.5, 64)",
        (T0,),
    )
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()
    with StoreReader.open(path) as reader:
        assert reader.series(1, "7-7")["py_heap"] == [64]
        assert reader.system_series(1)["t"] == []
    with Store.open(path) as store:
        rid = store.begin_recording(name="new", command=None, interval=1, host="h")
        tick = Tick(1, T0 + 10, {"8-8": Reading(5, 6, 7, 0, 1, 2, 0.0)})
        store.add_tick(rid, dataclasses.replace(tick, system=machine(T0 + 10, 4096 * MB)))
    with StoreReader.open(path) as reader:
        assert reader.system_series(rid)["mem_used"] == [4096 * MB]
        assert reader.system_series(rid)["cpu_percent"] == [12.5]
        assert reader.system_series(1)["t"] == []
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert SCHEMA_VERSION >= 3
    assert integrity(path) == "ok"
