"""The mark spool on a real file system: `post` reaches the inboxes that watch the PID,
and an inbox takes only the files memlens wrote for it (ours, small, named by memlens);
a spool directory another user could write to, or that is not a real directory, is
never used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memlens.errors import AccessDenied
from memlens.watch import mark_spool
from memlens.watch.mark_spool import MAX_FILE, MAX_PENDING, Inbox, post, spool_dir

AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")


@pytest.fixture
def other_watch() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose PID names an inbox, as a running watch's does."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield child
    child.kill()
    child.wait(10)


def test_a_mark_reaches_each_inbox_that_watches_the_pid_and_no_other(
    runtime: Path, other_watch: subprocess.Popen[bytes]
) -> None:
    mine = Inbox.open()
    theirs = Inbox(mine.path.parent, owner=other_watch.pid)
    mine.watch([111, 222])
    theirs.watch([222])
    assert post(222, "batch 2 \x1b[31m", t=1000.0) == (2, 0)
    taken_mine, taken_theirs = mine.take(), theirs.take()
    assert taken_mine[0].t > 1000.0  # a time far from now is taken as now
    assert [(m.pid, m.text) for m in taken_mine] == [(222, "batch 2 \x1b[31m")]
    assert [(m.pid, m.text) for m in taken_theirs] == [(222, "batch 2 \x1b[31m")]
    assert post(111, "only mine") == (1, 0)
    assert [m.text for m in mine.take()] == ["only mine"]
    assert theirs.take() == []
    assert post(333, "nobody") == (0, 0)
    # Taken files are gone; the spool lives in the private runtime directory, mode 0700.
    assert os.listdir(mine.path) == ["watching"]
    assert mine.path.parent == runtime / "memlens" / "marks"
    assert (runtime / "memlens").stat().st_mode & 0o777 == 0o700
    mine.close()
    assert not mine.path.exists()


def test_an_inbox_of_a_watch_that_is_gone_is_swept_by_the_next_post(runtime: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(10)
    stale = Inbox(spool_dir(create=True) or runtime, owner=gone.pid)
    stale.watch([444])
    assert post(444, "to no one") == (0, 0)
    assert not stale.path.exists()


def test_a_full_inbox_is_skipped(runtime: Path) -> None:
    inbox = Inbox.open()
    inbox.watch([555])
    for i in range(MAX_PENDING):
        assert post(555, f"mark {i}") == (1, 0)
    assert post(555, "one too many") == (0, 1)
    assert len(inbox.take()) == MAX_PENDING
    inbox.close()


def _drop(inbox: Inbox, name: str, body: bytes) -> Path:
    path = inbox.path / name
    path.write_bytes(body)
    path.chmod(0o600)
    return path


GOOD_NAME = "m-1-0123456789abcdef.json"


def _body(text: str, pid: int = 777) -> bytes:
    return json.dumps({"pid": pid, "t": 0, "text": text}).encode()


@AS_ROOT
def test_a_file_of_another_user_is_deleted_unread(runtime: Path) -> None:
    inbox = Inbox.open()
    path = _drop(inbox, GOOD_NAME, _body("injected"))
    os.chown(path, 65534, 65534)
    assert inbox.take() == []
    assert inbox.refused == 1
    assert not path.exists()
    inbox.close()


def test_oversized_misnamed_linked_and_malformed_files_are_refused(
    runtime: Path, tmp_path: Path
) -> None:
    inbox = Inbox.open()
    big = _drop(inbox, "m-2-0123456789abcdef.json", _body("x" * 10) + b" " * MAX_FILE)
    wrong = _drop(inbox, "evil.json", _body("misnamed"))
    outside = tmp_path / "outside.json"
    outside.write_bytes(_body("through a link"))
    link = inbox.path / "m-3-0123456789abcdef.json"
    link.symlink_to(outside)
    hard = inbox.path / "m-4-0123456789abcdef.json"
    os.link(outside, hard)  # two links: it is also somewhere else
    fifo = inbox.path / "m-5-0123456789abcdef.json"
    os.mkfifo(fifo, 0o600)  # would block a plain open
    bad = [
        _drop(inbox, "m-6-0123456789abcdef.json", b"\xff\xfe not json"),
        _drop(inbox, "m-7-0123456789abcdef.json", _body("x" * 1001)),
        _drop(inbox, "m-8-0123456789abcdef.json", _body("pid", pid=0)),
        _drop(inbox, "m-9-0123456789abcdef.json", b"[1, 2]"),
    ]
    good = _drop(inbox, GOOD_NAME, _body("kept \x07"))
    [mark] = inbox.take()
    assert (mark.pid, mark.text) == (777, "kept \x07")
    assert inbox.refused == 9
    for path in (big, wrong, link, hard, fifo, good, *bad):
        assert not os.path.lexists(path)
    assert outside.read_bytes() == _body("through a link")  # the link's target untouched
    inbox.close()


def test_a_spool_directory_others_could_write_to_is_refused(runtime: Path) -> None:
    base = runtime / "memlens"
    base.mkdir(mode=0o700)
    base.chmod(0o777)
    with pytest.raises(AccessDenied, match="not a private directory"):
        Inbox.open()
    with pytest.raises(AccessDenied):
        post(1, "anything")
    base.chmod(0o700)
    (base / "marks").symlink_to(runtime)
    with pytest.raises(AccessDenied):
        Inbox.open()


@AS_ROOT
def test_a_spool_directory_of_another_user_is_refused(runtime: Path) -> None:
    base = runtime / "memlens"
    base.mkdir(mode=0o700)
    os.chown(base, 65534, 65534)
    with pytest.raises(AccessDenied):
        Inbox.open()


def test_without_a_private_runtime_directory_the_spool_is_in_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(mark_spool.tempfile, "gettempdir", lambda: str(private))
    assert spool_dir(create=True) == private / f"memlens-{os.geteuid()}" / "marks"
    assert not (shared / "memlens").exists()
