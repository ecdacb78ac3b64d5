"""The settings a recording is judged with, in an export and back.

A recording keeps the detector settings it was made with and each target's memory limit
(`recordings.judged_with`, `targets.memory_limit`), so that `leaks`, `analyze` and
`report` judge it as it was judged live. An export carries both under `judged_with`, so
a recording imported elsewhere is judged the same way. The file is untrusted: the
settings are read through `config.recorded_settings` (known detector fields only, each a
finite number or a band list of bounded length) and written back in the store's own
shape, and a limit must name a listed target and be a size of 1 byte to 2**63.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from memlens.config import judged_with, recorded_settings
from memlens.errors import CorruptRecording, NotARecording
from memlens.formats.limits import is_int64
from memlens.store import Recording

MAX_BANDS = 16  # severity bands in a settings' list: the defaults have 4
MAX_EVERY = 86400.0  # s: an evaluation cadence over a day is no live setting


def judging_to_plain(recording: Recording) -> dict[str, Any] | None:
    """`{"settings": ..., "limits": {key: bytes}}`, or None when the recording holds
    neither (one made before memlens kept them)."""
    if recording.judged_with is None and not recording.limits:
        return None
    return {"settings": recording.judged_with, "limits": dict(recording.limits)}


def judging_from_plain(
    source: str, value: object, keys: Iterable[str]
) -> tuple[dict[str, Any] | None, dict[str, int]]:
    """The settings (None: the file holds none) and the targets' limits from an
    export's `judged_with`; CorruptRecording naming `source` when they do not fit."""
    if value is None:
        return None, {}
    if not isinstance(value, dict):
        raise _damaged(source, "judged_with is not an object")
    settings = value.get("settings")
    checked: dict[str, Any] | None = None
    if settings is not None:
        if not isinstance(settings, dict):
            raise _damaged(source, "judged_with.settings is not an object")
        _check_numbers(source, settings)
        try:
            checked = judged_with(recorded_settings(settings, source))
        except NotARecording as e:
            raise CorruptRecording(str(e)) from None
        except TypeError as e:  # a field DetectorConfig refuses
            raise _damaged(source, f"judged_with.settings: {e}") from None
    limits = value.get("limits", {})
    if not isinstance(limits, dict):
        raise _damaged(source, "judged_with.limits is not an object")
    known = set(keys)
    out: dict[str, int] = {}
    for key, limit in limits.items():
        if key not in known:
            raise _damaged(source, f"judged_with.limits names no listed target ({key!r})")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise _damaged(source, f"judged_with.limits[{key!r}] is not a size in bytes")
        if not is_int64(limit):
            raise _damaged(source, f"judged_with.limits[{key!r}] is beyond 64 bits")
        out[key] = limit
    return checked, out


def _check_numbers(source: str, settings: dict[str, Any]) -> None:
    """What `recorded_settings` leaves open: every number finite (JSON's NaN and
    Infinity parse), the cadence within a day, the band lists short."""
    detector = settings.get("detector")
    if detector is not None and not isinstance(detector, dict):
        raise _damaged(source, "judged_with.settings.detector is not an object")
    numbers: list[tuple[str, object]] = [("every", settings.get("every", 1.0))]
    for name, item in (detector or {}).items():
        if name in ("rate_bands", "limit_bands"):
            if not isinstance(item, list) or len(item) > MAX_BANDS:
                raise _damaged(source, f"judged_with.settings.detector.{name} is not a short list")
            for band in item:
                if not isinstance(band, list) or len(band) != 2:
                    raise _damaged(source, f"judged_with.settings.detector.{name} is malformed")
                numbers.append((name, band[0]))
        else:
            numbers.append((name, item))
    for name, number in numbers:
        if isinstance(number, float) and not math.isfinite(number):
            raise _damaged(source, f"judged_with.settings: {name} is {number}")
    every = settings.get("every", 1.0)
    number_ok = isinstance(every, int | float) and not isinstance(every, bool)
    if number_ok and not 0.0 < every <= MAX_EVERY:
        raise _damaged(source, f"judged_with.settings.every is {every!r} s")


def _damaged(source: str, what: str) -> CorruptRecording:
    return CorruptRecording(f"{source} is a damaged memlens export: {what}")
