"""The checks before an attach, on readings made up where the real condition cannot be
made on the machine the tests run on (Yama, capabilities), and the bootstrap's text."""

from __future__ import annotations

import pytest

from memlens.attach import bootstrap
from memlens.attach.target import PtraceReadings, blocked_by_ptrace, check_ptrace, version_from
from memlens.errors import AttachBlocked, AttachUnsupported


@pytest.mark.parametrize(
    ("exe", "mapped", "version"),
    [
        ("/usr/bin/python3.11", [], (3, 11)),
        ("/opt/venv/bin/uwsgi", ["/usr/lib/x86_64-linux-gnu/libpython3.12.so.1.0"], (3, 12)),
        ("/usr/local/bin/myapp", ["/usr/lib/libpython3.13t.so.1.0"], (3, 13)),
        (
            "/opt/x/bin/python",
            ["/opt/x/lib/python3.10/lib-dynload/_socket.cpython-310-x86_64-linux-gnu.so"],
            (3, 10),
        ),
        ("/opt/x/bin/python", ["/opt/x/lib/python3.9/site.py"], (3, 9)),
    ],
)
def test_the_version_comes_from_the_executable_or_what_it_maps(
    exe: str, mapped: list[str], version: tuple[int, int]
) -> None:
    found = version_from(exe, mapped)
    assert found is not None
    assert found[0] == version


def test_a_process_with_nothing_of_python_has_no_version() -> None:
    assert version_from("/usr/bin/sleep", ["/usr/lib/x86_64-linux-gnu/libc.so.6"]) is None


def test_pypy_is_refused_by_name() -> None:
    with pytest.raises(AttachUnsupported, match="PyPy, not CPython"):
        version_from("/opt/pypy3.10/bin/pypy3.10", ["/opt/pypy3.10/bin/libpypy3.10-c.so"])


def test_yama_off_or_absent_lets_it_through() -> None:
    check_ptrace(1, PtraceReadings(None, False))
    check_ptrace(1, PtraceReadings(0, False))
    check_ptrace(1, PtraceReadings(1, True))  # CAP_SYS_PTRACE overrides scope 1 and 2
    check_ptrace(1, PtraceReadings(2, True))


def test_yama_scope_1_names_the_setting_and_the_fix() -> None:
    with pytest.raises(AttachBlocked) as caught:
        check_ptrace(42, PtraceReadings(1, False))
    text = str(caught.value)
    assert "kernel.yama.ptrace_scope is 1" in text
    assert "sudo sysctl kernel.yama.ptrace_scope=0" in text
    assert caught.value.exit_code == 3


def test_yama_scope_2_asks_for_the_capability() -> None:
    with pytest.raises(AttachBlocked, match=r"CAP_SYS_PTRACE.*--cap-add=SYS_PTRACE"):
        check_ptrace(42, PtraceReadings(2, False))


def test_yama_scope_3_cannot_be_fixed_until_reboot() -> None:
    with pytest.raises(AttachBlocked, match=r"until the\s+next boot"):
        check_ptrace(42, PtraceReadings(3, True))


def test_a_refused_ptrace_without_the_capability_points_at_the_container() -> None:
    error = blocked_by_ptrace(42, "ptrace: Operation not permitted.", PtraceReadings(0, False))
    assert "--cap-add=SYS_PTRACE" in str(error)
    assert "Operation not permitted" in str(error)
    with_cap = blocked_by_ptrace(42, "ptrace: Operation not permitted.", PtraceReadings(0, True))
    assert "TracerPid" in str(with_cap)  # another debugger, then


HOSTILE = '/tmp/it\'s "quoted"\\\n\tand ünïcode \udcff; import os; os._exit(1) #'


def test_the_statement_holds_only_its_fixed_alphabet_whatever_the_path() -> None:
    line = bootstrap.statement(524288, HOSTILE, HOSTILE)
    assert set(line) <= set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.(),'{}: "
    )
    assert "os._exit" not in line
    assert '"' not in line
    assert "\\" not in line
    assert bootstrap.body(0, HOSTILE).count("\n") == bootstrap.body(0, "/x").count("\n")


@pytest.mark.parametrize("bad", [-1, True, 1.5, "1"])
def test_the_heap_interval_is_a_plain_integer(bad: object) -> None:
    with pytest.raises(ValueError, match="number of bytes"):
        bootstrap.body(bad)  # type: ignore[arg-type]
