"""A process that names itself with terminal escapes, and whose command line holds more
(a bidi override, Rich markup): every command that shows it prints the escaped form,
never the raw bytes, and the JSON outputs keep the true name.

The child sets its name with prctl(PR_SET_NAME), as any program can; memlens reads it
from /proc, records it, and each command below shows it from the live process or from
the real SQLite recording made of it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from helpers import ROOT, python_child
from integration.test_tui import drive, live_feed, screen_text, until
from memlens.tui import TopApp

EVIL = "\x1b]0;PWN\x07\x1b[31mX"  # retitles the terminal, then paints it red
SHOWN = "\\x1b]0;PWN\\x07\\x1b[31mX"
ARGS = ["\x1b[2J\u202eevil", "[b]M[/b]", "two\nlines"]
PATIENCE = 30.0  # s: how long to wait for what must happen (never a pass threshold)
HIDDEN = ("Cc", "Cf", "Cs", "Zl", "Zp")

CHILD = r"""
import ctypes, sys, time
name = sys.argv[1].encode()
assert ctypes.CDLL(None, use_errno=True).prctl(15, name, 0, 0, 0) == 0  # PR_SET_NAME
held = []
print("ready", flush=True)
while True:
    if len(held) < 200:
        held.append(bytearray(200_000))  # 4 MB/s, up to 40 MB
    time.sleep(0.05)
"""


def memlens(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """The real command line, wide enough that Rich does not fold a name, and with no
    colour forced on: any escape in the output came from the name."""
    return subprocess.run(
        [sys.executable, "-m", "memlens", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        env=_env(),
    )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["COLUMNS"] = "300"
    return env


def assert_clean(text: str) -> None:
    """Nothing a terminal would act on or hide: no control character but the line
    breaks memlens prints, no bidi override, no zero-width character."""
    bad = [ch for ch in text if ch != "\n" and unicodedata.category(ch) in HIDDEN]
    assert not bad, f"raw {bad!r} in {text!r}"


@contextlib.contextmanager
def named_child(name: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A real child that names itself `name` (prctl) and runs with `args`."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", CHILD, name, *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert Path(f"/proc/{proc.pid}/comm").read_bytes() == name.encode() + b"\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.fixture(scope="module")
def evil() -> Iterator[subprocess.Popen[str]]:
    with named_child(EVIL, *ARGS) as proc:
        yield proc


@pytest.fixture(scope="module")
def recorded(
    evil: subprocess.Popen[str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`memlens record` of the child, with a limit it goes above (an alert on stderr)."""
    db = tmp_path_factory.mktemp("escapes") / "evil.db"
    result = memlens(
        "record", str(evil.pid), "-o", str(db), "--duration", "2s",
        "--interval", "0.1", "--max-rss", "1MB",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return db, result


def test_snapshot_shows_the_name_escaped_and_json_keeps_it(evil: subprocess.Popen[str]) -> None:
    result = memlens("snapshot", str(evil.pid))
    assert result.returncode == 0, result.stderr
    assert_clean(result.stdout + result.stderr)
    assert result.stdout.startswith(f"{SHOWN} (PID {evil.pid})")
    as_json = memlens("snapshot", str(evil.pid), "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert_clean(as_json.stdout)
    assert json.loads(as_json.stdout)["name"] == EVIL


def test_record_prints_its_summary_and_alerts_escaped(
    recorded: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, result = recorded
    assert_clean(result.stdout + result.stderr)
    assert f"{SHOWN} (" in result.stdout  # the recording's name, made of the target's
    assert f"{SHOWN} (PID" in result.stderr  # the RSS alert


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["show"], SHOWN),
        (["ls-recordings", "--db"], SHOWN),
        (["analyze"], SHOWN),
        (["leaks"], SHOWN),
        (["report", "--format", "md"], "\\\\x1b\\]0;PWN\\\\x07\\\\x1b\\[31mX"),
        (["check", "--max-rss", "10GB"], SHOWN),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else "",
)
def test_commands_on_the_recording_show_the_name_escaped(
    recorded: tuple[Path, subprocess.CompletedProcess[str]], command: list[str], shown: str
) -> None:
    db, _ = recorded
    result = memlens(*command, str(db))
    assert result.returncode in (0, 1), result.stderr
    assert_clean(result.stdout + result.stderr)
    assert shown in result.stdout


def test_report_md_keeps_the_command_line_in_one_code_span(
    recorded: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    db, _ = recorded
    result = memlens("report", str(db), "--format", "md")
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("- **Command line:**"))
    assert "\\x1b[2J\\u202eevil [b]M[/b] two\\nlines`" in line


def test_analyze_json_keeps_the_true_name_and_path(
    recorded: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """JSON escapes C0 controls itself; a C1 control or a bidi override in a path (or a
    name) it would leave raw, so memlens writes those as \\uXXXX: the same data."""
    db, _ = recorded
    odd = tmp_path / "evil\u202egpj.\x9b.db"
    shutil.copyfile(db, odd)
    result = memlens("analyze", str(odd), "--json")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stdout)
    found = json.loads(result.stdout)
    assert found["file"] == str(odd)
    names = [s["name"] for s in found["series"]]
    assert any(name.startswith(f"{EVIL} (pid ") for name in names), names
    as_text = memlens("analyze", str(odd))
    assert as_text.returncode == 0, as_text.stderr
    assert_clean(as_text.stdout)
    assert "evil\\u202egpj.\\x9b.db" in as_text.stdout


def test_export_and_junit_show_the_name_escaped(
    recorded: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    db, _ = recorded
    exported = memlens("export", str(db), "--format", "json", "-o", str(tmp_path / "x.json"))
    assert exported.returncode == 0, exported.stderr
    assert_clean(exported.stdout + exported.stderr)
    assert SHOWN in exported.stderr
    junit = tmp_path / "check.xml"
    checked = memlens("check", str(db), "--max-rss", "1MB", "--junit", str(junit))
    assert checked.returncode == 1, checked.stderr
    assert_clean(checked.stdout + checked.stderr)
    raw = junit.read_text()
    assert_clean(raw)
    names = [case.get("name", "") for case in ET.parse(junit).getroot().iter("testcase")]
    assert any(SHOWN in name for name in names), names


def test_a_command_line_with_markup_and_bidi_is_shown_as_text(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    command = ["sh", "-c", "sleep 1", "[b]M[/b]", "\x1b[2J\u202e"]
    ran = memlens("run", "--interval", "0.1", "--db", str(db), "--", *command)
    assert ran.returncode == 0, ran.stderr
    assert_clean(ran.stdout + ran.stderr)
    for args in (["show", "last", "--db"], ["ls-recordings", "--db"]):
        result = memlens(*args, str(db))
        assert result.returncode == 0, result.stderr
        assert_clean(result.stdout + result.stderr)
        assert "[b]M[/b] \\x1b[2J\\u202e" in result.stdout, result.stdout


def test_watch_prints_the_name_and_its_alerts_escaped(
    evil: subprocess.Popen[str], tmp_path: Path
) -> None:
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "memlens", "watch", str(evil.pid), "--port", "0",
                "--no-record", "--interval", "0.1", "--max-rss", "1MB",
            ],
            stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=ROOT, env=_env(),
        )  # fmt: skip
        try:
            deadline = time.monotonic() + PATIENCE
            while "(PID" not in err.read_text() or "Ctrl-C" not in out.read_text():
                assert proc.poll() is None, err.read_text()
                assert time.monotonic() < deadline, "no alert from watch"
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=PATIENCE)
    assert_clean(out.read_text() + err.read_text())
    assert f"memlens: watching {SHOWN} (PID {evil.pid})" in out.read_text()
    assert f"{SHOWN} (PID {evil.pid}): RSS" in err.read_text()


AGENT_CHILD = r"""
import sys, time
sys.argv[0] = "[red]A\x1b[31m"  # no slash: the name is what follows the last one
import memlens.agent
memlens.agent.start()
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""


@pytest.mark.usefixtures("private_agents")
def test_ls_shows_an_agents_name_escaped_and_as_text() -> None:
    with python_child(AGENT_CHILD):
        result = memlens("ls")
        assert result.returncode == 0, result.stderr
        assert_clean(result.stdout + result.stderr)
        assert "[red]A\\x1b[31m" in result.stdout
        as_json = memlens("ls", "--json")
        assert [row["name"] for row in json.loads(as_json.stdout)] == ["[red]A\x1b[31m"]


TOP_NAME = "[b]T[/b]\x1b[31mX"  # fits the 15 bytes of a process name


def test_top_shows_the_name_escaped_and_its_markup_as_text() -> None:
    with named_child(TOP_NAME) as proc:
        app = TopApp(live_feed(str(proc.pid), "--interval", "0.1"))

        async def scenario(pilot: Pilot[None]) -> None:
            await until(pilot, "the name", lambda: f"(PID {proc.pid})" in screen_text(app))
            text = screen_text(app)
            assert f"[b]T[/b]\\x1b[31mX (PID {proc.pid}) running" in text
            assert f"[b]T[/b]\\x1b[31mX {proc.pid}" in text  # its tab
            assert_clean(text)

        drive(app, scenario, (120, 30))
