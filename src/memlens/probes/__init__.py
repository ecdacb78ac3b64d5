"""Probes measure one thing each and return plain data; they never print, store or serve."""

from __future__ import annotations

from memlens.probes.process import ProcessProbe, open_process, probe_backends

__all__ = ["ProcessProbe", "open_process", "probe_backends"]
