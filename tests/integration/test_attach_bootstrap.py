"""The bootstrap run as gdb runs it (one statement, in `__main__`), in a Python that has
never seen memlens, from an install directory whose name is hostile."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memlens.agent import find_agent
from memlens.agent.client import AgentClient
from memlens.attach import bootstrap
from memlens.errors import AgentRequestFailed

SRC = Path(__file__).resolve().parents[2] / "src"


def test_a_hostile_install_path_is_used_as_a_path_and_never_as_code(tmp_path: Path) -> None:
    home = tmp_path / 'it\'s "q"\\ $(x) \n; import os; os._exit(7) #'
    home.mkdir()
    (home / "memlens").symlink_to(SRC / "memlens")
    line = bootstrap.statement(0, home)
    program = (
        "import sys\n"
        f"exec({line!r})\n"
        "assert 'home' not in globals() and '_attached' not in globals()\n"
        "assert not any('memlens' in p for p in sys.path), sys.path\n"
        "print(ascii(sys.modules['memlens'].__file__), flush=True)\n"
        "print('ready', flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", program], stdout=subprocess.PIPE, text=True, cwd="/"
    )
    try:
        assert proc.stdout is not None
        where = ast.literal_eval(proc.stdout.readline())
        assert where == str(home / "memlens" / "__init__.py"), where
        assert proc.stdout.readline().strip() == "ready"
        assert find_agent(proc.pid) is not None
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_agent_stop_is_refused_over_tcp() -> None:
    program = (
        "import memlens.agent, time\n"
        "memlens.agent.start('127.0.0.1:0', token='s3cret')\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        entry = find_agent(proc.pid)
        assert entry is not None
        assert entry.tcp is not None
        with (
            AgentClient.connect(entry.tcp, token="s3cret") as agent,
            pytest.raises(AgentRequestFailed, match="Unix socket only"),
        ):
            agent.stop_agent()
        time.sleep(0.1)
        assert find_agent(proc.pid) is not None  # still running
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
