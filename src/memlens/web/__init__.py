"""The browser face: a Starlette app over a LiveView."""

from __future__ import annotations

from memlens.web.app import create_app
from memlens.web.security import SecurityPolicy

__all__ = ["SecurityPolicy", "create_app"]
