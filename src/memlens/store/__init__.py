"""The recording store: the only code that touches SQLite (see docs/storage.md)."""

from __future__ import annotations

from memlens.store.db import Store
from memlens.store.files import default_db_path
from memlens.store.reader import Event, RecordingInfo, StoreReader
from memlens.store.recording import Recording, load_recording
from memlens.store.schema import (
    EVENT_KINDS,
    EVENTS_RETENTION_S,
    MIGRATIONS,
    SAMPLES_RETENTION_S,
    SCHEMA_VERSION,
)

__all__ = [
    "EVENTS_RETENTION_S",
    "EVENT_KINDS",
    "MIGRATIONS",
    "SAMPLES_RETENTION_S",
    "SCHEMA_VERSION",
    "Event",
    "Recording",
    "RecordingInfo",
    "Store",
    "StoreReader",
    "default_db_path",
    "load_recording",
]
