"""Properties of every parser of outside files: a generated recording survives export and
import exactly; a damaged export (cut, flipped, spliced, a header field changed) and any
text as a CSV or a psrecord log give valid data or a clean memlens error of exit code 2,
never another exception."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memlens.errors import MemlensError
from memlens.formats import dump_binary, dump_json, parse_export
from memlens.formats.bundle import COLUMNS, recording_from_parts
from memlens.formats.limits import MAX_TIME, is_size, is_time
from memlens.formats.series import SeriesFile, parse_text
from memlens.store import Recording

FIXTURE = Path(__file__).parents[1] / "integration" / "fixtures" / "v1.mlrec"
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sizes = st.one_of(st.none(), st.integers(0, 2**63 - 1))
cpus = st.one_of(st.none(), st.floats(0, 1e4, allow_nan=False))
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@st.composite
def recordings(draw: st.DrawFn) -> Recording:
    n = draw(st.integers(0, 12))
    start = draw(st.floats(0, MAX_TIME / 2, allow_nan=False))
    times = sorted({start + draw(st.floats(0, 1e6, allow_nan=False)) for _ in range(n)})
    columns: dict[str, list[Any]] = {"t": times}
    for name in COLUMNS[1:]:
        columns[name] = [draw(cpus if name == "cpu" else sizes) for _ in times]
    target = {
        "key": "1-1",
        "kind": "process",
        "pid": draw(st.integers(1, 2**22)),
        "start_time": start,
        "name": draw(texts),
        "cmdline": draw(texts),
    }
    info = {"name": draw(texts), "started": start, "host": draw(texts), "interval": 1.0}
    events = [{"t": start, "kind": "note", "target_key": "1-1", "data": {"text": draw(texts)}}]
    return recording_from_parts("generated", info, [target], {"1-1": columns}, events)


def assert_valid(recording: Recording) -> None:
    for series in recording.series.values():
        assert all(is_time(t) for t in series["t"])  # type: ignore[arg-type]
        assert all(v is None or is_size(v) for name in COLUMNS[1:] for v in series[name])


@FAST
@given(recordings(), st.sampled_from([dump_json, dump_binary]))
def test_export_then_import_gives_the_generated_recording(recording: Recording, dump: Any) -> None:
    copy = parse_export(dump(recording), "copy")
    assert (copy.info, copy.targets, copy.series) == (
        recording.info,
        recording.targets,
        recording.series,
    )
    assert [(e.t, e.kind, e.data) for e in copy.events] == [
        (e.t, e.kind, e.data) for e in recording.events
    ]


GOOD = dump_binary(parse_export(FIXTURE.read_bytes(), "fixture"))
GOOD_V1 = FIXTURE.read_bytes()
GOOD_JSON = dump_json(parse_export(FIXTURE.read_bytes(), "fixture"))


def import_or_refuse(data: bytes) -> None:
    refused: MemlensError | None = None
    try:
        recording = parse_export(data, "mutated")
    except MemlensError as e:
        refused = e
    if refused is not None:
        assert refused.exit_code == 2
        assert "\n" not in str(refused)
    else:
        assert_valid(recording)


@FAST
@given(st.sampled_from([GOOD, GOOD_V1, GOOD_JSON]), st.data())
def test_a_damaged_export_is_refused_or_valid(good: bytes, data: st.DataObject) -> None:
    how = data.draw(st.sampled_from(["cut", "flip", "splice", "overwrite"]))
    at = data.draw(st.integers(0, len(good) - 1))
    if how == "cut":
        mutated = good[:at]
    elif how == "flip":
        mutated = good[:at] + bytes([good[at] ^ data.draw(st.integers(1, 255))]) + good[at + 1 :]
    elif how == "splice":
        other = data.draw(st.integers(0, len(good) - 1))
        mutated = good[:at] + good[other:]
    else:
        mutated = good[:at] + data.draw(st.binary(min_size=1, max_size=16)) + good[at:]
    import_or_refuse(mutated)


def _binary_with(meta_change: dict[str, Any]) -> bytes:
    body = zlib.decompressobj().decompress(GOOD[6:])
    (size,) = struct.unpack_from("<I", body)
    meta = {**json.loads(body[4 : 4 + size]), **meta_change}
    head = json.dumps(meta).encode()
    data = b"MLREC\x02" + zlib.compress(struct.pack("<I", len(head)) + head + body[4 + size :])
    return data + struct.pack("<I", zlib.crc32(data))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@FAST
@given(st.sampled_from(["counts", "columns", "targets", "recording", "events"]), json_values)
def test_a_changed_binary_header_field_is_refused_or_valid(field: str, value: Any) -> None:
    import_or_refuse(_binary_with({field: value}))


def read_or_refuse(text: str) -> SeriesFile | None:
    refused: MemlensError | None = None
    try:
        found = parse_text(text, "input")
    except MemlensError as e:
        refused = e
    if refused is not None:
        assert refused.exit_code == 2
        assert "\n" not in str(refused)
        return None
    for series in found.series:
        assert len(series.times) == len(series.values)
        assert all(is_time(t) for t in series.times)
        assert all(v is None or is_size(v) for v in series.values)
    return found


cells = st.one_of(
    st.floats(allow_nan=True).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.text(max_size=6),
    st.just(""),
)


@FAST
@given(st.lists(st.tuples(cells, cells), max_size=8), st.sampled_from(["csv", "psrecord"]))
def test_any_rows_give_valid_series_or_a_clean_error(
    rows: list[tuple[str, str]], kind: str
) -> None:
    if kind == "csv":
        text = "time,rss\n" + "".join(f"{t},{r}\n" for t, r in rows)
    else:
        text = "# Elapsed time   CPU (%)     Real (MB)\n" + "".join(
            f"  {t}  1.0  {r}\n" for t, r in rows
        )
    read_or_refuse(text)


@FAST
@given(st.lists(st.tuples(st.floats(0, 1e9), st.integers(0, 2**40)), min_size=1, max_size=8))
def test_valid_rows_read_back_as_written(rows: list[tuple[float, int]]) -> None:
    text = "time,rss\n" + "".join(f"{t!r},{r}\n" for t, r in rows)
    found = read_or_refuse(text)
    assert found is not None
    assert found.series[0].times == [t for t, _ in rows]
    assert found.series[0].values == [float(r) for _, r in rows]


@FAST
@given(st.text(max_size=200))
def test_any_text_is_a_series_or_a_clean_error(text: str) -> None:
    read_or_refuse(text)
