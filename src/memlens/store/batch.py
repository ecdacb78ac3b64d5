"""What the writer thread is handed, and how one batch of it becomes one transaction.

Operations are plain data copied on the caller's thread (a `Target` is mutable and its
`members` list keeps growing in the sampler), so the writer can hold them as long as it
must: across a failed commit, while the disk is full, until they are written or dropped.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from memlens.model import (
    MAP_CATEGORIES,
    SAMPLE_FIELDS,
    SYSTEM_FIELDS,
    MapSample,
    Reading,
    SystemReading,
    Target,
)
from memlens.store.schema import MAP_COLUMNS

log = logging.getLogger(__name__)

# key, kind, pid, start_time, name, cmdline, parent, members (JSON), state, exit_time,
# exit_code, exit_reason, ppid, group_label: the order of _TARGET_COLUMNS
TargetRow = tuple[
    str,
    str,
    int,
    float,
    str,
    str,
    str | None,
    str,
    str,
    float | None,
    int | None,
    str | None,
    int | None,
    str | None,
]

_TARGET_COLUMNS = (
    "key, kind, pid, start_time, name, cmdline, parent, members, state, exit_time, "
    "exit_code, exit_reason, ppid, group_label"
)
_UPSERT_TARGET = (
    f"INSERT INTO targets (recording_id, {_TARGET_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (recording_id, key) DO UPDATE SET kind = excluded.kind, pid = excluded.pid, "
    "start_time = excluded.start_time, name = excluded.name, cmdline = excluded.cmdline, "
    "parent = excluded.parent, members = excluded.members, state = excluded.state, "
    "exit_time = excluded.exit_time, exit_code = excluded.exit_code, "
    "exit_reason = excluded.exit_reason, ppid = excluded.ppid, "
    "group_label = excluded.group_label"
)
# OR IGNORE: a batch re-sent after a commit whose outcome was unknown adds nothing twice,
# and `rowcount` stays the number of rows really added (for recordings.sample_count).
_INSERT_SAMPLES = (
    f"INSERT OR IGNORE INTO samples (target_id, t, {', '.join(SAMPLE_FIELDS)}) "
    f"VALUES ({', '.join('?' * (len(SAMPLE_FIELDS) + 2))})"
)
_INSERT_SYSTEM = (
    f"INSERT OR IGNORE INTO system_samples (recording_id, t, {', '.join(SYSTEM_FIELDS)}, gpus) "
    f"VALUES ({', '.join('?' * (len(SYSTEM_FIELDS) + 3))})"
)
_INSERT_MAPS = (
    f"INSERT OR IGNORE INTO map_samples (target_id, t, {', '.join(MAP_COLUMNS)}, "
    f"thread_stacks, mappings, top, runtimes) VALUES ({', '.join('?' * (len(MAP_COLUMNS) + 6))})"
)
_INSERT_HEAP = (
    "INSERT OR IGNORE INTO heap_profiles (target_id, t, pid, stacks, inuse_bytes, profile) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
# Bad data rather than a bad disk: retrying cannot help, so such a batch is split up and
# the offending operation alone is rejected.
_BAD_DATA = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
)


# parent, members, state, exit_time, exit_code, exit_reason, ppid, group_label of a
# target never announced
_PLACEHOLDER_REST = (None, "[]", "running", None, None, None, None, None)


def target_row(target: Target) -> TargetRow:
    return (
        target.key,
        target.kind,
        target.pid,
        target.start_time,
        target.name,
        target.cmdline,
        target.parent,
        json.dumps(list(target.members)),
        target.state,
        target.exit_time,
        target.exit_code,
        target.exit_reason,
        target.ppid,
        target.group or None,
    )


# t, then SYSTEM_FIELDS in order, then the GPUs as JSON (None without any)
SystemRow = tuple[object, ...]


@dataclass(slots=True)
class TargetOp:
    recording_id: int
    row: TargetRow
    rows: int = 0


@dataclass(slots=True)
class SamplesOp:
    recording_id: int
    t: float
    samples: Mapping[str, Reading]
    rows: int = 0


@dataclass(slots=True)
class EventOp:
    recording_id: int
    kind: str
    t: float
    data: str  # JSON, encoded on the caller's thread so bad data fails there
    target_key: str | None
    rows: int = 1


@dataclass(slots=True)
class EndOp:
    recording_id: int
    ended: float
    exit_code: int | None
    rows: int = 0


@dataclass(slots=True)
class SystemOp:
    """One reading of the machine (one row, like a sample)."""

    recording_id: int
    t: float
    row: SystemRow
    rows: int = 1

    @classmethod
    def of(cls, recording_id: int, reading: SystemReading) -> SystemOp:
        gpus = json.dumps([g.to_dict() for g in reading.gpus]) if reading.gpus else None
        row = (reading.t, *(getattr(reading, name) for name in SYSTEM_FIELDS), gpus)
        return cls(recording_id, reading.t, row)


@dataclass(slots=True)
class LimitOp:
    """The memory limit a target had when it was recorded."""

    recording_id: int
    key: str
    t: float
    limit: int
    rows: int = 0


@dataclass(slots=True)
class MapsOp:
    """One reading of a target's memory map (one row; not counted among the samples)."""

    recording_id: int
    key: str
    t: float
    row: tuple[object, ...]  # MAP_COLUMNS, thread_stacks, mappings, top and runtimes (JSON)
    rows: int = 1

    @classmethod
    def of(cls, recording_id: int, key: str, sample: MapSample) -> MapsOp:
        figures = [v for c in MAP_CATEGORIES for v in sample.categories.get(c, (0, 0, 0, 0))]
        row = (
            *figures,
            sample.thread_stacks,
            sample.mappings,
            json.dumps(list(sample.top)),
            json.dumps(list(sample.runtimes)),
        )
        return cls(recording_id, key, sample.t, row)


@dataclass(slots=True)
class HeapOp:
    """One heap profile of a target (compressed JSON), and the older ones of that target
    it replaces (`drop`: their times), in one transaction."""

    recording_id: int
    key: str
    t: float
    row: tuple[int, int, int, bytes]  # pid, stacks, inuse_bytes, profile
    drop: tuple[float, ...] = ()
    rows: int = 1


DataOp = TargetOp | SamplesOp | EventOp | EndOp | SystemOp | LimitOp | MapsOp | HeapOp


@dataclass(slots=True)
class TickOp:
    """One tick, expanded by the writer into its target, sample and exit operations."""

    recording_id: int
    t: float
    samples: Mapping[str, Reading]
    new_targets: tuple[TargetRow, ...] = ()
    exits: tuple[tuple[TargetRow, float, str], ...] = ()  # row, exit time, event data
    system: SystemOp | None = None  # a new reading of the machine, when the tick has one

    def expand(self) -> list[DataOp]:
        ops: list[DataOp] = [TargetOp(self.recording_id, row) for row in self.new_targets]
        if self.samples:
            ops.append(SamplesOp(self.recording_id, self.t, self.samples, len(self.samples)))
        if self.system is not None:
            ops.append(self.system)
        for row, t, data in self.exits:
            ops.append(TargetOp(self.recording_id, row))
            ops.append(EventOp(self.recording_id, "exit", t, data, row[0]))
        return ops


@dataclass
class Applier:
    """Writes batches of operations on the writer's connection, one transaction each."""

    conn: sqlite3.Connection
    rejected: int = 0
    _ids: dict[tuple[int, str], int] = field(default_factory=dict)

    def write(self, ops: Sequence[DataOp]) -> int:
        """Commit `ops` in one transaction; returns the sample rows added.

        A disk or lock error propagates with the transaction rolled back, for the caller
        to keep the batch and retry. Bad data splits the batch into single operations so
        one bad one cannot hold the rest back forever.
        """
        try:
            return self._transaction(ops)
        except _BAD_DATA as e:
            log.warning("a batch for the recording was refused (%s); writing it one by one", e)
        added = 0
        for op in ops:
            try:
                added += self._transaction([op])
            except _BAD_DATA as e:
                self.rejected += max(op.rows, 1)
                log.warning("dropped one %s the recording refused: %s", type(op).__name__, e)
        return added

    def begin_recording(self, row: tuple[object, ...]) -> int:
        with self._transaction_of():
            cursor = self.conn.execute(
                "INSERT INTO recordings (name, started, command, host, interval, "
                "memlens_version, judged_with) VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _transaction(self, ops: Iterable[DataOp]) -> int:
        with self._transaction_of():
            return self._apply(ops)

    def _transaction_of(self) -> _Transaction:
        return _Transaction(self)

    def _apply(self, ops: Iterable[DataOp]) -> int:
        conn = self.conn
        rows: dict[int, list[tuple[object, ...]]] = {}
        for op in ops:
            if isinstance(op, SamplesOp):
                out = rows.setdefault(op.recording_id, [])
                for key, r in op.samples.items():
                    tid = self._target_id(op.recording_id, key, op.t)
                    out.append((tid, op.t, *r))  # a Reading is its fields in SAMPLE_FIELDS order
            elif isinstance(op, TargetOp):
                conn.execute(_UPSERT_TARGET, (op.recording_id, *op.row))
            elif isinstance(op, SystemOp):
                conn.execute(_INSERT_SYSTEM, (op.recording_id, *op.row))
            elif isinstance(op, EventOp):
                tid = None
                if op.target_key is not None:
                    tid = self._target_id(op.recording_id, op.target_key, op.t)
                conn.execute(
                    "INSERT INTO events (recording_id, target_id, t, kind, data) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (op.recording_id, tid, op.t, op.kind, op.data),
                )
            elif isinstance(op, MapsOp):
                tid = self._target_id(op.recording_id, op.key, op.t)
                conn.execute(_INSERT_MAPS, (tid, op.t, *op.row))
            elif isinstance(op, HeapOp):
                tid = self._target_id(op.recording_id, op.key, op.t)
                conn.execute(_INSERT_HEAP, (tid, op.t, *op.row))
                conn.executemany(
                    "DELETE FROM heap_profiles WHERE target_id = ? AND t = ?",
                    [(tid, t) for t in op.drop],
                )
            elif isinstance(op, LimitOp):
                tid = self._target_id(op.recording_id, op.key, op.t)
                conn.execute("UPDATE targets SET memory_limit = ? WHERE id = ?", (op.limit, tid))
            else:
                conn.execute(
                    "UPDATE recordings SET ended = ?, exit_code = ? WHERE id = ?",
                    (op.ended, op.exit_code, op.recording_id),
                )
        added = 0
        for recording_id, batch in rows.items():
            count = conn.executemany(_INSERT_SAMPLES, batch).rowcount
            conn.execute(
                "UPDATE recordings SET sample_count = sample_count + ? WHERE id = ?",
                (count, recording_id),
            )
            added += count
        return added

    def _target_id(self, recording_id: int, key: str, t: float) -> int:
        """The row id of a target, making a placeholder row for a key never announced
        (its samples are kept; a later add_target fills the row in)."""
        ident = (recording_id, key)
        tid = self._ids.get(ident)
        if tid is not None:
            return tid
        find = "SELECT id FROM targets WHERE recording_id = ? AND key = ?"
        row = self.conn.execute(find, ident).fetchone()
        if row is None:
            pid_text = key.split("-", 1)[0]
            pid = int(pid_text) if pid_text.isdigit() else 0
            self.conn.execute(
                _UPSERT_TARGET,
                (recording_id, key, "process", pid, t, key, "", *_PLACEHOLDER_REST),
            )
            row = self.conn.execute(find, ident).fetchone()
        self._ids[ident] = tid = int(row[0])
        return tid

    def forget(self) -> None:
        """Drop cached target ids: a rolled-back transaction may have made some of them."""
        self._ids.clear()


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back (and the id cache dropped) on any error."""

    def __init__(self, applier: Applier) -> None:
        self.applier = applier

    def __enter__(self) -> None:
        self.applier.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        conn = self.applier.conn
        if exc_type is None:
            try:
                conn.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        self.applier.forget()
        if self.applier.conn.in_transaction:
            try:
                self.applier.conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.debug("rollback failed; the connection will be reopened", exc_info=True)
