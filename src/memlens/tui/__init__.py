"""The terminal face: `memlens top`."""

from __future__ import annotations

from memlens.tui.app import TopApp
from memlens.tui.feed import Feed, logs_to

__all__ = ["Feed", "TopApp", "logs_to"]
