"""Hostile export files against the real `memlens import` and `memlens analyze`: bombs
that claim or inflate to gigabytes (the child's peak memory is read from the kernel),
flipped bits, deep nesting, values SQLite or a date cannot hold. Each is one line and
exit 2, and the real SQLite store it was imported into is left exactly as it was."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from memlens.errors import MemlensError
from memlens.formats import dump_binary, dump_json, import_file, parse_export
from memlens.formats.bundle import COLUMNS

FIXTURES = Path(__file__).parent / "fixtures"
TABLES = ("recordings", "targets", "samples", "events")
PEAK_LIMIT_MB = 300


def memlens(*args: str, cwd: Path) -> tuple[int, str, float]:
    """Exit code, stderr and the child's peak resident memory in MB (from wait4)."""
    env = {k: v for k, v in os.environ.items() if k != "MEMLENS_DB"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "memlens", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err, usage.ru_maxrss / 1024


def counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A real store holding one imported recording, so 'untouched' means something."""
    db = tmp_path / "memlens.db"
    import_file(FIXTURES / "v1.mlrec", db)
    return db


def assert_refused(code: int, err: str, says: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert says in lines[0]


def v2(stream: bytes, version: int = 2) -> bytes:
    """A binary export around a zlib stream, with a true checksum."""
    data = b"MLREC" + bytes([version]) + stream
    return data + struct.pack("<I", zlib.crc32(data)) if version >= 2 else data


def inflated(data: bytes) -> bytes:
    """The body of a binary export of either version (what follows the stream is left)."""
    return zlib.decompressobj().decompress(data[6:])


def fixture_meta(**changes: Any) -> bytes:
    """The fixture's header, changed, with its length in front."""
    recording = parse_export((FIXTURES / "v1.mlrec").read_bytes(), "fixture")
    body = inflated(dump_binary(recording))
    (size,) = struct.unpack_from("<I", body)
    meta = {**json.loads(body[4 : 4 + size]), **changes}
    head = json.dumps(meta).encode()
    return struct.pack("<I", len(head)) + head


# -- bombs: memory bounds -------------------------------------------------------------------


def claims(count: int) -> bytes:
    """A body whose one target claims `count` samples, every column empty (kind 0, which
    takes no bytes whatever the count): a few hundred bytes that once asked for lists of
    `count` values per column."""
    doc = _document()
    head = fixture_meta(targets=doc["targets"][:1], counts=[count])
    return head + bytes(5) * len(COLUMNS)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("bombs")
    z = zlib.compressobj(9)
    stream = [z.compress(fixture_meta())]
    zeros = bytes(1 << 20)
    stream.extend(z.compress(zeros) for _ in range(1024))  # 1 GiB after the header
    stream.append(z.flush())
    inflating = b"".join(stream)
    files = {
        "inflates to 1 GiB": v2(inflating),
        "inflates to 1 GiB, version 1": v2(inflating, version=1),
        # Version 1 (no checksum): what a file from before the checksum can claim.
        "counts 10**7": v2(zlib.compress(claims(10**7)), version=1),
        "counts 10**9": v2(zlib.compress(claims(10**9)), version=1),
        "a header of 4 GiB": v2(zlib.compress(b"\xff\xff\xff\xff" + bytes(1000)), version=1),
    }
    for name, data in files.items():
        (tmp / f"{name}.mlrec").write_bytes(data)
    assert len(files["inflates to 1 GiB"]) < 1_100_000
    assert len(files["counts 10**9"]) < 2_000
    return {name: tmp / f"{name}.mlrec" for name in files}


BOMBS = [
    "inflates to 1 GiB",
    "inflates to 1 GiB, version 1",
    "counts 10**7",
    "counts 10**9",
    "a header of 4 GiB",
]


@pytest.mark.parametrize("bomb", BOMBS)
def test_a_bomb_is_refused_within_a_memory_bound(
    bomb: str, bombs: dict[str, Path], store: Path
) -> None:
    before = counts(store)
    code, err, peak = memlens("import", str(bombs[bomb]), "--db", str(store), cwd=store.parent)
    assert_refused(code, err, "is a damaged memlens binary export")
    assert peak < PEAK_LIMIT_MB, f"import peaked at {peak:.0f} MB"
    assert counts(store) == before
    code, err, peak = memlens("analyze", str(bombs[bomb]), cwd=store.parent)
    assert_refused(code, err, "is a damaged memlens binary export")
    assert peak < PEAK_LIMIT_MB, f"analyze peaked at {peak:.0f} MB"


# -- the checksum and version 1 -------------------------------------------------------------


def test_a_version_1_file_still_imports_as_it_was_written(store: Path) -> None:
    old = parse_export((FIXTURES / "v1.mlrec").read_bytes(), "v1.mlrec")
    same = parse_export((FIXTURES / "v1.json").read_bytes(), "v1.json")
    assert (old.info, old.targets, old.series, old.events) == (
        same.info,
        same.targets,
        same.series,
        same.events,
    )
    assert (FIXTURES / "v1.mlrec").read_bytes()[5] == 1
    again = parse_export(dump_binary(old), "v2")
    assert dump_binary(old)[5] == 2
    assert (again.targets, again.series, again.events) == (old.targets, old.series, old.events)


def test_every_flipped_bit_is_a_clean_refusal(store: Path) -> None:
    good = dump_binary(parse_export((FIXTURES / "v1.mlrec").read_bytes(), "fixture"))
    before = counts(store)
    codes = []
    for bit in range(8 * 6, 8 * len(good)):  # everything after the magic
        data = bytearray(good)
        data[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(MemlensError) as refused:
            parse_export(bytes(data), "flipped")
        codes.append(refused.value.exit_code)
    assert set(codes) == {2}
    flipped = store.parent / "flipped.mlrec"
    for bit in range(8 * 6, 8 * len(good), 97):  # a sample through the real import
        data = bytearray(good)
        data[bit // 8] ^= 1 << (bit % 8)
        flipped.write_bytes(bytes(data))
        with pytest.raises(MemlensError):
            import_file(flipped, store)
    assert counts(store) == before


# -- validated before the store is touched ---------------------------------------------------


def _document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        dump_json(parse_export(FIXTURES.joinpath("v1.mlrec").read_bytes(), "f"))
    )
    return doc


NESTED = "nested 2,000 deep"  # json.dumps itself cannot nest that deep: spliced in after


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc).replace(json.dumps(NESTED), "[" * 2000 + "1" + "]" * 2000).encode()


def _hostile() -> dict[str, tuple[bytes, str]]:
    cases: dict[str, tuple[bytes, str]] = {}

    def json_case(name: str, says: str, change: Any) -> None:
        doc = _document()
        change(doc)
        cases[f"json: {name}"] = (_dumps(doc), says)

    def binary_case(name: str, says: str, change: Any) -> None:
        doc = _document()
        change(doc)
        recording = parse_export(FIXTURES.joinpath("v1.mlrec").read_bytes(), "f")
        body = inflated(dump_binary(recording))
        (size,) = struct.unpack_from("<I", body)
        meta = json.loads(body[4 : 4 + size])
        for key in ("recording", "targets", "events"):
            meta[key] = doc[key]
        head = _dumps(meta)
        columns = body[4 + size :]
        cases[f"binary: {name}"] = (
            v2(zlib.compress(struct.pack("<I", len(head)) + head + columns), version=1),
            says,
        )

    deep = "nests JSON deeper than 64 levels"
    nested = NESTED
    json_case("event data 2,000 deep", deep, lambda d: d["events"][0].update(data={"x": nested}))
    json_case("a target 2,000 deep", deep, lambda d: d["targets"][0].update(extra=nested))
    binary_case("event data 2,000 deep", deep, lambda d: d["events"][0].update(data={"x": nested}))
    binary_case("a target 2,000 deep", deep, lambda d: d["targets"][0].update(members=nested))
    big = 2**70
    json_case(
        "rss 2**70",
        "is 1180591620717411303424, beyond 64 bits",
        lambda d: d["series"]["100-1"]["rss"].__setitem__(0, big),
    )
    json_case(
        "negative rss",
        "not a value from 0 to 2**63",
        lambda d: d["series"]["100-1"]["rss"].__setitem__(1, -4096),
    )
    json_case("pid 2**70", "beyond 64 bits", lambda d: d["targets"][0].update(pid=big))
    json_case(
        "time 1e300",
        "not a time from 1970 to 9999",
        lambda d: d["series"]["100-1"]["t"].__setitem__(-1, 1e300),
    )
    surrogate = "lone surrogate"
    json_case(
        "a surrogate in a command line",
        surrogate,
        lambda d: d["targets"][0].update(cmdline="run \udc80"),
    )
    json_case("a surrogate in the name", surrogate, lambda d: d["recording"].update(name="x\udc80"))
    json_case(
        "a surrogate in event data",
        surrogate,
        lambda d: d["events"][0]["data"].update({"\udc80": 1}),
    )
    binary_case(
        "a surrogate in the name", surrogate, lambda d: d["recording"].update(name="x\udc80")
    )
    json_case(
        "a 2 MB command",
        "longer than 1,048,576 characters",
        lambda d: d["recording"].update(command="x" * 2_000_000),
    )
    return cases


HOSTILE = list(_hostile())


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_import_is_one_line_and_leaves_the_store_as_it_was(
    case: str, store: Path
) -> None:
    data, says = _hostile()[case]
    path = store.parent / "hostile.export"
    path.write_bytes(data)
    before = counts(store)
    code, err, _ = memlens("import", str(path), "--db", str(store), cwd=store.parent)
    assert_refused(code, err, says)
    assert counts(store) == before
