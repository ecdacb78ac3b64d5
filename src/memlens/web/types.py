"""Shared types of the web face."""

from __future__ import annotations

from typing import Protocol

from memlens.model import Column, Target
from memlens.watch.hub import Hub

OlderHistory = dict[str, tuple[dict[str, Column], int]]


class View(Protocol):
    """What the server serves: a live watch (`LiveView`) or a recording (`ReplayView`)."""

    mode: str
    interval: float
    started: float
    hub: Hub
    targets: dict[str, Target]

    def hello_message(self) -> str: ...

    def older_history(self) -> OlderHistory:
        """Blocking: run it on a thread."""
        ...

    def backfill_message(self, older: OlderHistory | None = None) -> str: ...

    def samples(self, key: str, since: float | None, limit: int | None) -> dict[str, Column]: ...

    def range(self, key: str, start: float, end: float, buckets: int) -> dict[str, object]:
        """Blocking: run it on a thread."""
        ...

    def knows(self, key: str) -> bool: ...
