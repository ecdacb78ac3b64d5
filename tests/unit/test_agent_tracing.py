"""The agent's grouping of a tracemalloc snapshot gives what Snapshot.statistics gives."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from memlens.agent.tracing import _excluded, group


def _make(i: int) -> dict[str, int]:
    return {"a": i}


@pytest.fixture
def snapshot() -> Iterator[tracemalloc.Snapshot]:
    was = tracemalloc.is_tracing()
    tracemalloc.start(5)
    try:
        kept = [_make(i) for i in range(2000)] + [bytearray(1000) for _ in range(50)]
        yield tracemalloc.take_snapshot()
        del kept
    finally:
        if not was:
            tracemalloc.stop()


@pytest.mark.parametrize("by", ["lineno", "traceback", "filename"])
def test_group_is_statistics(snapshot: tracemalloc.Snapshot, by: str) -> None:
    expected = {
        tuple((f.filename, f.lineno) for f in stat.traceback): (stat.size, stat.count)
        for stat in snapshot.statistics(by)
    }
    assert group(snapshot, by) == expected
    assert any(size >= 2000 * 50 for size, _ in expected.values())


def test_tracemallocs_own_and_unknown_frames_are_left_out() -> None:
    assert _excluded(((tracemalloc.__file__, 10),))
    assert _excluded(())
    assert not _excluded((("app.py", 3),))
