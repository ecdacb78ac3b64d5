"""A mark written into the store of the recording that watches a process: what `memlens
mark PID TEXT` does from a shell, and `memlens.mark(text)` from a program that `memlens
run` or `check` records (they name their store in MEMLENS_RECORDING_DB); and, in a
program that runs the agent, a mark kept by its agent for whoever watches it.

The recording is the newest one in the store that has not ended and whose target PID
still runs; the mark is a `mark` event (docs/storage.md) written beside the recorder,
which SQLite lets both do.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from memlens.store import RecordingInfo, Store, StoreReader
from memlens.store.files import existing_file

MAX_TEXT = 1000  # characters of a mark's text
ENV = "MEMLENS_RECORDING_DB"  # the store `memlens run` and `check` record their command into


def watching(path: Path, pid: int) -> tuple[RecordingInfo, str] | None:
    """(the recording, the target's key) that records `pid` now in the store at `path`."""
    if not existing_file(path, writing=False):
        return None
    with StoreReader.open(path) as reader:
        for info in reversed(reader.recordings()):
            if info.ended is not None:
                continue
            for target in reader.targets(info.id):
                if target.kind == "process" and target.pid == pid and target.state == "running":
                    return info, target.key
    return None


def mark_in_store(path: Path, pid: int, text: str, source: str) -> RecordingInfo | None:
    """Write the mark; the recording it went to, None when none records `pid`."""
    found = watching(path, pid)
    if found is None:
        return None
    info, key = found
    store = Store.open(path)
    try:
        data = {"text": text[:MAX_TEXT], "source": source, "pid": pid}
        store.add_event(info.id, "mark", time.time(), data, key)
        store.flush()
    finally:
        store.close()
    return info


def mark_own_recording(text: str) -> bool:
    """This process's mark into the store named by MEMLENS_RECORDING_DB, if any."""
    where = os.environ.get(ENV)
    if not where:
        return False
    return mark_in_store(Path(where), os.getpid(), text, "program") is not None


def mark_agent(text: str, recorded_in: str | None = None) -> bool:
    """This process's mark into its agent's ring (memlens.agent.marks), when the agent
    runs here; a viewer's poller reads it from there. The agent is never started for it.
    `recorded_in` names the store the mark is already written to (MEMLENS_RECORDING_DB),
    so that the recorder writing that store does not keep it twice."""
    lifecycle = sys.modules.get("memlens.agent.lifecycle")
    if lifecycle is None or not lifecycle.is_running():
        return False
    from memlens.agent import marks

    marks.add(text[:MAX_TEXT], recorded_in=recorded_in)
    return True


def own_recording() -> str | None:
    """The store `memlens run` or `check` records this process into, as it names it."""
    return os.environ.get(ENV) or None
