"""Portable backend over psutil, for systems without a usable /proc (macOS, Windows, BSD)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from memlens.errors import AccessDenied, TargetGone, TargetNotFound
from memlens.model import ProcessIdentity, Reading


@contextmanager
def _translated(pid: int) -> Iterator[None]:
    """psutil's errors about a process become memlens errors here, and only here."""
    try:
        yield
    except psutil.ZombieProcess as e:
        raise TargetGone(f"process {pid} has exited (zombie)") from e
    except psutil.NoSuchProcess as e:
        raise TargetGone(f"process {pid} has exited") from e
    except psutil.AccessDenied as e:
        raise AccessDenied(f"not allowed to read process {pid}'s memory") from e


class PsutilProcessProbe:
    """A kept psutil.Process; CPU percent comes from our own deltas of cpu_times()."""

    def __init__(self, pid: int, *, detail: bool = False) -> None:
        self.pid = pid
        self.detail = detail
        self._last_cpu: tuple[float, float] | None = None
        self._slow: tuple[int, int, float | None] | None = None
        try:
            self._proc = psutil.Process(pid)
        except psutil.NoSuchProcess as e:
            raise TargetNotFound(f"no process with PID {pid}") from e
        with _translated(pid):
            created = self._proc.create_time()
            self.name = self._proc.name()
            try:
                self.cmdline = self._proc.cmdline() or [f"[{self.name}]"]
            except psutil.AccessDenied:
                self.cmdline = [f"[{self.name}]"]
            if self._proc.status() == psutil.STATUS_ZOMBIE:
                raise TargetNotFound(f"process {pid} has already exited (it is a zombie)")
        self.identity = ProcessIdentity(pid, round(created * 100), created)
        try:
            self.ppid: int | None = self._proc.ppid()
        except psutil.Error:
            self.ppid = None
        self.owner_uid: int | None = None
        if hasattr(self._proc, "uids"):
            try:
                self.owner_uid = self._proc.uids().real
            except psutil.Error:
                self.owner_uid = None

    def read(self, full: bool = True) -> Reading:
        """`full=False` reads memory only and repeats threads, fds and CPU."""
        with _translated(self.pid):
            # is_running() compares the creation time too: a reused PID reads as gone.
            if not self._proc.is_running():
                raise psutil.NoSuchProcess(self.pid)
            with self._proc.oneshot():
                if self._proc.status() == psutil.STATUS_ZOMBIE:
                    raise psutil.ZombieProcess(self.pid)
                mem = self._proc.memory_info()
                if full or self._slow is None:
                    threads = self._proc.num_threads()
                    fds = self._proc.num_fds() if sys.platform != "win32" else 0
                    times = self._proc.cpu_times()
                    self._slow = (threads, fds, self._cpu_percent(times.user + times.system))
            threads, fds, cpu = self._slow
            swap = uss = pss = None
            if self.detail:
                detailed = self._proc.memory_full_info()
                uss = getattr(detailed, "uss", None)
                pss = getattr(detailed, "pss", None)
                swap = getattr(detailed, "swap", None)
            return Reading(
                rss=mem.rss,
                vms=mem.vms,
                shared=getattr(mem, "shared", 0),
                swap=swap,
                threads=threads,
                fds=fds,
                cpu=cpu,
                uss=uss,
                pss=pss,
            )

    def read_rollup(self) -> tuple[int | None, int | None] | None:
        """(USS, PSS) from psutil's full memory info (PSS on Linux only), for the
        sampler's budgeted reads (watch/pss_budget.py); None when it cannot be read."""
        try:
            detailed = self._proc.memory_full_info()
        except (psutil.Error, OSError):
            return None
        return getattr(detailed, "uss", None), getattr(detailed, "pss", None)

    def _cpu_percent(self, cpu_seconds: float) -> float | None:
        now = time.monotonic()
        cpu: float | None = None
        last = self._last_cpu
        if last is not None and now > last[0]:
            cpu = max(0.0, (cpu_seconds - last[1]) / (now - last[0]) * 100.0)
        self._last_cpu = (now, cpu_seconds)
        return cpu

    def close(self) -> None:
        """Nothing to release: psutil opens and closes per call."""
