"""Where recordings live, and what a file on disk is before SQLite is asked about it.

SQLite's own errors are vague about *why* a file cannot be read ("file is not a
database" means a text file and a half-copied recording alike), so this module looks at
the 100-byte header itself and turns OS and SQLite errors into memlens errors, once, for
both the writer and the readers.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import struct
from pathlib import Path
from typing import BinaryIO

from memlens.errors import CorruptRecording, MemlensError, NotARecording, StoreUnwritable

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100

_CORRUPT = ("malformed", "file is not a database", "database corrupt")


def default_db_path() -> Path:
    """`$MEMLENS_DB`, else `$XDG_DATA_HOME/memlens/memlens.db` (XDG's default applies)."""
    explicit = os.environ.get("MEMLENS_DB")
    if explicit:
        return Path(explicit).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "memlens" / "memlens.db"


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _not_regular(path: Path, mode: int) -> str | None:
    """Why what is at `path` cannot be a recording, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    what = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"{path} is {what}: memlens reads and writes only regular files"


def existing_file(path: Path, *, writing: bool) -> bool:
    """Whether a recording file is at `path`, looked at before anything opens it.

    Anything there that is not a regular file is refused: SQLite (and `open`) would block
    for ever on a FIFO and fail obscurely on a directory or a device. A path memlens may
    not even look at (a directory of another user on the way) is refused in one line
    too, rather than a PermissionError escaping as a traceback.
    """
    error = StoreUnwritable if writing else NotARecording
    verb = "write" if writing else "read"
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        raise error(f"cannot {verb} the recording {path}: {e.strerror or e}") from None
    why = _not_regular(path, mode)
    if why is not None:
        raise error(why)
    return True


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading, refused unless it is a regular file. The open does not
    block on a FIFO (O_NONBLOCK) and the check is on what was opened (fstat), so a file
    swapped for a FIFO in between cannot hang the reader."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARecording(_not_regular(path, mode) or "")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def sniff(path: Path) -> None:
    """Refuse a file that is not SQLite, or that is visibly cut short, before SQLite opens it.

    A SQLite file whose header-declared size is larger than the file is truncated (a
    partial copy, a full disk during `cp`). The check is skipped while a `-wal` file holds
    frames: then the newest header may live in the WAL, not in the main file.
    """
    try:
        with open_regular(path) as f:
            header = f.read(HEADER_SIZE)
            size = os.fstat(f.fileno()).st_size
    except IsADirectoryError:
        raise NotARecording(f"{path} is a directory, not a memlens recording") from None
    except FileNotFoundError:
        return
    except OSError as e:
        raise NotARecording(f"{path} cannot be read: {e.strerror}") from None
    if not header:
        return  # an empty file is an empty SQLite database; the schema check decides
    if header[:16] != SQLITE_MAGIC and not (len(header) < 16 and SQLITE_MAGIC.startswith(header)):
        raise NotARecording(f"{path} is not a memlens recording (not an SQLite database)")
    if len(header) < HEADER_SIZE:
        raise CorruptRecording(f"{path} is a truncated SQLite file ({size} bytes)")
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, page_count = struct.unpack(">II", header[24:32])
    valid_for = struct.unpack(">I", header[92:96])[0]
    if _wal_has_frames(path):
        return
    if page_size < 512 or size % page_size:
        raise CorruptRecording(f"{path} is truncated or damaged ({size} bytes, not whole pages)")
    if page_count and change_counter == valid_for and page_count * page_size > size:
        raise CorruptRecording(
            f"{path} is truncated: its header declares {page_count * page_size} bytes, "
            f"the file has {size}"
        )


def _wal_has_frames(path: Path) -> bool:
    try:
        return Path(f"{path}-wal").stat().st_size > 32  # a WAL header alone is 32 bytes
    except OSError:
        return False


def make_parent(path: Path) -> None:
    """Create the directory a new recording goes in, or say in one line why not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreUnwritable(
            f"cannot create {path.parent} for the recording {path.name}: "
            f"{e.strerror or e} ({errno.errorcode.get(e.errno or 0, 'error')})"
        ) from None
    if not path.parent.is_dir():
        raise StoreUnwritable(f"cannot create {path}: {path.parent} is not a directory")


def location_is_read_only(path: Path) -> bool:
    """Whether nothing can write next to `path` (read-only mount, or no permission)."""
    directory = path.parent
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return not os.access(directory, os.W_OK)


def translate(path: Path, exc: sqlite3.Error, *, writing: bool) -> MemlensError:
    """The memlens error for an SQLite error on `path`, its message one line naming it."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    lowered = text.lower()
    if "not a database" in lowered and not _looks_like_sqlite(path):
        return NotARecording(f"{path} is not a memlens recording (not an SQLite database)")
    if any(word in lowered for word in _CORRUPT):
        return CorruptRecording(f"{path} is damaged or truncated: {text}")
    if writing and "unable to open" in lowered and location_is_read_only(path):
        why = (
            f"permission denied in {path.parent}"
            if _mounted_writable(path)
            else f"{path.parent} is read-only"
        )
        return StoreUnwritable(f"cannot write the recording {path}: {why} ({text})")
    if writing:  # read-only, permission, full disk, I/O error, locked past the timeout
        return StoreUnwritable(f"cannot write the recording {path}: {text}")
    if "unable to open" in lowered:
        return NotARecording(f"{path} cannot be opened: {text}")
    if "disk i/o error" in lowered:
        return CorruptRecording(f"{path} is damaged or truncated: {text}")
    return MemlensError(f"{path} cannot be read: {text}")  # busy, locked, out of memory


def _mounted_writable(path: Path) -> bool:
    try:
        return not os.statvfs(path.parent).f_flag & os.ST_RDONLY
    except OSError:
        return True


def _looks_like_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False
