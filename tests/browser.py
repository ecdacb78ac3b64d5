"""Real Chromium for the page tests: Debian's package, driven by Playwright."""

from __future__ import annotations

import os
import shutil
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING = "Debian's chromium is not installed (scripts/test installs it)"


def chromium_missing() -> bool:
    return not (os.path.exists(CHROMIUM) or shutil.which("chromium"))


class OutsideRequests:
    """Every request a page makes that does not go to the memlens server itself."""

    def __init__(self, page: Any, base: str) -> None:
        self.allowed = urlsplit(base).netloc
        self.seen: list[str] = []
        page.on("request", self._check)

    def _check(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.netloc != self.allowed:
            self.seen.append(request.url)
        else:
            self.inside(parts.path, request.url)

    def inside(self, path: str, url: str) -> None:
        """A request to the server itself; subclasses may count some."""


class PageErrors(list[str]):
    """Uncaught errors and console errors of a page, collected as they happen."""

    def __init__(self, page: Any) -> None:
        super().__init__()
        page.on("pageerror", lambda e: self.append(str(e)))
        page.on("console", lambda m: self.append(m.text) if m.type == "error" else None)
