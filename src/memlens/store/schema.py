"""The recording file's tables, its version, and the migrations between versions.

The version lives in the file twice on purpose: `PRAGMA user_version` (what the code
compares against, updated in the same transaction as each migration) and a `meta` table
holding `app = 'memlens'`, so another application's SQLite file, whose `user_version` may
be anything, is recognised as foreign instead of being "migrated".

`MIGRATIONS[n]` takes a file from version n to n + 1; version 0 is an empty file, so the
first entry creates version 1. Each migration runs in its own `BEGIN IMMEDIATE`
transaction and the version is re-read inside it, so two processes opening one new file
at once migrate it once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from memlens._version import __version__
from memlens.errors import NewerSchema, NotARecording
from memlens.model import MAP_CATEGORIES, MAP_FIGURES, SAMPLE_FIELDS, SYSTEM_FIELDS

Migration = Callable[[sqlite3.Connection], None]

APP = "memlens"
EVENT_KINDS: tuple[str, ...] = (
    "exit",
    "leak",
    "growing",
    "threshold",
    "note",
    "warning",
    "mark",
    "group_leak",
)

# Retention defaults (seconds) for `StoreReader.prune`; see docs/storage.md.
SAMPLES_RETENTION_S = 90 * 86400.0
EVENTS_RETENTION_S = 7 * 86400.0

_SAMPLE_TYPES = {"cpu": "REAL"}
# The machine's columns that are not whole bytes: percentages and rates.
_SYSTEM_REAL = frozenset(
    {"cpu_percent", "mem_percent", "disk_read_bps", "disk_write_bps", "net_rx_bps", "net_tx_bps"}
)
# Version 1's sample columns; later versions add the rest of SAMPLE_FIELDS.
V1_SAMPLE_FIELDS: tuple[str, ...] = SAMPLE_FIELDS[:9]


def _create_v1(conn: sqlite3.Connection) -> None:
    """Version 1: recordings, their targets, samples and events.

    Foreign keys are declared for readers of the schema but not enforced (SQLite leaves
    `foreign_keys` off): the single writer keeps them consistent, and enforcement would
    cost a parent lookup for every sample. `samples` is WITHOUT ROWID with the primary
    key (target_id, t), so one target's time range is one contiguous b-tree range and
    needs no second index. Event kinds are checked in Python, not with CHECK, so a new
    kind needs no table rebuild. `recordings.sample_count` is kept by the writer (and by
    pruning) because counting a 90-day table on every listing would take seconds.
    """
    columns = ",\n    ".join(
        f"{name} {_SAMPLE_TYPES.get(name, 'INTEGER')}" for name in V1_SAMPLE_FIELDS
    )
    _run_script(
        conn,
        f"""
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE recordings (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    command TEXT,
    host TEXT NOT NULL,
    interval REAL NOT NULL,
    memlens_version TEXT NOT NULL,
    exit_code INTEGER,
    sample_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX recordings_started ON recordings (started);
CREATE INDEX recordings_name ON recordings (name, started);
CREATE TABLE targets (
    id INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL REFERENCES recordings (id),
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    pid INTEGER NOT NULL,
    start_time REAL NOT NULL,
    name TEXT NOT NULL,
    cmdline TEXT NOT NULL,
    parent TEXT,
    members TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL,
    exit_time REAL,
    exit_code INTEGER,
    exit_reason TEXT,
    UNIQUE (recording_id, key)
);
CREATE TABLE samples (
    target_id INTEGER NOT NULL REFERENCES targets (id),
    t REAL NOT NULL,
    {columns},
    PRIMARY KEY (target_id, t)
) WITHOUT ROWID;
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL REFERENCES recordings (id),
    target_id INTEGER REFERENCES targets (id),
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{{}}'
);
CREATE INDEX events_recording_t ON events (recording_id, t);
CREATE INDEX events_t ON events (t);
""",
    )
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("app", APP), ("created_by", __version__)],
    )


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run `;`-separated statements inside the caller's transaction.

    Not `executescript`: it COMMITs any open transaction first, which would split a
    migration from its version bump.
    """
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _add_python_fields(conn: sqlite3.Connection) -> None:
    """Version 2: the Python agent's fields on each sample (NULL for every sample of a
    process without the agent, which SQLite stores in a byte each)."""
    for name in SAMPLE_FIELDS[len(V1_SAMPLE_FIELDS) :]:
        conn.execute(f"ALTER TABLE samples ADD COLUMN {name} {_SAMPLE_TYPES.get(name, 'INTEGER')}")


def _add_system_samples(conn: sqlite3.Connection) -> None:
    """Version 3: the machine's figures, one row per system reading of a recording.

    Keyed by (recording_id, t) WITHOUT ROWID, as `samples` is by (target_id, t): one
    recording's readings are one contiguous range. `gpus` is the reading's GPU list as
    JSON (NULL on a machine without one), not a table of its own: it is read and written
    whole, never queried by device.
    """
    columns = ",\n    ".join(
        f"{name} {'REAL' if name in _SYSTEM_REAL else 'INTEGER'}" for name in SYSTEM_FIELDS
    )
    conn.execute(
        f"""
CREATE TABLE system_samples (
    recording_id INTEGER NOT NULL REFERENCES recordings (id),
    t REAL NOT NULL,
    {columns},
    gpus TEXT,
    PRIMARY KEY (recording_id, t)
) WITHOUT ROWID"""
    )


def _add_judging(conn: sqlite3.Connection) -> None:
    """Version 4: what a recording is judged with. `recordings.judged_with` holds the
    leak detector's settings it was made with (JSON; NULL for older recordings, judged
    with the defaults), `targets.memory_limit` the limit each target had then (bytes;
    NULL when unknown), so a verdict after the fact is the one given live."""
    conn.execute("ALTER TABLE recordings ADD COLUMN judged_with TEXT")
    conn.execute("ALTER TABLE targets ADD COLUMN memory_limit INTEGER")


# map_samples' figures: heap_rss, heap_pss, heap_uss, heap_swap, anon_rss, …
MAP_COLUMNS: tuple[str, ...] = tuple(f"{c}_{f}" for c in MAP_CATEGORIES for f in MAP_FIGURES)


def _add_map_samples(conn: sqlite3.Connection) -> None:
    """Version 5: where each process's memory lived, one row per reading of its map
    (docs/maps.md), every 10 s or so.

    Keyed by (target_id, t) WITHOUT ROWID, as `samples` is. The figures by category are
    columns, so a chart of one category is one column; the largest mappings (`top`) and
    the runtimes are JSON lists, read and written whole with their row.
    """
    columns = ",\n    ".join(f"{name} INTEGER NOT NULL" for name in MAP_COLUMNS)
    conn.execute(
        f"""
CREATE TABLE map_samples (
    target_id INTEGER NOT NULL REFERENCES targets (id),
    t REAL NOT NULL,
    {columns},
    thread_stacks INTEGER NOT NULL,
    mappings INTEGER NOT NULL,
    top TEXT NOT NULL DEFAULT '[]',
    runtimes TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (target_id, t)
) WITHOUT ROWID"""
    )


def _add_heap_profiles(conn: sqlite3.Connection) -> None:
    """Version 6: the in-use heap profiles a watch kept of each process that ran the heap
    profiler (docs/formats.md, "heap_profiles"): a few per target, spread over the run,
    the newest always among them.

    `profile` is the profile's JSON (memlens-heap-profile) compressed with zlib: a
    compact profile is tens of kilobytes of repetitive text. A rowid table, as its rows
    are large; the index keeps one target's profiles one range. `stacks` and
    `inuse_bytes` are the profile's, so a listing needs no decompression.
    """
    _run_script(
        conn,
        """
CREATE TABLE heap_profiles (
    id INTEGER PRIMARY KEY,
    target_id INTEGER NOT NULL REFERENCES targets (id),
    t REAL NOT NULL,
    pid INTEGER NOT NULL,
    stacks INTEGER NOT NULL,
    inuse_bytes INTEGER NOT NULL,
    profile BLOB NOT NULL
);
CREATE UNIQUE INDEX heap_profiles_target_t ON heap_profiles (target_id, t)
""",
    )


def _add_target_groups(conn: sqlite3.Connection) -> None:
    """Version 7: `targets.ppid`, the parent's PID when the target was found (NULL when
    unknown), so a recording can be grouped by parent afterwards, and
    `targets.group_label`, its group under the watch's --group-by (NULL in older
    recordings and for sums): docs/groups.md."""
    conn.execute("ALTER TABLE targets ADD COLUMN ppid INTEGER")
    conn.execute("ALTER TABLE targets ADD COLUMN group_label TEXT")


MIGRATIONS: tuple[Migration, ...] = (
    _create_v1,
    _add_python_fields,
    _add_system_samples,
    _add_judging,
    _add_map_samples,
    _add_heap_profiles,
    _add_target_groups,
)
SCHEMA_VERSION = len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def check(conn: sqlite3.Connection, path: Path, *, latest: int = SCHEMA_VERSION) -> int:
    """The file's schema version; raises when it is not ours or newer than `latest`.

    Version 0 with no tables at all is a new, empty file (returned as 0).
    """
    version = user_version(conn)
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if version == 0 and not tables:
        return 0
    app = None
    if "meta" in tables:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'app'").fetchone()
        except sqlite3.OperationalError:  # a foreign `meta` table with other columns
            row = None
        app = row[0] if row else None
    if app != APP:
        raise NotARecording(
            f"{path} is not a memlens recording (an SQLite database of another application)"
        )
    if version > latest:
        raise NewerSchema(
            f"{path} was written by a newer memlens (schema version {version}); "
            f"this memlens {__version__} reads versions up to {latest}: upgrade memlens"
        )
    return version


def migrate(
    conn: sqlite3.Connection, path: Path, *, migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """Bring the file up to `len(migrations)`, one transaction per step; returns the
    version it had. `conn` must be in autocommit mode (`isolation_level=None`)."""
    latest = len(migrations)
    found = check(conn, path, latest=latest)
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = check(conn, path, latest=latest)  # again, under the write lock
            if version >= latest:
                conn.execute("COMMIT")
                return found
            migrations[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
