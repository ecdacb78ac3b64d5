"""The writer: the only code that writes a recording, on one thread fed by a queue.

The sampler calls `add_tick` on every round, so it must never wait for a disk: it puts
the tick on an unbounded queue and returns. The writer thread drains the queue and
commits in batches, at least every `commit_interval` (half a second by default) and
whenever a batch reaches `batch_rows`, in WAL mode with `synchronous=NORMAL`: a commit is
an append to the WAL, not an fsync, so batching costs little latency, and a `kill -9`
loses only what was not committed yet (about `commit_interval`), never the file.

When a commit fails (disk full, I/O error, the file turned read-only), the batch is rolled
back and kept in memory, the newest `keep_seconds` of samples (at most `max_kept_rows`),
the store reports itself degraded with a one-line `last_error`, logs one warning, and
retries every `retry_interval` seconds until the kept rows are written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import queue
import shlex
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memlens._version import __version__
from memlens.errors import MemlensError, NotARecording, StoreUnwritable
from memlens.model import MapSample, Target, Tick
from memlens.outside.redact import redact_cmdline
from memlens.store.batch import (
    Applier,
    DataOp,
    EndOp,
    EventOp,
    HeapOp,
    LimitOp,
    MapsOp,
    SamplesOp,
    SystemOp,
    TargetOp,
    TickOp,
    target_row,
)
from memlens.store.files import existing_file, make_parent, sniff, translate
from memlens.store.schema import EVENT_KINDS, MIGRATIONS, Migration, check, migrate

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Begin:
    row: tuple[object, ...]
    done: threading.Event = field(default_factory=threading.Event)
    recording_id: int | None = None
    error: sqlite3.Error | None = None


@dataclass(slots=True)
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


class _Stop:
    pass


_Op = TickOp | TargetOp | EventOp | EndOp | LimitOp | MapsOp | HeapOp | _Begin | _Flush | _Stop


def connect(path: Path, *, busy_timeout: float, create: bool) -> sqlite3.Connection:
    """A writable connection in autocommit mode (transactions are explicit)."""
    mode = "rwc" if create else "rw"
    uri = f"{path.absolute().as_uri()}?mode={mode}"
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, timeout=busy_timeout
    )
    try:
        conn.execute("PRAGMA synchronous = NORMAL")
        # After a checkpoint, cut a WAL that grew (behind a long read) back to 16 MiB.
        conn.execute("PRAGMA journal_size_limit = 16777216")
    except BaseException:
        conn.close()
        raise
    return conn


class Store:
    """A recording file opened for writing. Thread-safe; one writer thread per Store."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        *,
        commit_interval: float = 0.5,
        batch_rows: int = 5000,
        retry_interval: float = 2.0,
        keep_seconds: float = 600.0,
        max_kept_rows: int = 500_000,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = path
        self.commit_interval = commit_interval
        self.batch_rows = batch_rows
        self.retry_interval = retry_interval
        self.keep_seconds = keep_seconds
        self.max_kept_rows = max_kept_rows
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = conn
        self._applier = Applier(conn)
        self._queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._submitted = 0  # sample rows handed to add_tick (under _lock)
        self._system_t: dict[int, float] = {}  # newest system reading queued, per recording
        # Writer-thread state; other threads only read these numbers.
        self._pending: deque[DataOp] = deque()
        self._pending_rows = 0
        self._pending_since: float | None = None
        self._newest_t = float("-inf")
        self._waiters: list[_Flush] = []
        self._written = 0
        self._dropped = 0
        self._commits = 0
        self._failures = 0
        self._degraded = False
        self._degraded_since = 0.0
        self._next_retry = 0.0
        self._last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="memlens-store", daemon=True)
        self._thread.start()

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = True,
        migrations: Sequence[Migration] = MIGRATIONS,
        commit_interval: float = 0.5,
        batch_rows: int = 5000,
        retry_interval: float = 2.0,
        keep_seconds: float = 600.0,
        max_kept_rows: int = 500_000,
        busy_timeout: float = 5.0,
    ) -> Store:
        """Open (creating or migrating) the recording file at `path` for writing.

        Raises NotARecording, NewerSchema, CorruptRecording or StoreUnwritable, each
        naming the file. `migrations` is for tests of the migration mechanism.
        """
        path = Path(path).expanduser()
        if existing_file(path, writing=True):
            sniff(path)
        elif not create:
            raise NotARecording(f"{path}: no such recording file")
        else:
            make_parent(path)
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(path, busy_timeout=busy_timeout, create=create)
            check(conn, path, latest=len(migrations))  # before changing anything in it
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreUnwritable(f"cannot write the recording {path}: WAL mode refused")
            migrate(conn, path, migrations=migrations)  # takes the write lock: a write test
        except sqlite3.Error as e:
            if conn is not None:
                conn.close()
            raise translate(path, e, writing=True) from None
        except MemlensError:
            if conn is not None:
                conn.close()
            raise
        return cls(
            path,
            conn,
            commit_interval=commit_interval,
            batch_rows=batch_rows,
            retry_interval=retry_interval,
            keep_seconds=keep_seconds,
            max_kept_rows=max_kept_rows,
            busy_timeout=busy_timeout,
        )

    # -- the API the sampler and the CLI use -------------------------------------------

    def begin_recording(
        self,
        *,
        name: str,
        command: str | None,
        interval: float,
        host: str,
        started: float | None = None,
        judged_with: Mapping[str, Any] | None = None,
    ) -> int:
        """Start a recording and return its id. Synchronous: the id comes from the file,
        so two memlens processes sharing one file never hand out the same id. `command`
        is redacted again here (it is idempotent), so no caller can store a secret."""
        row = (
            name,
            time.time() if started is None else started,
            None if command is None else redact_command(command),
            host,
            interval,
            __version__,
            None if judged_with is None else json.dumps(judged_with),
        )
        op = _Begin(row)
        self._put(op)
        if not op.done.wait(max(self.busy_timeout * 2, 10.0)):
            raise StoreUnwritable(f"cannot write the recording {self.path}: the writer is stuck")
        if op.error is not None:
            raise translate(self.path, op.error, writing=True)
        assert op.recording_id is not None
        return op.recording_id

    def add_target(self, recording_id: int, target: Target) -> None:
        """Insert or update the target (by key). Queued."""
        self._put(TargetOp(recording_id, target_row(target)))

    update_target = add_target

    def set_memory_limit(self, recording_id: int, key: str, t: float, limit: int) -> None:
        """Keep the memory limit a target has, for judging its leak later. Queued."""
        self._put(LimitOp(recording_id, key, t, int(limit)))

    def add_tick(self, recording_id: int, tick: Tick) -> None:
        """Queue one round of samples (and its new targets and exits). Never blocks."""
        exits = tuple(
            (
                target_row(target),
                tick.time if target.exit_time is None else target.exit_time,
                json.dumps(
                    {
                        "exit_code": target.exit_code,
                        "exit_reason": target.exit_reason,
                        "pid": target.pid,
                        "name": target.name,
                    }
                ),
            )
            for target in tick.exits
        )
        new = tuple(target_row(target) for target in tick.new_targets)
        system = None
        with self._lock:
            # A tick repeats the last system reading until the next one is due (see the
            # sampler): each reading is written once.
            reading = tick.system
            if reading is not None and reading.t > self._system_t.get(recording_id, -math.inf):
                self._system_t[recording_id] = reading.t
                system = SystemOp.of(recording_id, reading)
            self._submitted += len(tick.samples) + len(exits) + (system is not None)
        self._put(TickOp(recording_id, tick.time, tick.samples, new, exits, system))

    def add_maps(self, recording_id: int, key: str, sample: MapSample) -> None:
        """Queue one reading of a target's memory map. Never blocks."""
        op = MapsOp.of(recording_id, key, sample)  # JSON encoded here: bad data fails here
        with self._lock:
            self._submitted += 1
        self._put(op)

    def add_heap_profile(
        self,
        recording_id: int,
        key: str,
        t: float,
        row: tuple[int, int, int, bytes],
        drop: Sequence[float] = (),
    ) -> None:
        """Queue one heap profile of a target (pid, stacks, in-use bytes, the profile's
        compressed JSON), deleting that target's profiles at the times in `drop`."""
        with self._lock:
            self._submitted += 1
        self._put(HeapOp(recording_id, key, t, row, tuple(drop)))

    def add_event(
        self,
        recording_id: int,
        kind: str,
        t: float,
        data: dict[str, Any],
        target_key: str | None = None,
    ) -> None:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(EVENT_KINDS)}")
        encoded = json.dumps(data)
        with self._lock:
            self._submitted += 1
        self._put(EventOp(recording_id, kind, t, encoded, target_key))

    def end_recording(
        self, recording_id: int, *, ended: float, exit_code: int | None = None
    ) -> None:
        self._put(EndOp(recording_id, ended, exit_code))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything queued so far is committed; StoreUnwritable if it is not
        within `timeout` (the store is degraded, or far behind)."""
        if self._closed:
            return
        op = _Flush()
        self._put(op)
        if not op.done.wait(timeout):
            reason = self._last_error or f"{self.status()['queued']} rows still queued"
            raise StoreUnwritable(
                f"cannot write the recording {self.path} within {timeout:g} s: {reason}"
            )

    def close(self, timeout: float = 5.0) -> None:
        """Flush (waiting up to `timeout` for a degraded store to recover), then stop the
        writer. What could not be written by then is lost, with a warning. Idempotent."""
        if self._closed:
            return
        try:
            self.flush(timeout)
        except StoreUnwritable as e:
            log.warning("%s", e)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_Stop())
        self._thread.join(timeout + self.busy_timeout)
        if self._thread.is_alive():
            log.warning("the writer of %s did not stop within %g s", self.path, timeout)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> dict[str, Any]:
        """The writer's counters, in rows (a sample or an event is one row).

        queued: handed over and neither written nor dropped yet; written: committed;
        kept: held in memory while degraded; dropped: given up on to bound that memory
        (or unwritable at close); rejected: refused by SQLite as bad data.
        """
        rejected = self._applier.rejected
        done = self._written + self._dropped + rejected
        return {
            "path": str(self.path),
            "queued": max(0, self._submitted - done),
            "written": self._written,
            "commits": self._commits,
            "failures": self._failures,
            "kept": self._pending_rows if self._degraded else 0,
            "dropped": self._dropped,
            "rejected": rejected,
            "last_error": self._last_error,
            "degraded": self._degraded,
        }

    def _put(self, op: _Op) -> None:
        if self._closed:
            raise RuntimeError(f"the store {self.path} is closed")
        self._queue.put(op)

    # -- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        running = True
        while running:
            try:
                running = self._step()
            except Exception as e:  # the writer must outlive any surprise
                log.exception("the writer of %s failed; it goes on", self.path)
                self._last_error = _one_line(e)
                time.sleep(min(self.retry_interval, 1.0))
        self._shutdown()

    def _wait_time(self) -> float | None:
        now = time.monotonic()
        if self._degraded:
            return max(0.0, self._next_retry - now)
        if self._pending_since is not None:
            return max(0.0, self._pending_since + self.commit_interval - now)
        return None

    def _step(self) -> bool:
        """Take what is queued, commit when due; False once told to stop."""
        try:
            op: _Op | None = self._queue.get(timeout=self._wait_time())
        except queue.Empty:
            op = None
        stop = urgent = False
        while op is not None:
            if isinstance(op, _Stop):
                stop = urgent = True
            elif isinstance(op, _Flush):
                self._waiters.append(op)
                urgent = True
            elif isinstance(op, _Begin):
                self._begin(op)
            elif isinstance(op, TickOp):
                self._newest_t = max(self._newest_t, op.t)
                for part in op.expand():
                    self._keep(part)
            else:
                self._keep(op)
            if self._pending_rows >= self.batch_rows and not self._degraded:
                break
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                op = None
        now = time.monotonic()
        if self._degraded:
            if stop or now >= self._next_retry:
                self._commit()
            if self._degraded:
                self._trim()
        elif self._pending and (
            urgent
            or self._pending_rows >= self.batch_rows
            or (
                self._pending_since is not None
                and now - self._pending_since >= self.commit_interval
            )
        ):
            self._commit()
        elif not self._pending:
            self._release_waiters()
        return not stop

    def _keep(self, op: DataOp) -> None:
        self._pending.append(op)
        self._pending_rows += op.rows
        if self._pending_since is None:
            self._pending_since = time.monotonic()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:  # reopened after a failure: an I/O error can leave it unusable
            self._conn = connect(self.path, busy_timeout=self.busy_timeout, create=False)
            self._applier.conn = self._conn
        return self._conn

    def _begin(self, op: _Begin) -> None:
        try:
            self._connection()
            op.recording_id = self._applier.begin_recording(op.row)
        except sqlite3.Error as e:
            op.error = e
            self._drop_connection()
        finally:
            op.done.set()

    def _commit(self) -> None:
        ops = list(self._pending)
        rejected = self._applier.rejected
        try:
            self._connection()
            self._applier.write(ops)
        except sqlite3.Error as e:
            self._failed(e)
            return
        self._pending.clear()
        # Rows handed over, not rows added: a duplicate (target, t) is ignored, not queued.
        self._written += self._pending_rows - (self._applier.rejected - rejected)
        self._pending_rows = 0
        self._pending_since = None
        self._commits += 1
        if self._degraded:
            self._degraded = False
            log.warning(
                "writing %s again after %.0f s; %d rows were dropped meanwhile",
                self.path,
                time.monotonic() - self._degraded_since,
                self._dropped,
            )
        self._release_waiters()

    def _failed(self, error: sqlite3.Error) -> None:
        self._failures += 1
        self._last_error = _one_line(error)
        self._next_retry = time.monotonic() + self.retry_interval
        self._drop_connection()
        if not self._degraded:
            self._degraded = True
            self._degraded_since = time.monotonic()
            log.warning(
                "cannot write %s (%s); keeping up to %g s of samples in memory and "
                "retrying every %g s",
                self.path,
                self._last_error,
                self.keep_seconds,
                self.retry_interval,
            )

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _trim(self) -> None:
        """Bound what a degraded store keeps: the newest `keep_seconds` of samples, at
        most `max_kept_rows`; targets, exits and the end of a recording are always kept."""
        excess = self._pending_rows - self.max_kept_rows
        horizon = self._newest_t - self.keep_seconds
        first = next((op for op in self._pending if isinstance(op, SamplesOp | SystemOp)), None)
        if excess <= 0 and (first is None or first.t >= horizon):
            return
        kept: deque[DataOp] = deque()
        for op in self._pending:
            old = isinstance(op, SamplesOp | SystemOp) and op.t < horizon
            if isinstance(op, SamplesOp | SystemOp | EventOp) and (excess > 0 or old):
                excess -= op.rows
                self._dropped += op.rows
                self._pending_rows -= op.rows
                continue
            kept.append(op)
        self._pending = kept

    def _release_waiters(self) -> None:
        for waiter in self._waiters:
            waiter.done.set()
        self._waiters.clear()

    def _shutdown(self) -> None:
        if self._pending:
            lost = self._pending_rows
            self._dropped += lost
            log.warning("%d rows could not be written to %s: %s", lost, self.path, self._last_error)
        self._release_waiters()
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")
            self._drop_connection()


def redact_command(command: str) -> str:
    try:
        args = shlex.split(command)
    except ValueError:  # unbalanced quotes: split on blanks rather than store it raw
        args = command.split()
    return redact_cmdline(args)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
