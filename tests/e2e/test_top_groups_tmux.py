"""`memlens top` watching 300 real `sleep` processes, in tmux at 80×24: the list shows
them as one group of 300, `/` and a PID finds that one process, and the list sorts by
RSS and by growth as two real allocating children say. Keys are typed with send-keys
and the screen read with capture-pane, as a person at an 80×24 terminal would."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from e2e.test_tui_tmux import Tmux, assert_ended_cleanly
from helpers import Allocator
from memlens.tui.listing import LIST_HELP

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None or shutil.which("sleep") is None,
    reason="tmux and sleep are needed",
)
SIZE = (80, 24)
SLEEPS = 300


class Sleeps:
    """300 `sleep` processes whose command line no other process has (a unique
    fractional duration), so `--name` matches these and no other sleep on the machine."""

    def __init__(self, count: int) -> None:
        self.arg = f"3600.{uuid.uuid4().int % 10**9:09d}"
        self.procs: list[subprocess.Popen[bytes]] = []
        try:
            for _ in range(count):
                self.procs.append(subprocess.Popen(["sleep", self.arg]))
        except BaseException:
            self.stop()
            raise

    @property
    def pattern(self) -> str:
        return re.escape(f"sleep {self.arg}")

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()


@pytest.fixture
def term() -> Iterator[Tmux]:
    """A tmux server of the test's own, killed at the end (with memlens in it)."""
    server = Tmux()
    yield server
    subprocess.run(["tmux", "-L", server.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def sleeps() -> Iterator[Sleeps]:
    started = Sleeps(SLEEPS)
    try:
        yield started
    finally:
        started.stop()


def top(*args: str) -> list[str]:
    return [sys.executable, "-m", "memlens", "top", *args, "--interval", "0.5"]


def key(term: Tmux, *keys: str) -> None:
    term("send-keys", "-t", "top", *keys)


def members(screen: str, pids: tuple[int, ...]) -> list[int]:
    """The PIDs among `pids` listed on the screen, in the order listed."""
    found = re.findall(r"^[> ] +\S+ +(\d+) ", screen, re.MULTILINE)
    return [int(p) for p in found if int(p) in pids]


def growth_of(screen: str, pid: int) -> str | None:
    """The growth cell of the row of `pid`: '+1.2 MB/min', or '–' while unknown."""
    found = re.search(rf"^[> ] +\S+ +{pid} +[\d.]+ [KMG]?B +(\S+(?: \S+)?) ", screen, re.M)
    return found.group(1) if found else None


def grows(cell: str | None) -> bool:
    """Whether a growth cell says the memory grew: '+2.1 MB/min', not '+0.0 MB/h'."""
    found = re.fullmatch(r"\+([\d.]+) MB/(?:s|min|h)", cell or "")
    return found is not None and float(found.group(1)) > 0


def test_300_sleeps_are_one_group_and_slash_finds_one_by_pid(
    term: Tmux,
    sleeps: Sleeps,
) -> None:
    term.start(top("--name", sleeps.pattern), SIZE)
    term.wait("the group of 300", lambda: "▾ sleep ×300" in term.screen())
    screen = term.screen()
    assert "memlens top · 300 targets · 1 group ·" in screen
    assert screen.rstrip().splitlines()[-1] == LIST_HELP  # the keys, on the last line
    assert re.search(r"^  name +PID +RSS▼ ", screen, re.M)  # sorted by RSS, largest first
    assert len(members(screen, tuple(p.pid for p in sleeps.procs))) >= 15  # a screenful

    wanted = sleeps.procs[SLEEPS // 2].pid
    key(term, "/")
    key(term, "-l", str(wanted))
    term.wait("the match", lambda: re.search(rf"^> +sleep +{wanted} ", term.screen(), re.M))
    screen = term.screen()
    assert "▾ sleep 1/300" in screen  # its group, with the one match under it
    assert f"1 of 300 match “{wanted}”" in screen
    assert members(screen, tuple(p.pid for p in sleeps.procs)) == [wanted]

    key(term, "Enter")  # keeps the search, closes the box
    key(term, "Enter")  # opens the target
    term.wait(
        "its own view", lambda: f"memlens top · sleep (PID {wanted}) running" in term.screen()
    )
    assert term.screen().rstrip().endswith("esc list")

    key(term, "Escape")  # back to the list, still searched
    term.wait("the list again", lambda: "▾ sleep 1/300" in term.screen())
    key(term, "Escape")  # the search cleared, the cursor still on the one found
    term.wait("all of them", lambda: "match" not in term.screen())
    screen = term.screen()
    assert re.search(rf"^> +sleep +{wanted} ", screen, re.M)
    assert len(members(screen, tuple(p.pid for p in sleeps.procs))) >= 15
    key(term, "Home")
    term.wait("the group's line", lambda: "> ▾ sleep ×300" in term.screen())

    key(term, "q")
    assert_ended_cleanly(term)


def test_the_list_sorts_by_rss_and_by_growth_as_the_children_grow(
    term: Tmux,
    sleeps: Sleeps,
) -> None:
    first, second = Allocator(), Allocator()
    try:
        # The one that is bigger is the one whose key comes last, so an order that
        # only followed names and keys would put it second.
        small, big = sorted((first, second), key=lambda a: str(a.pid))
        big.alloc(128)
        pids = (small.pid, big.pid)
        term.start(top(str(first.pid), str(second.pid), "--name", sleeps.pattern), SIZE)
        term.wait("the list", lambda: "▸ sleep ×300" in term.screen())
        key(term, "/")  # the two children, out of the 302 targets
        key(term, "-l", "python")
        term.wait("both children", lambda: len(members(term.screen(), pids)) == 2)
        key(term, "Enter")
        assert members(term.screen(), pids) == [big.pid, small.pid]  # RSS▼

        small.alloc(48)  # now the one that grows, and still the smaller
        key(term, "c")  # sort by growth
        term.wait(
            "the growth of both, the growing one first",
            lambda: (
                re.search(r"growth▼", term.screen())
                and grows(growth_of(term.screen(), small.pid))
                and (growth_of(term.screen(), big.pid) or "–") != "–"
                and members(term.screen(), pids) == [small.pid, big.pid]
            ),
        )
        assert small.vmrss() < big.vmrss()  # not the RSS order
        key(term, "r")  # reversed: the steady one first
        term.wait(
            "the reversed order",
            lambda: (
                "growth▲" in term.screen() and members(term.screen(), pids) == [big.pid, small.pid]
            ),
        )
        key(term, "q")
        assert_ended_cleanly(term)
    finally:
        first.stop()
        second.stop()
