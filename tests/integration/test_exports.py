"""Exports and imports of real recordings: written by the real Store from a real sampler
over a real child, read back exactly, opened in real Chromium, driven through the CLI."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pty
import random
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from helpers import MB, Allocator
from memlens.errors import CorruptRecording, NewerSchema, NotARecording
from memlens.formats import (
    FORMATS,
    dump_binary,
    dump_csv,
    dump_html,
    dump_json,
    import_file,
    parse_export,
)
from memlens.formats.codec import decode_column, encode_column
from memlens.model import SAMPLE_FIELDS, Reading, Target, Tick
from memlens.probes import open_process
from memlens.probes.maps import MapsProbe
from memlens.store import Recording, Store, StoreReader, load_recording
from memlens.units import human_bytes
from memlens.watch.sampler import Sampler, SamplerConfig

T0 = 1_700_000_000.0
INJECTION = "</script><script>alert(1)</script>"


@dataclass(frozen=True)
class Recorded:
    db: Path
    rid: int


def read(db: Path, rid: int) -> Recording:
    reader = StoreReader.open(db)
    try:
        return load_recording(reader, reader.recording(rid))
    finally:
        reader.close()


# -- recordings to export ------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """A real sampler over a real child that grows, then exits with code 3 (an `exit`
    event, exit state and code); CPU is unknown at first, USS and PSS always."""
    db = tmp_path_factory.mktemp("real") / "memlens.db"
    child = Allocator()
    try:
        sampler = Sampler(
            SamplerConfig(children=True),
            on_tick=lambda tick: None,
            probes=[open_process(child.pid)],
            children_of_memlens=[child.proc],  # type: ignore[list-item]
        )
        store = Store.open(db)
        rid = store.begin_recording(
            name="grower", command="python alloc.py --token hunter2", interval=0.05, host="here"
        )
        maps = MapsProbe(child.pid)
        for mb in (0, 16, 32, 0, 8):
            if mb:
                child.alloc(mb)
            tick = sampler.sample_once()
            store.add_tick(rid, tick)
            for key in tick.samples:  # the process, not its sum: a reading of its map
                if not key.startswith("sum-"):
                    store.add_maps(rid, key, maps.read().sample())
            time.sleep(0.02)
        maps.close()
        store.add_event(rid, "note", time.time(), {"text": "halfway", "n": 1})
        child.command("exit 3")
        child.proc.wait()
        for _ in range(200):
            tick = sampler.sample_once()
            store.add_tick(rid, tick)
            if tick.exits:
                break
            time.sleep(0.02)
        sampler.stop()
        store.end_recording(rid, ended=time.time(), exit_code=3)
        store.close()
    finally:
        child.stop()
    return Recorded(db, rid)


def synthetic_store(
    db: Path,
    *,
    samples: int,
    cmdline: str = "python worker.py",
    peak: int = 300 * MB,
    suffix: str = "",
) -> int:
    """Three targets: one with every kind of unknown value and a spike to `peak`, one
    sampled at other times, one never sampled; an unended recording. `suffix` goes at the
    end of the recording's and the first target's names."""
    rng = random.Random(5)
    store = Store.open(db)
    rid = store.begin_recording(
        name=f"synthetic{suffix}", command=cmdline, interval=1.0, host="box", started=T0
    )
    a = Target("100-1", "process", 100, T0 - 1, f"alpha{suffix}", cmdline)
    b = Target("200-2", "process", 200, T0 - 2, "beta", "beta --serve", parent="100-1")
    c = Target("sum-100-1", "sum", 100, T0 - 1, "alpha + children", cmdline, members=["100-1"])
    for target in (a, b, c):
        store.add_target(rid, target)

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.2 else value

    rss = 100 * MB
    for k in range(samples):
        rss = max(4096, rss + rng.randrange(-32, 40) * 4096)
        value = peak if k == samples // 2 else min(rss, peak - 4096)
        store.add_tick(
            rid,
            Tick(
                k + 1,
                T0 + k + rng.random() / 100,
                {
                    a.key: Reading(
                        value,
                        900 * MB,
                        maybe(12 * MB),
                        maybe(0),
                        maybe(4),
                        17,
                        None if k == 0 else maybe(rng.random() * 150),
                        maybe(rss // 2),
                        maybe(rss // 3),
                    ),
                },
            ),
        )
        if k % 3 == 0:
            store.add_tick(
                rid,
                Tick(k + 1, T0 + k + 0.5, {b.key: Reading(64 * MB, 128 * MB, MB, None, 2, 5, 0.0)}),
            )
    store.add_event(rid, "warning", T0 + 1, {"message": "slow disk"})
    store.add_event(rid, "note", T0 + 2, {"text": cmdline}, target_key=a.key)
    store.close()
    return rid


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    db = tmp_path_factory.mktemp("synthetic") / "memlens.db"
    return Recorded(db, synthetic_store(db, samples=300))


@pytest.fixture(scope="module")
def long(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """Twenty thousand samples of one target, with one spike to 700 MB in the middle."""
    db = tmp_path_factory.mktemp("long") / "memlens.db"
    return Recorded(db, synthetic_store(db, samples=20_000, peak=700 * MB))


# -- round trips -----------------------------------------------------------------------------


def assert_same(original: Recording, copy: Recording) -> None:
    info, new = original.info, copy.info
    for name in ("name", "started", "ended", "command", "host", "interval", "exit_code"):
        assert getattr(new, name) == getattr(info, name), name
    assert (new.target_count, new.sample_count) == (info.target_count, info.sample_count)
    assert copy.targets == original.targets
    assert copy.series == original.series
    assert [(e.target_key, e.t, e.kind, e.data) for e in copy.events] == [
        (e.target_key, e.t, e.kind, e.data) for e in original.events
    ]
    assert copy.maps == original.maps
    assert (copy.judged_with, copy.limits) == (original.judged_with, original.limits)


@pytest.mark.parametrize("fmt", ["json", "binary"])
@pytest.mark.parametrize("which", ["real", "synthetic"])
def test_export_then_import_gives_the_same_recording(
    fmt: str, which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    recorded: Recorded = request.getfixturevalue(which)
    original = read(recorded.db, recorded.rid)
    if which == "real":  # the sampler really produced what the round trip must keep
        proc = next(t for t in original.targets if t.kind == "process")
        assert (proc.state, proc.exit_code) == ("exited", 3)
        assert [e.target_key for e in original.events if e.kind == "exit"]
        assert original.series[proc.key]["cpu"][0] is None
        assert any(isinstance(v, float) for v in original.series[proc.key]["cpu"])
        assert all(isinstance(v, int) for v in original.series[proc.key]["uss"])  # budgeted
        assert len(original.maps[proc.key]) == 5
        assert original.maps[proc.key][2].rss()["anon"] >= 48 * MB
    path = tmp_path / f"export.{FORMATS[fmt].extension}"
    path.write_bytes(FORMATS[fmt].write(original))
    target_db = tmp_path / "other.db"
    first, _ = import_file(path, target_db)
    second, _ = import_file(path, target_db)  # a second import is a second recording
    assert second != first
    for rid in (first, second):
        assert_same(original, read(target_db, rid))


def test_json_export_is_the_documented_document(synthetic: Recorded) -> None:
    original = read(synthetic.db, synthetic.rid)
    doc = json.loads(dump_json(original))
    assert (doc["format"], doc["version"]) == ("memlens-recording", 1)
    assert set(doc) == {
        "format",
        "version",
        "memlens_version",
        "recording",
        "targets",
        "series",
        "events",
        "maps",
        "judged_with",
        "group_by",
        "groups",
    }
    assert doc["judged_with"] is None  # made without settings, as before memlens kept them
    assert doc["targets"] == [t.to_dict() for t in original.targets]
    # The export's grouping (by name unless --group-by says otherwise): a sum is in none.
    assert doc["group_by"] == "name"
    assert {g["label"]: g["members"] for g in doc["groups"]} == {
        t.name: [t.key] for t in original.targets if t.kind == "process"
    }
    assert doc["series"] == original.series  # exactly the reader's columnar shape
    assert list(doc["series"]["100-1"]) == ["t", *SAMPLE_FIELDS]
    assert doc["series"]["sum-100-1"]["t"] == []
    assert doc["recording"]["ended"] is None


def test_csv_rows_are_the_readers_samples(real: Recorded, synthetic: Recorded) -> None:
    for recorded in (real, synthetic):
        original = read(recorded.db, recorded.rid)
        rows = list(csv.DictReader(io.StringIO(dump_csv(original).decode())))
        header = dump_csv(original).decode().splitlines()[0].split(",")
        assert header == ["time", "target", "pid", "name", *SAMPLE_FIELDS, "group"]
        times = [float(r["time"]) for r in rows]
        assert times == sorted(times)
        by_target: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            by_target.setdefault(row["target"], []).append(row)
        for target in original.targets:
            series = original.series[target.key]
            got = by_target.get(target.key, [])
            assert [float(r["time"]) for r in got] == series["t"]
            assert {(r["pid"], r["name"]) for r in got} <= {(str(target.pid), target.name)}
            group = target.name if target.kind == "process" else ""
            assert {r["group"] for r in got} <= {group}
            for name in SAMPLE_FIELDS:
                want = series[name]
                parsed = [
                    None if r[name] == "" else (float if name == "cpu" else int)(r[name])
                    for r in got
                ]
                assert parsed == want, name


def test_binary_is_much_smaller_than_json_and_still_exact(long: Recorded) -> None:
    original = read(long.db, long.rid)
    as_json, as_binary = dump_json(original), dump_binary(original)
    assert len(as_binary) < len(as_json)
    assert len(as_binary) < len(dump_csv(original))
    assert parse_export(as_binary, "long.mlrec").series == original.series


def test_binary_columns_keep_every_value_bit_for_bit() -> None:
    columns: list[list[Any]] = [
        [],
        [None, None],
        [0, 1, -1, 2**63 - 1, -(2**63), 2**63 - 1, None, 5],
        [0.0, -0.0, math.inf, -math.inf, 1e-310, None, 1.5, 1.7e9 + 0.123456],
        [2**70, 3, None],  # beyond 64 bits: stored as JSON
        [1, 2.5, None],  # mixed: stored as JSON
    ]
    for values in columns:
        encoded = encode_column(values)
        decoded, end = decode_column(encoded, 0, len(values))
        assert end == len(encoded)
        assert [type(v) for v in decoded] == [type(v) for v in values]
        assert [struct.pack("<d", v) if isinstance(v, float) else v for v in decoded] == [
            struct.pack("<d", v) if isinstance(v, float) else v for v in values
        ]
    nan, _ = decode_column(encode_column([math.nan]), 0, 1)
    assert math.isnan(nan[0])  # type: ignore[arg-type]


# -- files that are not (good) exports -----------------------------------------------------------


def test_what_cannot_be_imported_says_why(synthetic: Recorded, tmp_path: Path) -> None:
    original = read(synthetic.db, synthetic.rid)
    binary = dump_binary(original)
    doc = json.loads(dump_json(original))
    cases: list[tuple[bytes, type[Exception], str]] = [
        (b"hello, world\n", NotARecording, "not a memlens export"),
        (dump_csv(original), NotARecording, "CSV export, which cannot be imported"),
        (b'{"format": "something-else"}', NotARecording, "not a memlens recording export"),
        (synthetic.db.read_bytes(), NotARecording, "recording store, not an export"),
        (binary[:-40], CorruptRecording, "damaged"),
        (b"MLREC\x01" + zlib.compress(b"\x00\x00"), CorruptRecording, "damaged"),
        (b"MLREC\x07" + binary[6:], NewerSchema, "format version 7"),
        (json.dumps({**doc, "version": 2}).encode(), NewerSchema, "format version 2"),
        (b'{"format": "memlens-recording", "version": 1', CorruptRecording, "not valid JSON"),
        (b"", CorruptRecording, "empty"),
    ]
    broken = json.loads(dump_json(original))
    broken["series"]["100-1"]["t"][3] = broken["series"]["100-1"]["t"][2]
    cases.append((json.dumps(broken).encode(), CorruptRecording, "strictly increasing"))
    broken = json.loads(dump_json(original))
    broken["events"][0]["kind"] = "party"
    cases.append((json.dumps(broken).encode(), CorruptRecording, "'party'"))
    broken = json.loads(dump_json(original))
    broken["series"]["100-1"]["gpu"] = broken["series"]["100-1"]["rss"]
    cases.append((json.dumps(broken).encode(), NewerSchema, "gpu"))
    db = tmp_path / "untouched.db"
    for data, error, says in cases:
        path = tmp_path / "candidate"
        path.write_bytes(data)
        with pytest.raises(error, match=re.escape(says)):
            import_file(path, db)
    assert not db.exists()  # nothing was decoded, so the store was never opened


# -- HTML in a real browser ---------------------------------------------------------------------


class Page:
    """A page on a fresh context that records everything that must not happen: a request
    to anything but file: or data:, a script error, a console error, a dialog."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", self._route)
        self.page.on("request", self._request)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", self._dialog)
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("#chart[data-ready]", timeout=15_000)

    def _allowed(self, url: str) -> bool:
        return urlsplit(url).scheme in ("file", "data")

    def _route(self, route: Any) -> None:
        if self._allowed(route.request.url):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def _request(self, request: Any) -> None:
        if not self._allowed(request.url):
            self.outside.append(request.url)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check_clean(self) -> None:
        assert self.outside == []
        assert self.errors == []
        assert self.dialogs == []

    def close(self) -> None:
        self.context.close()


def stat(page: Any, key: str, name: str) -> dict[str, str]:
    result: dict[str, str] = page.evaluate(
        """([key, name]) => {
            const cell = document.querySelector(
                `#summary tr[data-key="${key}"] [data-stat="${name}"]`);
            return {text: cell.textContent, bytes: cell.dataset.bytes || ""};
        }""",
        [key, name],
    )
    return result


@pytest.mark.browser
def test_the_html_export_opens_offline_with_a_chart_and_true_figures(
    browser: Any, real: Recorded, tmp_path: Path, artifacts_dir: Path
) -> None:
    original = read(real.db, real.rid)
    path = tmp_path / "report.html"
    path.write_bytes(dump_html(original))
    assert not re.search(r"[a-z]+://", path.read_text(), re.IGNORECASE)  # no URL at all
    page = Page(browser, path)
    try:
        assert page.page.locator("#chart canvas").count() >= 1
        assert page.page.get_attribute("#chart", "data-ready") == "1"
        for target in original.targets:
            rss = [v for v in original.series[target.key]["rss"] if v is not None]
            if not rss:
                continue
            found = stat(page.page, target.key, "max")
            assert found == {"text": human_bytes(max(rss)), "bytes": repr(max(rss))}
            count = len(original.series[target.key]["t"])
            assert stat(page.page, target.key, "samples")["text"] == f"{count:,}"
        proc = next(t for t in original.targets if t.kind == "process")
        assert stat(page.page, proc.key, "exit")["text"] == "exited (code 3)"
        assert max(original.series[proc.key]["rss"]) >= 48 * MB  # type: ignore[type-var]
        page.page.screenshot(path=str(artifacts_dir / "export-html.png"), full_page=True)
        page.check_clean()
    finally:
        page.close()


@pytest.mark.browser
def test_markup_in_a_command_line_is_shown_as_text_and_runs_nothing(
    browser: Any, tmp_path: Path
) -> None:
    db = tmp_path / "evil.db"
    rid = synthetic_store(db, samples=50, cmdline=f"python -c {INJECTION}", suffix=INJECTION)
    path = tmp_path / "evil.html"
    path.write_bytes(dump_html(read(db, rid)))
    page = Page(browser, path)
    try:
        shown = page.page.locator('#summary tr[data-key="100-1"] .cmdline').text_content()
        assert shown == f"python -c {INJECTION}"
        assert page.page.locator("#command").text_content() == f"python -c {INJECTION}"
        assert (
            page.page.locator("h1").text_content() == f"memlens: synthetic{INJECTION} (recording 1)"
        )
        # the name also travels in the JSON block to the chart's legend
        assert f"alpha{INJECTION} (100)" in page.page.locator(".u-legend").text_content()
        assert page.page.evaluate("document.scripts.length") == 3  # data, uPlot, the page's
        assert page.page.locator("#chart canvas").count() >= 1
        assert stat(page.page, "100-1", "max")["text"] == "300.0 MB"
        page.check_clean()
    finally:
        page.close()


def test_a_long_recording_is_drawn_from_at_most_4000_points_keeping_its_peak(
    long: Recorded,
) -> None:
    text = dump_html(read(long.db, long.rid)).decode()
    block = re.search(r'<script type="application/json" id="memlens-data">(.*?)</script>', text)
    assert block is not None
    data = json.loads(block.group(1))
    alpha = next(s for s in data["series"] if s["key"] == "100-1")
    assert alpha["bucketed"] is True
    assert len(alpha["t"]) <= 4000
    assert max(v for v in alpha["rss"] if v is not None) == 700 * MB
    assert len(text) < 400_000


# -- the command line --------------------------------------------------------------------------


def memlens(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "MEMLENS_DB"}
    return subprocess.run(
        [sys.executable, "-m", "memlens", *args],
        capture_output=True,
        timeout=60,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def one_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_export_and_import_on_the_command_line(synthetic: Recorded, tmp_path: Path) -> None:
    db = str(synthetic.db)
    result = memlens("export", str(synthetic.rid), "--format", "binary", "--db", db, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    name = f"memlens-{synthetic.rid}.mlrec"
    assert result.stdout.decode() == f"{name}\n"
    assert "400 samples" in one_line(result.stderr)  # 300 of alpha, 100 of beta
    assert (tmp_path / name).read_bytes().startswith(b"MLREC\x02")

    result = memlens("export", "synthetic", "--db", db, "--format", "json", "-o", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["recording"]["name"] == "synthetic"

    result = memlens("export", f"{db}#{synthetic.rid}", "-o", "out/../copy.csv", cwd=tmp_path)
    assert result.returncode == 2  # out/ does not exist: one line, nothing written
    assert "cannot write out/../copy.csv" in one_line(result.stderr)
    result = memlens("export", f"{db}#{synthetic.rid}", "-o", "copy.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "copy.csv").read_bytes() == dump_csv(read(synthetic.db, synthetic.rid))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers

    other = str(tmp_path / "other.db")
    result = memlens("import", name, "--db", other, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    new_id = int(result.stdout.decode().strip())
    assert f"as recording {new_id}" in one_line(result.stderr)
    assert_same(read(synthetic.db, synthetic.rid), read(Path(other), new_id))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["export", "nope", "--format", "json"], "no recording 'nope'"),
        (["export", "1"], "say which format with --format"),
        (["export", "1", "--format", "json", "-o", "notes.txt/out.json"], "cannot write"),
        (["export", "1", "--format", "json", "-o", "."], "is a directory"),
        (["export", "missing.db#1", "--format", "csv"], "no recording file 'missing.db'"),
        (["export", "1", "--format", "pdf"], "invalid choice"),
        (["import", "notes.txt"], "notes.txt is not a memlens export"),
        (["import", "absent.json"], "absent.json does not exist"),
        (["import", "memlens.db"], "recording store, not an export"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], says: str, synthetic: Recorded, tmp_path: Path
) -> None:
    shutil.copy(synthetic.db, tmp_path / "memlens.db")
    (tmp_path / "notes.txt").write_text("not a recording\n")
    result = memlens(*args, "--db", "memlens.db", cwd=tmp_path)
    assert result.returncode == 2
    assert says in one_line(result.stderr)
    assert result.stdout == b""
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("memlens.db-"))
    assert left == ["memlens.db", "notes.txt"]  # nothing written, not even a temporary file


EXPORT_LAST = [sys.executable, "-m", "memlens", "export", "last", "--db"]


def test_a_reader_that_stops_early_ends_the_export_quietly(long: Recorded) -> None:
    proc = subprocess.Popen(
        [*EXPORT_LAST, str(long.db), "--format", "json", "-o", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.read(10) == b'{"format":'
    proc.stdout.close()  # as `| head` does; the JSON is far larger than a pipe holds
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""  # no traceback, and no claim to have written it all
    proc.stderr.close()


def test_binary_is_not_written_to_a_terminal(synthetic: Recorded, tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [*EXPORT_LAST, str(synthetic.db), "--format", "binary", "-o", "-"],
            stdout=follower,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            timeout=60,
            cwd=tmp_path,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 2
    assert "would garble the terminal" in one_line(result.stderr)
