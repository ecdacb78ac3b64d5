"""Real children for the attach tests: programs that never imported memlens, run by
pyenv's Pythons (3.9 to 3.13) with -I, so that no memlens is on their path."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

PYENV = Path("/root/.pyenv/versions")


def _python(version: str) -> str:
    found = sorted(PYENV.glob(f"{version}.*/bin/python{version}")) if PYENV.is_dir() else []
    if not found:
        pytest.skip(f"no Python {version} here (pyenv's {PYENV})")
    return str(found[-1])


NEEDS_GDB = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")

BUSY = """
import sys
print("ready", flush=True)
n = 0
def spin():
    global n
    while True:
        n += 1
        if n % 300000 == 0:
            print("tick", n, flush=True)
spin()
"""
SLEEPING = """
import time
print("ready", flush=True)
while True:
    time.sleep(3600)
"""
ACCEPTING = """
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print("ready", flush=True)
s.accept()
"""
# The main thread waits on join(); a worker thread allocates, in a function of its own.
THREADED = """
import threading, time
kept = []
def grow_the_cache():
    while True:
        kept.append(bytearray(64 * 1024))
        if len(kept) > 2000:
            del kept[:1000]
        time.sleep(0.001)
worker = threading.Thread(target=grow_the_cache, daemon=True)
worker.start()
print("ready", flush=True)
worker.join()
"""
IN_C_CALL = """
import itertools
print("ready", flush=True)
sum(itertools.repeat(1, 10 ** 13))
"""

# Its main thread sleeps, so the pending call is never made; a thread exits the process as
# soon as it sees a tracer (gdb) that let it run again: during the attach, every time.
EXITS_WHEN_TRACED = """
import os, threading, time
def exit_when_traced():
    while True:
        with open("/proc/self/status") as f:
            if "TracerPid:\\t0\\n" not in f.read():
                os._exit(0)
        time.sleep(0.005)
threading.Thread(target=exit_when_traced, daemon=True).start()
print("ready", flush=True)
time.sleep(3600)
"""


@contextlib.contextmanager
def child(
    python: str, source: str, *, user: str | None = None, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """A real Python child with no memlens on its path (-I: no PYTHONPATH, no user site),
    in the test's runtime directory (XDG_RUNTIME_DIR is inherited)."""
    argv = [python, "-I", "-u", "-c", source]
    if user is not None:
        import pwd

        account = pwd.getpwnam(user)
        ids = [f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups"]
        argv = ["setpriv", *ids, *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd="/", env=env)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
