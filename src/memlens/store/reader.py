"""Readers of a recording, each on its own read-only connection.

In WAL mode a reader sees the last committed state and never blocks the writer (nor the
writer it), so the dashboard, reports and `memlens ls-recordings` can read a file that a `watch`
is recording. A reader opens with `mode=ro` and `PRAGMA query_only`, so a bug in a
query cannot change a recording. Every SQLite error is turned into a memlens error here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memlens.errors import NotARecording, UsageError
from memlens.model import (
    MAP_CATEGORIES,
    MAP_FIGURES,
    SAMPLE_FIELDS,
    SYSTEM_FIELDS,
    Column,
    MapSample,
    Target,
)
from memlens.store.downsample import m4_params, m4_points, m4_sql
from memlens.store.files import existing_file, location_is_read_only, sniff, translate
from memlens.store.heap_blob import unpack
from memlens.store.schema import MAP_COLUMNS, MIGRATIONS, SCHEMA_VERSION, check, migrate

_CACHE_KIB = 32 * 1024
_MAP_JSON_LIMIT = 256 * 1024  # characters of a map row's JSON lists read back


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    id: int
    name: str
    started: float
    ended: float | None
    command: str | None
    host: str
    interval: float
    exit_code: int | None
    target_count: int
    sample_count: int
    memlens_version: str


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    recording_id: int
    target_key: str | None
    t: float
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HeapRow:
    """One kept heap profile of a target, without the profile itself."""

    key: str
    t: float
    pid: int
    stacks: int
    inuse_bytes: int


_RECORDING_COLUMNS = (
    "r.id, r.name, r.started, r.ended, r.command, r.host, r.interval, r.exit_code, "
    "(SELECT count(*) FROM targets WHERE recording_id = r.id), r.sample_count, "
    "r.memlens_version"
)
_SAMPLE_COLUMNS = ", ".join(SAMPLE_FIELDS)
_SYSTEM_COLUMNS = ", ".join(SYSTEM_FIELDS)


class StoreReader:
    """Queries over one recording file. Thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: str | Path) -> StoreReader:
        """Open a recording for reading. A file at an older schema version is migrated
        first (through a short-lived writable connection)."""
        path = Path(path).expanduser()
        if not existing_file(path, writing=False):
            raise NotARecording(f"{path} does not exist: no memlens recording there")
        sniff(path)
        conn = _connect_ro(path)
        try:
            version = check(conn, path)
            if version == 0:
                raise NotARecording(f"{path} is not a memlens recording (an empty database)")
            if version < SCHEMA_VERSION:
                conn.close()
                _migrate_file(path)
                conn = _connect_ro(path)
                check(conn, path)
        except sqlite3.Error as e:
            conn.close()
            raise translate(path, e, writing=False) from None
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    def limit_cache(self, kib: int) -> None:
        """Cap this reader's page cache (a live watch's reader lives as long as memlens)."""
        with self._lock:
            self._conn.execute(f"PRAGMA cache_size = -{int(kib)}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries -----------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[object] | Mapping[str, object] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise translate(self.path, e, writing=False) from None

    @contextmanager
    def snapshot(self) -> Iterator[StoreReader]:
        """Hold one read transaction: every query in the block sees the same committed
        state, while the writer goes on committing (WAL keeps the old pages for us).
        Other threads sharing this reader wait until the block ends."""
        with self._lock:
            self._rows("BEGIN")
            try:
                self._rows("SELECT 1 FROM meta LIMIT 1")  # the read lock is taken here
                yield self
            finally:
                self._rows("COMMIT")

    def recordings(self) -> list[RecordingInfo]:
        rows = self._rows(f"SELECT {_RECORDING_COLUMNS} FROM recordings r ORDER BY started, id")
        return [RecordingInfo(*row) for row in rows]

    def recording(self, id_or_name: int | str) -> RecordingInfo:
        """By id, by name (the newest of that name), or `last` (the newest of all)."""
        base = f"SELECT {_RECORDING_COLUMNS} FROM recordings r"
        rows: list[Any] = []
        if isinstance(id_or_name, int):
            rows = self._rows(f"{base} WHERE id = ?", (id_or_name,))
        elif id_or_name == "last":
            rows = self._rows(f"{base} ORDER BY started DESC, id DESC LIMIT 1")
        else:
            rows = self._rows(
                f"{base} WHERE name = ? ORDER BY started DESC, id DESC LIMIT 1", (id_or_name,)
            )
            if not rows and id_or_name.isdigit():
                rows = self._rows(f"{base} WHERE id = ?", (int(id_or_name),))
        if not rows:
            what = "no recordings" if id_or_name == "last" else f"no recording {id_or_name!r}"
            raise UsageError(f"{self.path} has {what} (memlens ls-recordings shows what it holds)")
        return RecordingInfo(*rows[0])

    def targets(self, recording_id: int) -> list[Target]:
        rows = self._rows(
            "SELECT key, kind, pid, start_time, name, cmdline, parent, members, state, "
            "exit_time, exit_code, exit_reason, ppid, group_label FROM targets "
            "WHERE recording_id = ? "
            "ORDER BY id",
            (recording_id,),
        )
        targets = []
        for row in rows:
            target = Target(
                key=row[0],
                kind=row[1],
                pid=row[2],
                start_time=row[3],
                name=row[4],
                cmdline=row[5],
                parent=row[6],
                members=list(json.loads(row[7])),
                ppid=row[12],
                group=row[13] or "",  # a face may regroup by name, command or ppid
            )
            target.state, target.exit_time, target.exit_code, target.exit_reason = row[8:12]
            targets.append(target)
        return targets

    def judged_with(self, recording_id: int) -> tuple[dict[str, Any] | None, dict[str, int]]:
        """The detector settings the recording was made with (None: it holds none, an
        older recording) and the memory limit of each target that had one known."""
        rows = self._rows("SELECT judged_with FROM recordings WHERE id = ?", (recording_id,))
        settings = None
        if rows and rows[0][0] is not None:
            try:
                loaded = json.loads(rows[0][0])
            except ValueError:
                loaded = None
            if not isinstance(loaded, dict):
                raise NotARecording(f"{self.path}: recording {recording_id}'s settings are damaged")
            settings = loaded
        limits = self._rows(
            "SELECT key, memory_limit FROM targets WHERE recording_id = ? "
            "AND memory_limit IS NOT NULL",
            (recording_id,),
        )
        return settings, {str(key): int(limit) for key, limit in limits}

    def _target_id(self, recording_id: int, key: str) -> int | None:
        rows = self._rows(
            "SELECT id FROM targets WHERE recording_id = ? AND key = ?", (recording_id, key)
        )
        return int(rows[0][0]) if rows else None

    def series(
        self,
        recording_id: int,
        key: str,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> dict[str, Column]:
        """Samples with since < t <= until (the newest `limit`), in the columnar shape of
        `memlens.watch.history.Ring.series`: "t" and every SAMPLE_FIELDS name, None if unknown."""
        out: dict[str, Column] = {"t": [], **{name: [] for name in SAMPLE_FIELDS}}
        tid = self._target_id(recording_id, key)
        if tid is None:
            return out
        where, params = _window(tid, since, until)
        sql = f"SELECT t, {_SAMPLE_COLUMNS} FROM samples WHERE {where}"
        if limit is None:
            rows = self._rows(sql + " ORDER BY t", params)
        else:
            rows = self._rows(sql + " ORDER BY t DESC LIMIT ?", [*params, max(limit, 0)])
            rows.reverse()
        if rows:
            for name, column in zip(out, zip(*rows, strict=True), strict=True):
                out[name] = list(column)
        return out

    def downsampled(  # noqa: PLR0917 - the signature other layers were promised
        self,
        recording_id: int,
        key: str,
        start: float,
        end: float,
        buckets: int,
        field: str = "rss",
    ) -> dict[str, Any]:
        """`field` between start and end (inclusive) as M4 points: per equal time bucket
        the first, min, max and last sample, time-ordered, one per distinct time.

        {"t": [...], field: [...], "bucketed": bool}; not bucketed when the range holds
        at most 4 × buckets samples: those are returned as they are.
        """
        if field not in SAMPLE_FIELDS:
            raise UsageError(f"unknown field {field!r}; one of {', '.join(SAMPLE_FIELDS)}")
        if buckets < 1:
            raise UsageError("the number of buckets must be at least 1")
        tid = self._target_id(recording_id, key)
        if tid is None or end < start:
            return {"t": [], field: [], "bucketed": False}
        count = self._rows(
            "SELECT count(*) FROM samples WHERE target_id = ? AND t >= ? AND t <= ?",
            (tid, start, end),
        )[0][0]
        if count <= 4 * buckets:
            rows = self._rows(
                f"SELECT t, {field} FROM samples WHERE target_id = ? AND t >= ? AND t <= ? "
                "ORDER BY t",
                (tid, start, end),
            )
            return {"t": [r[0] for r in rows], field: [r[1] for r in rows], "bucketed": False}
        ts, vs = m4_points(self._rows(m4_sql(field), m4_params(tid, start, end, buckets)))
        return {"t": ts, field: vs, "bucketed": True}

    def map_samples(
        self,
        recording_id: int,
        key: str,
        since: float | None = None,
        until: float | None = None,
    ) -> list[MapSample]:
        """The readings of a target's memory map with since < t <= until, oldest first."""
        tid = self._target_id(recording_id, key)
        if tid is None:
            return []
        where, params = _window(tid, since, until)
        rows = self._rows(
            f"SELECT t, {', '.join(MAP_COLUMNS)}, thread_stacks, mappings, top, runtimes "
            f"FROM map_samples WHERE {where} ORDER BY t",
            params,
        )
        return [_map_sample(row) for row in rows]

    def heap_profiles(self, recording_id: int) -> list[HeapRow]:
        """The heap profiles kept of the recording's targets, by target, oldest first."""
        rows = self._rows(
            "SELECT g.key, h.t, h.pid, h.stacks, h.inuse_bytes FROM heap_profiles h "
            "JOIN targets g ON g.id = h.target_id WHERE g.recording_id = ? ORDER BY g.key, h.t",
            (recording_id,),
        )
        return [HeapRow(str(k), float(t), int(p), int(n), int(b)) for k, t, p, n, b in rows]

    def heap_profile_json(self, recording_id: int, key: str, t: float) -> bytes | None:
        """The JSON of the target's profile kept at `t` (memlens-heap-profile), inflated
        within a bound; None when there is none."""
        tid = self._target_id(recording_id, key)
        if tid is None:
            return None
        rows = self._rows(
            "SELECT profile FROM heap_profiles WHERE target_id = ? AND t = ?", (tid, t)
        )
        return unpack(bytes(rows[0][0]), str(self.path)) if rows else None

    def system_series(
        self,
        recording_id: int,
        since: float | None = None,
        until: float | None = None,
        *,
        points: int | None = None,
    ) -> dict[str, list[Any]]:
        """The machine's readings with since < t <= until, columnar: "t", every
        SYSTEM_FIELDS name (None if unknown) and "gpus" (each reading's GPU list, None on a
        machine without one). Empty columns for a recording made without them.

        With `points`, a longer series is thinned to every k-th reading, the last one
        always kept: what a sparkline of a long recording needs, with every column of
        the readings kept still true to one moment (averages of buckets would not be).
        """
        out: dict[str, list[Any]] = {"t": [], **{name: [] for name in SYSTEM_FIELDS}, "gpus": []}
        where = ["recording_id = ?"]
        params: list[object] = [recording_id]
        if since is not None:
            where.append("t > ?")
            params.append(since)
        if until is not None:
            where.append("t <= ?")
            params.append(until)
        cond = " AND ".join(where)
        sql = f"SELECT t, {_SYSTEM_COLUMNS}, gpus FROM system_samples WHERE {cond}"
        if points is not None:
            count = int(
                self._rows(f"SELECT count(*) FROM system_samples WHERE {cond}", params)[0][0]
            )
            step = -(-count // max(points, 1))
            if step > 1:
                sql = (
                    f"SELECT t, {_SYSTEM_COLUMNS}, gpus FROM (SELECT *, row_number() OVER "
                    f"(ORDER BY t) AS n FROM system_samples WHERE {cond}) "
                    f"WHERE (? - n) % ? = 0"
                )
                params = [*params, count, step]
        rows = self._rows(sql + " ORDER BY t", params)
        if rows:
            for name, column in zip(out, zip(*rows, strict=True), strict=True):
                out[name] = list(column)
            out["gpus"] = [None if g is None else json.loads(g) for g in out["gpus"]]
        return out

    def events(self, recording_id: int, kinds: Sequence[str] | None = None) -> list[Event]:
        sql = (
            "SELECT e.id, e.recording_id, t.key, e.t, e.kind, e.data FROM events e "
            "LEFT JOIN targets t ON t.id = e.target_id WHERE e.recording_id = ?"
        )
        params: list[object] = [recording_id]
        if kinds is not None:
            sql += f" AND e.kind IN ({', '.join('?' * len(kinds))})"
            params.extend(kinds)
        rows = self._rows(sql + " ORDER BY e.t, e.id", params)
        return [Event(i, r, k, t, kind, json.loads(data)) for i, r, k, t, kind, data in rows]

    # -- retention ---------------------------------------------------------------------

    def prune(self, *, samples_before: float, events_before: float) -> tuple[int, int]:
        """Delete samples and events older than the given times; returns (samples,
        events) deleted. The machine's readings go with the samples (and are not counted
        among them). Recordings and targets stay (they are small and name the run).

        A write, so it runs on a short-lived writable connection, one transaction per
        target so a recording writer waits at most one target's delete. Freed pages go
        to SQLite's free list and are reused by later samples; the file does not shrink
        (no `incremental_vacuum`: with rolling retention the space is needed again soon,
        and auto_vacuum would cost on every write). `VACUUM` by hand shrinks it.
        """
        conn = _connect_rw(self.path)
        try:
            deleted_samples = 0
            targets = conn.execute("SELECT id, recording_id FROM targets").fetchall()
            for tid, recording_id in targets:
                conn.execute("BEGIN IMMEDIATE")
                n = conn.execute(
                    "DELETE FROM samples WHERE target_id = ? AND t < ?", (tid, samples_before)
                ).rowcount
                if n:
                    conn.execute(
                        "UPDATE recordings SET sample_count = max(0, sample_count - ?) "
                        "WHERE id = ?",
                        (n, recording_id),
                    )
                conn.execute("COMMIT")
                deleted_samples += n
            for (recording_id,) in conn.execute("SELECT id FROM recordings").fetchall():
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "DELETE FROM system_samples WHERE recording_id = ? AND t < ?",
                    (recording_id, samples_before),
                )
                conn.execute("COMMIT")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM map_samples WHERE t < ?", (samples_before,))
            conn.execute("DELETE FROM heap_profiles WHERE t < ?", (samples_before,))
            deleted_events = conn.execute(
                "DELETE FROM events WHERE t < ?", (events_before,)
            ).rowcount
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise translate(self.path, e, writing=True) from None
        finally:
            conn.close()
        return deleted_samples, deleted_events


def _map_sample(row: Sequence[Any]) -> MapSample:
    width = len(MAP_FIGURES)
    figures = row[1 : 1 + len(MAP_COLUMNS)]
    categories = {
        c: tuple(int(v) for v in figures[i * width : (i + 1) * width])
        for i, c in enumerate(MAP_CATEGORIES)
    }
    stacks, mappings, top, runtimes = row[1 + len(MAP_COLUMNS) :]
    return MapSample(
        float(row[0]),
        categories,  # type: ignore[arg-type]
        int(stacks),
        int(mappings),
        _json_dicts(top),
        _json_dicts(runtimes),
    )


def _json_dicts(text: object) -> tuple[dict[str, Any], ...]:
    """A JSON list of objects as kept in a row; nothing when it is not one (a file may
    come from anywhere) or is longer than a map row ever holds."""
    if not isinstance(text, str) or len(text) > _MAP_JSON_LIMIT:
        return ()
    try:
        value = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, dict))


def _connect_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection. On read-only media a WAL file cannot get its `-shm`
    index, so there the file is opened `immutable` (nothing can change it anyway)."""
    uri = f"{path.absolute().as_uri()}?mode=ro"
    try:
        return _open_query_only(uri)
    except sqlite3.OperationalError as e:
        if "unable to open" not in str(e) or not location_is_read_only(path):
            raise translate(path, e, writing=False) from None
    except sqlite3.Error as e:
        raise translate(path, e, writing=False) from None
    try:
        return _open_query_only(f"{uri}&immutable=1")
    except sqlite3.Error as e:
        raise translate(path, e, writing=False) from None


def _open_query_only(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA query_only = 1")
        # A day of one target is about 4 MB of pages: more than SQLite's default 2 MB
        # cache, so every chart query would re-read it. The cache only grows as used.
        # (mmap would be faster still, but turns an I/O error or a file shrunk by a manual
        # VACUUM into SIGBUS in the server, so it stays off.)
        conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_rw(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=30
        )
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn
    except sqlite3.Error as e:
        raise translate(path, e, writing=True) from None


def _migrate_file(path: Path) -> None:
    conn = _connect_rw(path)
    try:
        migrate(conn, path, migrations=MIGRATIONS)
    except sqlite3.Error as e:
        raise translate(path, e, writing=True) from None
    finally:
        conn.close()


def _window(tid: int, since: float | None, until: float | None) -> tuple[str, list[object]]:
    """The WHERE clause (and its parameters) of one target's rows with since < t <= until."""
    where = ["target_id = ?"]
    params: list[object] = [tid]
    if since is not None:
        where.append("t > ?")
        params.append(since)
    if until is not None:
        where.append("t <= ?")
        params.append(until)
    return " AND ".join(where), params
