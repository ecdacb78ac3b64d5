"""Writing an output file whole or not at all."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from memlens.errors import OutputUnwritable


def write_atomic(path: str | Path, data: bytes, *, what: str = "") -> Path:
    """A temporary file beside `path`, renamed over it, so a full disk, an interrupt or a
    CI job reading early never sees half a file under the real name. OutputUnwritable
    ("cannot write the WHAT PATH: reason") when it cannot."""
    target = Path(path)
    label = f"the {what} {target}" if what else str(target)
    if target.is_dir():
        raise OutputUnwritable(f"cannot write {label}: it is a directory")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputUnwritable(f"cannot write {label}: {e.strerror or e}") from None
    return target
