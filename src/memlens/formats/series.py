"""Memory series from whatever file a person has: a recording, a memlens export, a CSV
from any tool, or psrecord's log.

The kind of file is read from its content, never its name: exports and logs get renamed,
and a `.log` or `.txt` may hold any of them. Every input becomes the same thing, a list
of named series of (time in seconds, RSS in bytes), so the analysis cannot tell where a
series came from. Nothing here prints; a file that cannot be read is one memlens error
naming it (exit 2).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from memlens.errors import CorruptRecording, NotARecording, UsageError
from memlens.formats.binary import is_binary
from memlens.formats.importer import parse_export
from memlens.formats.json_export import looks_like_json
from memlens.formats.limits import is_size, is_time, read_bounded
from memlens.model import Target
from memlens.store import Recording, RecordingInfo, StoreReader
from memlens.store.files import SQLITE_MAGIC, open_regular

MB = 1024.0 * 1024.0  # psrecord's "MB" is MiB: rss / 1024.0**2

# What a file is, as `sniff` tells it and `"source"` in `memlens analyze --json` says it.
RECORDING = "recording"
BINARY_EXPORT = "binary export"
JSON_EXPORT = "json export"
CSV_EXPORT = "csv export"
CSV = "csv"
PSRECORD = "psrecord log"
TEXT = "text"  # not yet told apart: a CSV or a psrecord log, decided by its header

_KNOWN = "a memlens recording or export, a CSV with time and rss columns, or a psrecord log"
_CSV_EXPORT_HEADER = ("time", "target", "pid", "name", "rss")
_HEAD = 64


@dataclass(frozen=True)
class NamedSeries:
    """One target's RSS over time. `key` is None for a file that holds a single series
    without target names (a generic CSV, a psrecord log)."""

    key: str | None
    name: str
    pid: int | None
    kind: str  # "process", "sum" (a process and its descendants), or "series"
    times: list[float]  # seconds: Unix times, or seconds from the file's start
    values: list[float | None]  # bytes; None where unknown
    started: float | None = None  # when the process started (Unix time), where known

    def after(self, seconds: float) -> NamedSeries:
        """Without the samples of the first `seconds` after this series' first sample."""
        if not self.times or seconds <= 0:
            return self
        cut = min(self.times) + seconds
        kept = [(t, v) for t, v in zip(self.times, self.values, strict=True) if t >= cut]
        return replace(self, times=[t for t, _ in kept], values=[v for _, v in kept])


@dataclass(frozen=True)
class SeriesFile:
    """Everything read from one input: what it was, where, and its series in order."""

    source: str  # RECORDING, BINARY_EXPORT, JSON_EXPORT, CSV_EXPORT, CSV or PSRECORD
    path: str
    series: list[NamedSeries]
    recording: RecordingInfo | None = None  # for recordings and JSON/binary exports


def sniff(head: bytes) -> str | None:
    """The kind of file its first bytes say: RECORDING, BINARY_EXPORT, JSON_EXPORT, TEXT
    (a CSV or a psrecord log), or None for none of those."""
    if head.startswith(SQLITE_MAGIC):
        return RECORDING
    if is_binary(head):
        return BINARY_EXPORT
    if looks_like_json(head):
        return JSON_EXPORT
    if not head or b"\x00" in head:
        return None
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 3:  # not merely a character cut at the end of `head`
            return None
    return TEXT


def sniff_file(path: str | Path) -> str | None:
    """`sniff` of the file's first bytes. A missing file or a directory is NotARecording."""
    return sniff(_read(Path(path), _HEAD))


def read_series(path: str | Path) -> SeriesFile:
    """Every series in the file at `path`, whatever kind it is (a recording store gives
    its newest recording)."""
    path = Path(path)
    head = _read(path, _HEAD)
    kind = sniff(head)
    if kind == RECORDING:
        with StoreReader.open(path) as reader:
            return from_store(reader, reader.recording("last"))
    data = _read(path, None)
    if not data.strip():
        raise CorruptRecording(f"{path} is empty")
    if kind in (BINARY_EXPORT, JSON_EXPORT):
        recording = parse_export(data, str(path))
        return from_recording(recording, kind, str(path))
    if kind == TEXT:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise NotARecording(f"{path} is not {_KNOWN} (not UTF-8 text)") from None
        return parse_text(text, str(path))
    raise NotARecording(f"{path} is not {_KNOWN}")


def from_store(reader: StoreReader, info: RecordingInfo) -> SeriesFile:
    """Every target of one recording, read in one snapshot."""
    with reader.snapshot():
        targets = reader.targets(info.id)
        columns = {t.key: reader.series(info.id, t.key) for t in targets}
    series = [_target_series(t, columns[t.key]["t"], columns[t.key]["rss"]) for t in targets]
    return SeriesFile(RECORDING, str(reader.path), series, info)


def from_recording(recording: Recording, source: str, path: str) -> SeriesFile:
    series = [
        _target_series(t, recording.series[t.key]["t"], recording.series[t.key]["rss"])
        for t in recording.targets
    ]
    return SeriesFile(source, path, series, recording.info)


def _target_series(
    target: Target, times: Sequence[float | int | None], values: Sequence[float | int | None]
) -> NamedSeries:
    ts: list[float] = []
    vs: list[float | None] = []
    for t, v in zip(times, values, strict=True):
        if t is not None:
            if not is_time(t) or (v is not None and not is_size(v)):
                # An export is checked as it is read; this is a store written elsewhere.
                raise CorruptRecording(
                    f"target {target.key} holds a sample ({t!r}, {v!r}) that is not a time "
                    "and a memory size"
                )
            ts.append(float(t))
            vs.append(None if v is None else float(v))
    return NamedSeries(
        target.key,
        _label(target.kind, target.name, target.pid),
        target.pid,
        target.kind,
        ts,
        vs,
        target.start_time or None,
    )


def _label(kind: str, name: str, pid: int | None) -> str:
    if kind == "sum" or pid is None:
        return name
    return f"{name} (pid {pid})"


def select(found: SeriesFile, wanted: str) -> SeriesFile:
    """Only the series `wanted` names: a target key, else a PID (its process series, or
    every series of that PID when none is a single process)."""
    chosen = [s for s in found.series if s.key is not None and s.key == wanted]
    if not chosen and wanted.strip().isdigit():
        by_pid = [s for s in found.series if s.pid == int(wanted)]
        chosen = [s for s in by_pid if s.kind != "sum"] or by_pid
    if chosen:
        return replace(found, series=chosen)
    named = [s for s in found.series if s.key is not None]
    if not named:
        raise UsageError(
            f"{found.path} holds one series without target names: --target applies to "
            "recordings, exports and CSVs with a target column"
        )
    listed = ", ".join(f"{s.key} ({s.name})" for s in named[:8])
    more = f" and {len(named) - 8} more" if len(named) > 8 else ""
    raise UsageError(f"{found.path} has no target {wanted!r}; its targets: {listed}{more}")


# -- text: CSV and psrecord's log -------------------------------------------------------


def parse_text(text: str, path: str) -> SeriesFile:
    """A CSV with time and rss columns (a memlens CSV export is one), psrecord's plain
    log (`# Elapsed time  CPU (%)  Real (MB) ...`), or psrecord's `--log-format csv`."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise CorruptRecording(f"{path} is empty")
    header = lines[first]
    if header.lstrip().startswith("#"):
        return _psrecord_plain(lines, first, path)
    if "," not in header:
        raise NotARecording(f"{path} is not {_KNOWN}")
    return _csv(text, path)


_PLAIN_SPLIT = re.compile(r"\s{2,}")


def _psrecord_plain(lines: list[str], first: int, path: str) -> SeriesFile:
    """psrecord writes its header cells centred in 12 columns, so names (which hold
    single spaces) are apart by two spaces or more; data columns by any whitespace."""
    names = [n.lower() for n in _PLAIN_SPLIT.split(lines[first].strip().lstrip("#").strip())]
    if "real (mb)" not in names or "elapsed time" not in names:
        raise NotARecording(
            f"{path} is not {_KNOWN} (a '#' header without 'Elapsed time' and 'Real (MB)')"
        )
    at_time, at_real = names.index("elapsed time"), names.index("real (mb)")
    times: list[float] = []
    values: list[float | None] = []
    for number, line in enumerate(lines[first + 1 :], start=first + 2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = line.split()
        if len(cells) <= max(at_time, at_real):
            raise CorruptRecording(
                f"{path} line {number} has {len(cells)} columns; psrecord's log has at "
                f"least {max(at_time, at_real) + 1}"
            )
        times.append(_time(cells[at_time], path, number, "Elapsed time"))
        values.append(_size(cells[at_real], MB, path, number, "Real (MB)"))
    return _single(PSRECORD, path, f"{Path(path).name} (psrecord)", times, values)


def _csv(text: str, path: str) -> SeriesFile:
    # Read from the text itself, not from its lines: a quoted field may hold a line break.
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        return _csv_rows(rows, path)
    except csv.Error as e:
        # A field over the csv module's limit (128 KiB), a NUL, a stray quote.
        raise CorruptRecording(
            f"{path} line {rows.line_num} is not CSV that can be read ({e})"
        ) from None


def _csv_rows(rows: _Reader, path: str) -> SeriesFile:
    header = next((row for row in rows if any(cell.strip() for cell in row)), [])
    header = [cell.strip().lower() for cell in header]
    if "time" in header and "rss" in header:
        at_time, at_rss, scale, source = header.index("time"), header.index("rss"), 1.0, CSV
        if tuple(header[: len(_CSV_EXPORT_HEADER)]) == _CSV_EXPORT_HEADER:
            source = CSV_EXPORT
    elif "elapsed_time" in header and "mem_real" in header:  # psrecord --log-format csv
        at_time, at_rss, scale, source = (
            header.index("elapsed_time"),
            header.index("mem_real"),
            MB,
            PSRECORD,
        )
    else:
        shown = ",".join(header)
        shown = shown if len(shown) <= 60 else shown[:59] + "…"
        raise NotARecording(
            f"{path} is a CSV without a time and an rss column (its header: {shown})"
        )
    at_key = header.index("target") if "target" in header else None
    at_pid = header.index("pid") if "pid" in header else None
    at_name = header.index("name") if "name" in header else None
    grouped: dict[str | None, _Rows] = {}
    for row in rows:
        number = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise CorruptRecording(
                f"{path} line {number} has {len(row)} field{'' if len(row) == 1 else 's'}; "
                f"its header has {len(header)}"
            )
        key = row[at_key].strip() if at_key is not None else None
        group = grouped.get(key)
        if group is None:
            pid = _pid(row[at_pid], path, number) if at_pid is not None else None
            name = row[at_name].strip() if at_name is not None else ""
            group = grouped[key] = _Rows(pid, name)
        group.times.append(_time(row[at_time], path, number, header[at_time]))
        cell = row[at_rss].strip()
        # An empty cell is an unknown value, as in memlens's own CSV export.
        group.values.append(None if not cell else _size(cell, scale, path, number, header[at_rss]))
    if not grouped:
        raise CorruptRecording(f"{path} has a header but no samples")
    if at_key is None:
        only = grouped[None]
        label = f"{Path(path).name} (psrecord)" if source == PSRECORD else Path(path).name
        return _single(source, path, label, only.times, only.values)
    series = []
    for key, group in grouped.items():
        assert key is not None
        kind = "sum" if key.startswith("sum-") else "process"
        name = _label(kind, group.name or key, group.pid)
        series.append(NamedSeries(key, name, group.pid, kind, group.times, group.values))
    return SeriesFile(source, path, series)


class _Reader(Protocol):
    """What `csv.reader` returns, as far as this module uses it."""

    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...
    def __next__(self) -> list[str]: ...


@dataclass
class _Rows:
    pid: int | None
    name: str
    times: list[float] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)


def _single(
    source: str, path: str, name: str, times: list[float], values: list[float | None]
) -> SeriesFile:
    if not times:
        raise CorruptRecording(f"{path} has a header but no samples")
    return SeriesFile(source, path, [NamedSeries(None, name, None, "series", times, values)])


def _number(cell: str, path: str, line: int, column: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise CorruptRecording(
            f"{path} line {line}: {_shown(cell)!r} in the {column} column is not a number"
        )
    return value


def _time(cell: str, path: str, line: int, column: str) -> float:
    value = _number(cell, path, line, column)
    if not is_time(value):
        raise CorruptRecording(
            f"{path} line {line}: {_shown(cell)!r} in the {column} column is not a time "
            "(seconds from 0, up to the year 9999)"
        )
    return value


def _size(cell: str, scale: float, path: str, line: int, column: str) -> float:
    value = _number(cell, path, line, column) * scale
    if not is_size(value):
        raise CorruptRecording(
            f"{path} line {line}: {_shown(cell)!r} in the {column} column is not a memory "
            "size (0 to 2**63 bytes)"
        )
    return value


def _shown(cell: str) -> str:
    cell = cell.strip()
    return cell if len(cell) <= 30 else cell[:29] + "…"


def _pid(cell: str, path: str, line: int) -> int | None:
    cell = cell.strip()
    if not cell:
        return None
    try:
        return int(cell)
    except ValueError:
        raise CorruptRecording(
            f"{path} line {line}: {cell!r} in the pid column is not a PID"
        ) from None


def _read(path: Path, size: int | None) -> bytes:
    try:
        with open_regular(path) as f:  # a FIFO would block
            return read_bounded(path, f) if size is None else f.read(size)
    except IsADirectoryError:
        raise NotARecording(f"{path} is a directory, not {_KNOWN}") from None
    except FileNotFoundError:
        raise NotARecording(f"{path} does not exist") from None
    except OSError as e:
        raise NotARecording(f"{path} cannot be read: {e.strerror or e}") from None
