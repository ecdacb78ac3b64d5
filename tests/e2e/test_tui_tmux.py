"""`memlens top` in a real terminal: tmux runs it in a pane of its own server, the test
types keys (send-keys) and reads the screen (capture-pane). After `q`, or Ctrl-C, the
process must have ended with status 0 and left the terminal as it found it: the normal
screen (not the alternate one), the cursor shown, mouse reporting off, no traceback.
The shell in the pane outlives memlens (it prints the status, then waits), so tmux's
view of the terminal's modes is the one memlens left."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from helpers import MB, ROOT, Allocator

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None,
    reason="tmux is not installed (scripts/test installs Debian's tmux when it can)",
)
PATIENCE = 30.0  # s: how long to wait for what must happen (never a pass threshold)
HELP = "q quit  p pause  w window  t trace  o objects  +/- interval  s save  tab target"


class Tmux:
    """A tmux server of the test's own (its own socket), so nothing else is touched."""

    def __init__(self) -> None:
        self.socket = f"memlens-test-{uuid.uuid4().hex[:12]}"

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, command: list[str], size: tuple[int, int] = (100, 30)) -> None:
        env = [f"{name}={os.environ[name]}" for name in ("XDG_RUNTIME_DIR", "MEMLENS_DB")]
        self(
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            str(size[0]),
            "-y",
            str(size[1]),
            "-c",
            str(ROOT),
            *[arg for pair in env for arg in ("-e", pair)],
            f'{shlex.join(command)}; echo "memlens-status=$?"; sleep 600',
        )

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "top")

    def pane(self, fmt: str) -> str:
        return self("display-message", "-p", "-t", "top", fmt).strip()

    def wait(self, what: str, check: Callable[[], object]) -> None:
        deadline = time.monotonic() + PATIENCE
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {PATIENCE:.0f} s for {what}:\n{self.screen()}")
            time.sleep(0.1)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux()
    yield server
    subprocess.run(["tmux", "-L", server.socket, "kill-server"], capture_output=True, timeout=10)


def top(pid: int) -> list[str]:
    return [sys.executable, "-m", "memlens", "top", str(pid), "--interval", "0.2"]


def shown_rss(screen: str) -> float | None:
    found = re.search(r"^█ RSS\s+([\d.]+) MB", screen, re.MULTILINE)
    return float(found.group(1)) if found else None


def assert_ended_cleanly(tmux: Tmux) -> None:
    tmux.wait("memlens to end", lambda: "memlens-status=" in tmux.screen())
    screen = tmux.screen()
    assert "memlens-status=0" in screen
    assert "Traceback" not in screen
    assert "memlens top ·" not in screen  # the app's screen is gone with it
    # The terminal as it was: the normal screen, the cursor on, no mouse reporting.
    assert tmux.pane("#{alternate_on} #{cursor_flag} #{mouse_any_flag}") == "0 1 0"


def test_top_in_a_real_terminal_follows_the_child_and_quits_cleanly(
    tmux: Tmux, allocator: Allocator
) -> None:
    tmux.start(top(allocator.pid))
    tmux.wait("the screen", lambda: shown_rss(tmux.screen()) is not None)
    screen = tmux.screen()
    assert HELP in screen
    assert f"(PID {allocator.pid}) running" in screen
    shown = shown_rss(screen)
    assert shown is not None
    assert abs(shown * MB - allocator.vmrss()) < 4 * MB
    allocator.alloc(32)
    tmux.wait("the 32 MB", lambda: (shown_rss(tmux.screen()) or 0) >= shown + 30)

    allocator.command("exit 0")  # the target dies: the screen says so and stays up
    tmux.wait("the exit", lambda: f"(PID {allocator.pid}) EXITED" in tmux.screen())
    assert "· LIVE" in tmux.screen()
    assert "memlens-status=" not in tmux.screen()

    tmux("send-keys", "-t", "top", "q")
    assert_ended_cleanly(tmux)


def test_ctrl_c_ends_top_cleanly(tmux: Tmux, allocator: Allocator) -> None:
    tmux.start(top(allocator.pid))
    tmux.wait("the screen", lambda: shown_rss(tmux.screen()) is not None)
    tmux("send-keys", "-t", "top", "C-c")
    assert_ended_cleanly(tmux)


def test_a_mark_from_the_shell_is_drawn_in_top(tmux: Tmux, allocator: Allocator) -> None:
    tmux.start(top(allocator.pid))
    tmux.wait("the screen", lambda: shown_rss(tmux.screen()) is not None)
    marked = subprocess.run(
        [sys.executable, "-m", "memlens", "mark", str(allocator.pid), "batch <2>\x1b[2J"],
        capture_output=True, text=True, timeout=PATIENCE, cwd=ROOT,
    )  # fmt: skip
    assert marked.returncode == 0, marked.stderr
    assert "in 1 running watch" in marked.stdout
    # The details line lists it, the escape made visible rather than obeyed.
    line = re.compile(r"marks  ▲ \d\d:\d\d:\d\d batch <2>\\x1b\[2J")
    tmux.wait("the mark", lambda: line.search(tmux.screen()))
    tmux("send-keys", "-t", "top", "q")
    assert_ended_cleanly(tmux)
