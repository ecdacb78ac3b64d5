"""The spool through which `memlens mark PID TEXT` reaches every running watch of PID.

Each running watch (a `Session` that was started) keeps an inbox: a directory named by
its own PID under a private spool, holding `watching` (the PIDs it watches, as JSON)
and the marks posted to it, one small file each. `memlens mark` writes one file into the
inbox of every watch whose `watching` names the PID; the watch takes them (reads, checks,
deletes) about twice a second and routes each like a program's mark.

Another local user must not be able to set marks in someone's watch, so:
- the spool is `$XDG_RUNTIME_DIR/memlens/marks` when that runtime directory is ours and
  private, else `$TMPDIR/memlens-UID/marks`; every directory on the way that memlens
  makes is mode 0700, and one that is not a real directory (a symlink), not ours, or
  open to others is refused, never repaired or followed;
- a mark file is opened without following links and taken only when it is a regular
  file of ours with one link, at most `MAX_FILE` bytes, with a name memlens gives
  (`m-<ns>-<hex>.json`); anything else is deleted unread and counted as refused;
- an inbox holds at most `MAX_PENDING` marks: the poster skips a full one.
The text is the user's: it is kept as is, and made visible wherever it is shown.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from memlens.errors import AccessDenied

log = logging.getLogger(__name__)

MAX_TEXT = 1000  # characters of a mark's text (as memlens.api.marks)
MAX_FILE = 8192  # bytes of one mark file: 1,000 characters escaped as \uXXXX, and a margin
MAX_WATCHING = 65536  # bytes of an inbox's `watching` file
MAX_PENDING = 64  # marks waiting in one inbox
MAX_INBOXES = 256  # inboxes a poster looks at
STALE_TEMP_S = 60.0  # a half-written file older than this is left over from a crash
MARK_NAME = re.compile(r"m-[0-9]{1,20}-[0-9a-f]{16}\.json")
TEMP_NAME = re.compile(r"t-[0-9]{1,20}-[0-9a-f]{16}")
WATCHING = "watching"


@dataclass(frozen=True)
class ShellMark:
    pid: int
    t: float
    text: str


def spool_dir(*, create: bool) -> Path | None:
    """The private directory that holds the inboxes; None when it does not exist and
    `create` is false. AccessDenied when a directory on the way is not safe to use."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base: Path | None = None
    if runtime and os.path.isabs(runtime) and _is_private(Path(runtime)):
        base = Path(runtime) / "memlens"
    if base is None:
        base = Path(tempfile.gettempdir()) / f"memlens-{os.geteuid()}"
    for path in (base, base / "marks"):
        if not _private_dir(path, create=create):
            return None
    return base / "marks"


def _is_private(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077


def _private_dir(path: Path, *, create: bool) -> bool:
    """Whether `path` is a private directory of ours (made, mode 0700, when `create`)."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise AccessDenied(
            f"{path} is not a private directory of this user (mode 0700, not a link): "
            "memlens will not use it for marks"
        )
    return True


class Inbox:
    """One watch's inbox: where `memlens mark` leaves the marks for the PIDs it watches."""

    def __init__(self, spool: Path, owner: int | None = None) -> None:
        self.path = spool / str(os.getpid() if owner is None else owner)
        self.refused = 0  # files deleted unread: not ours, too large, or malformed
        self._pids: frozenset[int] | None = None
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.path, 0o700)
        _private_dir(self.path, create=False)

    @classmethod
    def open(cls) -> Inbox:
        spool = spool_dir(create=True)
        assert spool is not None
        return cls(spool)

    def watch(self, pids: Iterable[int]) -> None:
        """Say which PIDs this watch watches now (rewritten only when they change)."""
        now = frozenset(pids)
        if now == self._pids:
            return
        _write_new(self.path, WATCHING, json.dumps({"pids": sorted(now)}).encode())
        self._pids = now

    def take(self, now: float | None = None) -> list[ShellMark]:
        """The marks posted since the last call, oldest first; each file is deleted."""
        now = time.time() if now is None else now
        _private_dir(self.path, create=False)
        marks: list[ShellMark] = []
        for name in sorted(os.listdir(self.path)):
            if name == WATCHING:
                continue
            path = self.path / name
            if TEMP_NAME.fullmatch(name):
                if _older_than(path, now - STALE_TEMP_S):
                    _remove(path)
                continue
            mark = _read_mark(path, now) if MARK_NAME.fullmatch(name) else None
            _remove(path)
            if mark is None:
                self.refused += 1
                log.warning("refused a mark file in %s: %r", self.path, name[:80])
                continue
            marks.append(mark)
        marks.sort(key=lambda m: m.t)
        return marks

    def close(self) -> None:
        """Remove the inbox and whatever is left in it."""
        _remove_inbox(self.path)


def post(pid: int, text: str, t: float | None = None) -> tuple[int, int]:
    """Leave a mark for PID in the inbox of every running watch of it; returns (the
    watches it was left for, the watches whose inbox was full)."""
    spool = spool_dir(create=False)
    if spool is None:
        return 0, 0
    body = json.dumps({"pid": pid, "t": time.time() if t is None else t, "text": text[:MAX_TEXT]})
    sent = full = 0
    for name in sorted(os.listdir(spool))[:MAX_INBOXES]:
        if not name.isdigit():
            continue
        inbox = spool / name
        if not _alive(int(name)):
            _sweep(inbox)
            continue
        try:
            _private_dir(inbox, create=False)
            pids = _watched(inbox / WATCHING)
        except AccessDenied:
            log.warning("skipped the inbox %s: not a private directory of ours", inbox)
            continue
        if pid not in pids:
            continue
        if sum(1 for n in os.listdir(inbox) if MARK_NAME.fullmatch(n)) >= MAX_PENDING:
            full += 1
            continue
        _write_new(inbox, f"m-{time.time_ns()}-{secrets.token_hex(8)}.json", body.encode())
        sent += 1
    return sent, full


def _watched(path: Path) -> frozenset[int]:
    data = _read_own(path, MAX_WATCHING)
    if data is None:
        return frozenset()
    try:
        pids = json.loads(data).get("pids", [])
        return frozenset(p for p in pids if isinstance(p, int) and not isinstance(p, bool))
    except (ValueError, AttributeError, TypeError):
        return frozenset()


def _read_mark(path: Path, now: float) -> ShellMark | None:
    data = _read_own(path, MAX_FILE)
    if data is None:
        return None
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(obj, dict):
        return None
    pid, t, text = obj.get("pid"), obj.get("t"), obj.get("text")
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 1 << 31:
        return None
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return None
    if not isinstance(t, (int, float)) or not math.isfinite(t) or abs(t - now) > 3600:
        t = now  # a clock far off: the mark is for now
    return ShellMark(pid, float(t), text)


def _read_own(path: Path, limit: int) -> bytes | None:
    """The bytes of a regular file of ours with one link, when at most `limit`; None
    for anything else (a link, a FIFO, another user's file, a larger one)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_nlink != 1:
            return None
        if st.st_size > limit:
            return None
        data = os.read(fd, limit + 1)
        return None if len(data) > limit else data
    except OSError:
        return None
    finally:
        os.close(fd)


def _write_new(directory: Path, name: str, data: bytes) -> None:
    """Write `name` whole or not at all: a private temporary file, then a rename."""
    temp = directory / f"t-{time.time_ns()}-{secrets.token_hex(8)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, directory / name)
    except BaseException:
        _remove(temp)
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(inbox: Path) -> None:
    """Remove the inbox of a watch that is gone, when it is ours."""
    try:
        _private_dir(inbox, create=False)
    except AccessDenied:
        return
    _remove_inbox(inbox)


def _remove_inbox(inbox: Path) -> None:
    """An inbox's files (it holds no directories: unlink fails on one), then itself."""
    with contextlib.suppress(OSError):
        for name in os.listdir(inbox):
            _remove(inbox / name)
        os.rmdir(inbox)


def _older_than(path: Path, when: float) -> bool:
    try:
        return os.lstat(path).st_mtime < when
    except OSError:
        return False


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
