"""The JSON export: one self-describing object, lossless, readable by any tool.

Series stay columnar, exactly as `StoreReader.series` returns them, so a script can hand
a column straight to a plotting library, and the file is a fraction of the size of one
object per sample. Python writes floats with `repr`, which reads back as the same float.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from memlens._version import __version__
from memlens.analysis.groups import DEFAULT_GROUP_BY, MEASURE_TEXT
from memlens.errors import CorruptRecording, NewerSchema, NotARecording
from memlens.formats.bundle import event_to_dict, info_to_dict, recording_from_parts
from memlens.formats.grouping import Columns, Grouping, group_targets, sum_at, summed
from memlens.formats.judging_bundle import judging_from_plain, judging_to_plain
from memlens.formats.limits import check_depth
from memlens.formats.maps_bundle import maps_from_plain, maps_to_plain
from memlens.store import Recording

FORMAT = "memlens-recording"
VERSION = 1


def to_document(recording: Recording, group_by: str = DEFAULT_GROUP_BY) -> dict[str, Any]:
    grouping = group_targets(recording.targets, group_by)
    return {
        "format": FORMAT,
        "version": VERSION,
        "memlens_version": __version__,
        "recording": info_to_dict(recording.info),
        # Each target as recorded (its `group` is the watch's); the export's grouping,
        # under `group_by`, is in `groups`: an import gives back the recording unchanged.
        "targets": [t.to_dict() for t in recording.targets],
        "group_by": group_by,
        "groups": groups_to_plain(grouping, recording.series),
        "series": {t.key: recording.series[t.key] for t in recording.targets},
        "events": [event_to_dict(e) for e in recording.events],
        "maps": maps_to_plain(recording),
        "judged_with": judging_to_plain(recording),
    }


def dump_json(recording: Recording, *, group_by: str = DEFAULT_GROUP_BY) -> bytes:
    document = to_document(recording, group_by)
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


def groups_to_plain(grouping: Grouping, series: Mapping[str, Columns]) -> list[dict[str, Any]]:
    """Every group (one of one process too): its members' keys, and its honest sum at
    its peak and at its last moment. Derived data: an import does not read it back."""
    out = []
    for label, members in grouping.groups.items():
        columns = [series[t.key] for t in members if t.key in series]
        total = summed(columns)
        peak = total.peak_index
        out.append(
            {
                "label": label,
                "count": len(members),
                "members": [t.key for t in members],
                "measure": total.measure,
                "measure_text": MEASURE_TEXT[total.measure],
                "peak": None if peak is None else _sum(columns, total.t[peak]),
                "end": None if peak is None else _sum(columns, total.t[-1]),
            }
        )
    return out


def _sum(columns: list[Columns], t: float) -> dict[str, Any]:
    s = sum_at(columns, t)
    return {"t": t, "total": s.total, "measure": s.measure, "rss": s.rss, "uss": s.uss}


def looks_like_json(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def load_json(data: bytes, source: str) -> Recording:
    """The recording in a JSON export; NotARecording when the file is something else,
    NewerSchema for a newer format version, CorruptRecording for a damaged one."""
    if looks_like_json(data):
        check_depth(data, source)
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        if looks_like_json(data):
            raise CorruptRecording(f"{source} is not valid JSON ({e})") from None
        raise NotARecording(f"{source} is not a memlens export (neither JSON nor binary)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise NotARecording(f"{source} is JSON, but not a memlens recording export")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CorruptRecording(f"{source} is a memlens export without a valid format version")
    if version > VERSION:
        raise NewerSchema(
            f"{source} is a JSON export of format version {version}, written by a newer "
            f"memlens; this memlens {__version__} reads version {VERSION}: upgrade memlens"
        )
    series = doc.get("series", {})
    if not isinstance(series, dict):
        raise CorruptRecording(f"{source} is a damaged memlens export: series is not an object")
    recording = recording_from_parts(
        source, doc.get("recording"), doc.get("targets", []), series, doc.get("events", [])
    )
    keys = [t.key for t in recording.targets]
    maps = maps_from_plain(source, doc.get("maps"), keys)
    judged, limits = judging_from_plain(source, doc.get("judged_with"), keys)
    return dataclasses.replace(recording, maps=maps, judged_with=judged, limits=limits)
