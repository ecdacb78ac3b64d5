"""Bad input gives one readable line on stderr and the documented exit code."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from helpers import Allocator, run_memlens, unused_pid


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["watch", "abc"], 2, "'abc' is not a PID"),
        (["watch", "--", "-5"], 2, "-5 is not a valid PID"),
        (["watch", "0"], 2, "0 is not a valid PID"),
        (["watch"], 2, "name at least one PID"),
        (["watch", "1", "--interval", "0.01"], 2, "at least 0.05"),
        (["watch", "1", "--interval", "fast"], 2, "not a number"),
        (["watch", "1", "--port", "70000"], 2, "out of range"),
        (["watch", "--name", "(unclosed"], 2, "not a valid regular expression"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
def test_bad_usage(args: list[str], code: int, says: str) -> None:
    result = run_memlens(*args)
    assert result.returncode == code
    assert says in one_line(result.stderr)
    assert result.stdout == ""


def test_a_pid_that_does_not_exist() -> None:
    pid = unused_pid()
    result = run_memlens("watch", str(pid))
    assert result.returncode == 2
    assert one_line(result.stderr) == f"memlens: error: no process with PID {pid}"


def test_a_busy_port_is_named(allocator: Allocator) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_memlens("watch", str(allocator.pid), "--port", str(port))
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert f"port {port} on 127.0.0.1 is already in use" in line


def test_a_short_token_for_a_wide_bind_is_refused(allocator: Allocator) -> None:
    result = run_memlens("watch", str(allocator.pid), "--host", "0.0.0.0", "--token", "abc")
    assert result.returncode == 2
    assert "at least 8 characters" in result.stderr.splitlines()[-1]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_another_users_process_is_refused_with_a_clear_line() -> None:
    """A real unprivileged process asks to watch a root-owned one."""
    import pwd

    import memlens.cli  # imported before dropping privileges: the stdlib is under /root

    nobody = pwd.getpwnam("nobody")
    target = subprocess.Popen(["sleep", "30"])
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        code = 99
        try:
            sys.stderr = open(write_end, "w", closefd=False)  # noqa: SIM115
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            code = memlens.cli.main(["watch", str(target.pid)])
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as err:
        stderr = err.read()
    _, status = os.waitpid(child, 0)
    target.kill()
    target.wait()
    assert os.waitstatus_to_exitcode(status) == 2
    line = one_line(stderr)
    assert f"PID {target.pid} belongs to user 'root'" in line


def test_an_unreadable_process_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 3 when the process exists but the OS refuses to let it be read.

    The real condition needs a hardened /proc (hidepid) that a test cannot set up, so the
    probe's refusal is simulated; the mapping from error to exit code is what is tested.
    """
    import memlens.cli._common as cli_common
    from memlens.errors import AccessDenied

    def refuse(pid: int, **kwargs: object) -> None:
        raise AccessDenied(f"not allowed to read process {pid}'s memory (Permission denied)")

    monkeypatch.setattr(cli_common, "open_process", refuse)
    import memlens.cli

    assert memlens.cli.main(["watch", "4242"]) == 3


def test_version_and_help() -> None:
    result = run_memlens("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("memlens ")
    helped = run_memlens("watch", "--help")
    assert "--interval" in helped.stdout
    assert "--children" in helped.stdout
    assert (
        subprocess.run(
            [sys.executable, "-m", "memlens", "--help"], capture_output=True, text=True
        ).returncode
        == 0
    )
