"""A real process family for grouped tests: a parent holds memory, then forks children
of two names that share it (copy-on-write), each with private memory of its own.

`python forkfamily.py TOKEN A B` forks A children named "a-TOKEN" and B named "b-TOKEN"
(the process name, /proc/PID/comm). The parent prints the children's PIDs on one line,
then waits for its stdin to close and ends them. A child given SIGUSR1 allocates and
touches 4 MB more (a leak on demand); every child dies with its parent.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

MB = 1024 * 1024
SHARED_MB = 24  # held by the parent before the forks: shared by every child
PRIVATE_MB = {"a": 2, "b": 6}  # each child's own
PR_SET_PDEATHSIG = 1


def touched(mb: int) -> bytearray:
    buf = bytearray(mb * MB)
    buf[::4096] = b"\x01" * len(range(0, len(buf), 4096))
    return buf


def child(kind: str, token: str) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    with open("/proc/self/comm", "w") as f:
        f.write(f"{kind}-{token}")
    held = [touched(PRIVATE_MB[kind])]
    signal.signal(signal.SIGUSR1, lambda *_: held.append(touched(4)))
    while True:
        time.sleep(3600)


def main() -> None:
    token, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    shared = touched(SHARED_MB)
    kids = []
    for kind in ["a"] * a + ["b"] * b:
        pid = os.fork()
        if pid == 0:
            child(kind, token)
            os._exit(0)
        kids.append(pid)
    print(" ".join(map(str, kids)), flush=True)
    sys.stdin.read()
    for pid in kids:
        os.kill(pid, signal.SIGKILL)
    for pid in kids:
        os.waitpid(pid, 0)
    del shared


if __name__ == "__main__":
    main()
