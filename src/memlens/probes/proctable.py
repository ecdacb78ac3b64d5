"""The process table: which processes exist, which match a pattern, whose children they are."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator

import psutil

_LINUX_PROC = sys.platform.startswith("linux") and os.path.isdir("/proc/self")


def _linux_pid_entries() -> dict[int, int]:
    """PID → inode of its /proc directory.

    A new process gets a new procfs inode even when it reuses a PID, so (pid, inode)
    tells two processes apart at the cost of one readdir, with no file read per process.
    """
    with os.scandir("/proc") as entries:
        return {int(e.name): e.inode() for e in entries if e.name.isdigit()}


def _linux_name_and_cmdline(pid: int) -> tuple[str, str] | None:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            name = f.read().decode("utf-8", "replace").strip()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return None
    return name, cmdline


class ProcessMatcher:
    """Finds processes whose name or command line matches a regular expression.

    `scan()` returns only processes it has not returned before. Processes already seen,
    matching or not, are remembered until they leave the process table, so a rescan
    reads only processes that are new since the last one. On Linux a
    process is remembered as (pid, procfs inode), so a PID reused between two scans is
    looked at afresh.
    """

    def __init__(self, pattern: re.Pattern[str], exclude: frozenset[int] | None = None) -> None:
        self.pattern = pattern
        # memlens and the processes that started it (`timeout 60 memlens watch --name X`,
        # a shell, a CI runner) hold the pattern in their command lines: never targets.
        self.exclude = own_lineage() if exclude is None else exclude
        self._rejected: set[tuple[int, int]] = set()
        self._offered: set[tuple[int, int]] = set()
        self._inodes: dict[int, int] = {}

    def reject(self, pid: int) -> None:
        """`pid` could not be opened: never offer it again while it lives."""
        self._rejected.add((pid, self._inodes.get(pid, 0)))

    def matches(self, name: str, cmdline: str) -> bool:
        return bool(self.pattern.search(name) or self.pattern.search(cmdline))

    def scan(self) -> list[int]:
        found: list[int] = []
        if _LINUX_PROC:
            self._inodes = _linux_pid_entries()
            alive = set(self._inodes.items())
            self._rejected &= alive
            self._offered &= alive
            for pid, inode in self._inodes.items():
                if (pid, inode) in self._rejected or (pid, inode) in self._offered:
                    continue
                if pid in self.exclude:
                    self._rejected.add((pid, inode))
                    continue
                info = _linux_name_and_cmdline(pid)
                if info is None:
                    continue
                if self.matches(*info):
                    found.append(pid)
                    self._offered.add((pid, inode))
                elif info[1]:
                    self._rejected.add((pid, inode))
                # An empty command line is a kernel thread, a zombie, or a process caught
                # inside exec() before its new arguments are in place: look again next time.
            return found
        # Elsewhere psutil's creation time plays the inode's part.
        seen: set[tuple[int, int]] = set()
        self._inodes = {}
        for proc in psutil.process_iter(["pid", "name", "cmdline", "create_time"]):
            pid = proc.info["pid"]
            key = (pid, round((proc.info.get("create_time") or 0.0) * 100))
            self._inodes[pid] = key[1]
            seen.add(key)
            if key in self._rejected or key in self._offered:
                continue
            if pid in self.exclude:
                self._rejected.add(key)
                continue
            cmdline = " ".join(proc.info.get("cmdline") or [])
            if self.matches(proc.info.get("name") or "", cmdline):
                found.append(pid)
                self._offered.add(key)
            else:
                self._rejected.add(key)
        self._rejected &= seen
        self._offered &= seen
        return found


def descendants(pid: int) -> Iterator[tuple[int, int]]:
    """(pid, parent pid) of every descendant of `pid`, parents before children."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        try:
            yield child.pid, child.ppid()
        except psutil.Error:
            continue


def name_of(pid: int | None) -> str | None:
    """The short name of process `pid` (its comm on Linux), None when it is gone or
    hidden: how a group by parent names the parent."""
    if pid is None or pid <= 0:
        return None
    if _LINUX_PROC:
        try:
            with open(f"/proc/{pid}/comm", "rb") as f:
                return f.read(256).decode("utf-8", "replace").strip() or None
        except OSError:
            return None
    try:
        return psutil.Process(pid).name() or None
    except psutil.Error:
        return None


def own_lineage() -> frozenset[int]:
    """memlens's own PID and those of its ancestors, up to PID 1. Computed once: a
    process's ancestors do not change, except to an adopting reaper when one ends."""
    return frozenset({os.getpid(), *ancestors(os.getpid())})


def ancestors(pid: int) -> set[int]:
    """PIDs of every ancestor of `pid` (empty if it is gone)."""
    try:
        return {p.pid for p in psutil.Process(pid).parents()}
    except psutil.Error:
        return set()


def start_ticks_of(pid: int, backend: str | None = None) -> int | None:
    """The start-time part of the identity of whatever process holds `pid` now."""
    if _LINUX_PROC and backend in (None, "linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                raw = f.read()
            return int(raw[raw.rindex(b")") + 2 :].split()[19])
        except (OSError, ValueError, IndexError):
            return None
    try:
        return round(psutil.Process(pid).create_time() * 100)
    except psutil.Error:
        return None
