"""`--attach` on `watch` and `profile`, and the question asked on a terminal, with real
children that never imported memlens."""

from __future__ import annotations

import argparse
import sys

import pytest

from attachchild import NEEDS_GDB, SLEEPING, THREADED, _python, child
from helpers import MemlensServer, run_memlens
from memlens.agent import find_agent
from memlens.cli._attaching import attach_where_needed

pytestmark = NEEDS_GDB


def test_profile_attach_names_the_childs_function() -> None:
    with child(_python(f"{sys.version_info[0]}.{sys.version_info[1]}"), THREADED) as proc:
        out = run_memlens(
            "profile", str(proc.pid), "--attach", "--kind", "allocated", "--duration", "2s",
            "--interval", "16KiB", timeout=90,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "attached to PID" in out.stderr
        assert "grow_the_cache" in out.stdout
        assert proc.poll() is None


def test_profile_without_attach_off_a_terminal_attaches_nothing() -> None:
    with child(_python("3.12"), SLEEPING) as proc:
        out = run_memlens("profile", str(proc.pid), "--duration", "1s")
        assert out.returncode == 3
        assert "--attach" in out.stderr
        assert find_agent(proc.pid) is None


def test_watch_attach_starts_the_agent_it_then_reads() -> None:
    with child(_python("3.12"), SLEEPING) as proc:
        server = MemlensServer("watch", str(proc.pid), "--attach", "--port", "0", "--no-record")
        try:
            assert find_agent(proc.pid) is not None
            targets = server.get("api/targets").json()["targets"]
            assert [t["pid"] for t in targets] == [proc.pid]
        finally:
            assert server.stop() == 0


@pytest.mark.parametrize(("answer", "attached"), [("y", True), ("", False), ("no", False)])
def test_on_a_terminal_profile_asks_first(answer: str, attached: bool) -> None:
    asked: list[str] = []

    def ask(question: str) -> str:
        asked.append(question)
        return answer

    with child(_python("3.12"), SLEEPING) as proc:
        args = argparse.Namespace(attach=False, agent_token=None)
        attach_where_needed([proc.pid], args, required=True, ask=ask, interactive=True)
        assert len(asked) == 1
        assert f"PID {proc.pid} runs Python 3.12" in asked[0]
        assert (find_agent(proc.pid) is not None) is attached


def test_watch_and_top_never_ask_on_a_terminal() -> None:
    with child(_python("3.12"), SLEEPING) as proc:
        args = argparse.Namespace(attach=False, agent_token=None)
        attach_where_needed([proc.pid], args, ask=pytest.fail, interactive=True)
        assert find_agent(proc.pid) is None


def test_a_process_that_is_not_python_is_not_asked_about() -> None:
    import subprocess

    proc = subprocess.Popen(["sleep", "60"])
    try:
        args = argparse.Namespace(attach=False, agent_token=None)
        attach_where_needed([proc.pid], args, ask=pytest.fail, interactive=True)
    finally:
        proc.kill()
        proc.wait()
