"""Exports and reports of many processes, grouped: a real family of 30 forked processes
of two names sharing their parent's memory, sampled by the real sampler (PSS and USS
read from smaps_rollup) into a real store, two of them growing; then the real CLI's
report and exports, and the pages in real Chromium."""

from __future__ import annotations

import bisect
import csv
import io
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import MB, ROOT, run_memlens
from leakgen import generate
from memlens.model import Reading, Target, Tick
from memlens.store import Recording, Store, StoreReader, load_recording
from memlens.watch.sampler import Sampler, SamplerConfig

A, B = 18, 12  # children of each name
FAMILY = ROOT / "tests" / "forkfamily.py"
SVG = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Family:
    db: Path
    rid: int
    token: str
    parent: int
    grown: tuple[int, ...]  # the PIDs that grew and whose leak alerts are recorded

    @property
    def run(self) -> str:
        return f"{self.db}#{self.rid}"

    @property
    def a(self) -> str:
        return f"a-{self.token}"

    @property
    def b(self) -> str:
        return f"b-{self.token}"


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Family]:
    token = secrets.token_hex(3)
    db = tmp_path_factory.mktemp("family") / "memlens.db"
    proc = subprocess.Popen(
        [sys.executable, str(FAMILY), token, str(A), str(B)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        kids = [int(pid) for pid in proc.stdout.readline().split()]
        assert len(kids) == A + B
        grown = tuple(kids[-2:])  # two of the "b" children
        _named(kids, token)
        sampler = Sampler(
            SamplerConfig(
                detail=True,
                name_pattern=re.compile(f"^[ab]-{token}$"),
                system=False,
                gpu=False,
                agents=False,
            ),
            on_tick=lambda tick: None,
        )
        store = Store.open(db)
        rid = store.begin_recording(
            name="family", command=f"forkfamily {token}", interval=0.1, host="here"
        )
        for i in range(8):
            tick = sampler.sample_once()
            store.add_tick(rid, tick)
            if i in (2, 4):
                for pid in grown:
                    os.kill(pid, signal.SIGUSR1)
            time.sleep(0.1)
        sampler.stop()
        store.end_recording(rid, ended=time.time())
        store.close()
        recording = read(db, rid)
        assert len(recording.targets) == A + B
        _alerts(db, rid, recording, grown)
        yield Family(db, rid, token, proc.pid, grown)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def _named(kids: list[int], token: str) -> None:
    """Until every child has taken its name (it does so first thing after the fork)."""
    for _ in range(500):
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in kids}
        if names == {f"a-{token}", f"b-{token}"}:
            return
        time.sleep(0.01)
    raise AssertionError(f"the children did not take their names: {names}")


def _alerts(db: Path, rid: int, recording: Recording, grown: tuple[int, ...]) -> None:
    """The live leak alerts a watch would have recorded for the children that grew."""
    store = Store.open(db)
    try:
        for target in recording.targets:
            if target.pid not in grown:
                continue
            ts = recording.series[target.key]["t"]
            finding = {"rate": 2 * MB, "growth": 8 * MB, "onset": ts[0], "severity": "high"}
            store.add_event(
                rid,
                "leak",
                ts[-1],  # type: ignore[arg-type]
                {
                    "state": "raised",
                    "severity": "high",
                    "finding": finding,
                    "text": f"{target.name} (PID {target.pid}): LEAK (high)",
                    "name": target.name,
                    "pid": target.pid,
                },
                target.key,
            )
    finally:
        store.close()


def read(db: Path, rid: int) -> Recording:
    reader = StoreReader.open(db)
    try:
        return load_recording(reader, reader.recording(rid))
    finally:
        reader.close()


def memlens_json(*args: str) -> dict[str, Any]:
    done = run_memlens(*args, "--format", "json", "-o", "-")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def members_of(recording: Recording, name: str) -> list[Target]:
    return [t for t in recording.targets if t.name == name]


def sum_at(recording: Recording, members: list[Target], t: float) -> tuple[int, int]:
    """(the PSS sum, the RSS sum) of the members' samples at time `t`, read here."""
    pss = rss = 0
    for target in members:
        series = recording.series[target.key]
        i = bisect.bisect_left(series["t"], t)  # type: ignore[type-var]
        if i < len(series["t"]) and series["t"][i] == t:
            pss += int(series["pss"][i])  # type: ignore[arg-type]
            rss += int(series["rss"][i])  # type: ignore[arg-type]
    return pss, rss


# -- the report ----------------------------------------------------------------------------------


def test_the_json_report_has_one_group_per_name_with_its_pss_sum(family: Family) -> None:
    recording = read(family.db, family.rid)
    report = memlens_json("report", family.run)
    assert report["group_by"] == "name"
    groups = {g["label"]: g for g in report["groups"]}
    assert set(groups) == {family.a, family.b}
    for label, count in ((family.a, A), (family.b, B)):
        g = groups[label]
        members = members_of(recording, label)
        assert g["count"] == count == len(members)
        assert {m["key"] for m in g["members"]} == {t.key for t in members}
        # The sum is PSS (read every sample here), never the RSS added up.
        assert g["measure"] == g["peak"]["measure"] == "pss"
        pss, rss = sum_at(recording, members, g["peak"]["t"])
        assert g["peak"]["total"] == pss
        assert g["peak"]["rss"] == rss
        # The parent's 24 MB (and the interpreter's pages) are shared by every child: the
        # RSS counts them once per process, the PSS once.
        assert rss > 2 * pss
        assert g["peak"]["overcount"] == pytest.approx(rss / pss)
        assert "PSS" in g["measure_text"]
        peaks = [m["peak"] for m in g["members"]]
        assert peaks == sorted(peaks, reverse=True)
    for target in report["targets"]:
        assert target["group"] == target["name"]


def test_a_groups_leaks_are_counted_and_said_in_one_sentence(family: Family) -> None:
    report = memlens_json("report", family.run)
    groups = {g["label"]: g for g in report["groups"]}
    b = groups[family.b]
    assert b["leaks"]["count"] == 2
    assert b["leaks"]["text"] == f"2 of {B} processes of {family.b} leak, about 120.0 MB/min each"
    leaking = {m["pid"] for m in b["members"] if m["leak"]}
    assert leaking == set(family.grown)
    # The two that grew by 8 MB top the members' table.
    assert {m["pid"] for m in b["members"][:2]} == set(family.grown)
    assert all(m["growth"] >= 8 * MB for m in b["members"][:2])
    assert groups[family.a]["leaks"]["count"] == 0
    # The sum grew by what the two grew (their private pages), give or take a page table.
    assert b["growth"] == pytest.approx(16 * MB, rel=0.1)


def test_the_markdown_report_has_a_section_and_a_members_table_per_group(
    family: Family,
) -> None:
    done = run_memlens("report", family.run, "--format", "md")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert f"### {family.a} ({A} processes)" in text
    assert f"### {family.b} ({B} processes)" in text
    section = text.split(f"### {family.b} ({B} processes)")[1].split("\n## ")[0]
    assert "The sum is PSS: shared pages counted once" in section
    rows = [line for line in section.splitlines() if line.startswith(f"| {family.b} |")]
    assert len(rows) == B
    assert rows[0].endswith("| LEAK (high) 2.0 MB/s |")
    # No section of its own for each of the 30 processes.
    assert not re.search(rf"^### [ab]-{family.token} \(\d+\)$", text, re.MULTILINE)
    assert f"- **{family.b} ({B} processes):** 2 of {B} processes" in text


def test_grouping_by_command_or_parent_puts_the_family_in_one_group(family: Family) -> None:
    by_command = memlens_json("report", family.run, "--group-by", "command")
    program = os.path.basename(sys.executable)  # python3: the script it runs names the group
    assert [(g["label"], g["count"]) for g in by_command["groups"]] == [
        (f"{program} forkfamily.py", A + B)
    ]
    by_parent = memlens_json("report", family.run, "--group-by", "parent")
    # The parent's PID is kept by stores of schema version 6; older ones do not know it.
    (group,) = by_parent["groups"]
    assert group["count"] == A + B
    assert group["label"] in ("no parent", f"children of [{family.parent}]")


# -- the exports -----------------------------------------------------------------------------------


def test_the_csv_export_carries_each_samples_group(family: Family, tmp_path: Path) -> None:
    path = tmp_path / "family.csv"
    done = run_memlens("export", family.run, "-o", str(path))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert len(rows) == read(family.db, family.rid).sample_count
    assert {(r["name"], r["group"]) for r in rows} == {(family.a, family.a), (family.b, family.b)}
    done = run_memlens("export", family.run, "--group-by", "command", "-o", str(path))
    assert done.returncode == 0, done.stderr
    groups = {r["group"] for r in csv.DictReader(io.StringIO(path.read_text()))}
    assert groups == {f"{os.path.basename(sys.executable)} forkfamily.py"}


def test_the_json_export_carries_the_groups_and_imports_back(
    family: Family, tmp_path: Path
) -> None:
    recording = read(family.db, family.rid)
    doc = memlens_json("export", family.run)
    assert doc["group_by"] == "name"
    groups = {g["label"]: g for g in doc["groups"]}
    assert {label: g["count"] for label, g in groups.items()} == {family.a: A, family.b: B}
    for label, g in groups.items():
        members = members_of(recording, label)
        assert g["members"] == [t.key for t in members]
        assert g["measure"] == "pss"
        assert g["peak"]["total"] == sum_at(recording, members, g["peak"]["t"])[0]
    # Each target keeps the group the sampler recorded (by name, its default).
    assert {t["group"] for t in doc["targets"]} == {family.a, family.b}
    path = tmp_path / "family.json"
    path.write_text(json.dumps(doc))
    done = run_memlens("import", str(path), "--db", str(tmp_path / "back.db"))
    assert done.returncode == 0, done.stderr


# -- the pages in Chromium ------------------------------------------------------------------------

VIEWPORT = {"width": 1280, "height": 900}
SCREENS = 4  # a page of 30 processes is at most this many viewports tall


def open_page(browser: Any, path: Path, ready: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: (errors.append(f"a dialog: {d.message}"), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_selector(ready, timeout=15_000)
    return context, page, errors


@pytest.mark.browser
def test_the_html_export_shows_groups_on_a_page_a_few_screens_tall(
    browser: Any, family: Family, tmp_path: Path, artifacts_dir: Path
) -> None:
    path = tmp_path / "family.html"
    done = run_memlens("export", family.run, "-o", str(path))
    assert done.returncode == 0, done.stderr
    context, page, errors = open_page(browser, path, "body[data-group-charts]")
    try:
        assert page.get_attribute("#chart", "data-ready") == "1"
        assert page.get_attribute("#chart", "data-lines") == "2"  # the two groups' sums
        box = page.locator("#chart").bounding_box()
        assert box is not None
        assert box["y"] + box["height"] < VIEWPORT["height"]  # in the first viewport
        assert page.get_attribute("body", "data-group-charts") == "2"
        for index in range(2):
            chart = f"#chart-g{index}"
            # sum, mean, the top 5 and the others' band (its highest and lowest)
            assert page.get_attribute(chart, "data-lines") == "9"
            assert page.get_attribute(chart, "data-bands") == "1"
            assert page.locator(f"{chart} .u-legend .u-series").count() == 10  # + time
        legend = page.locator("#chart-g0 .u-legend").text_content() or ""
        assert f"{family.b}: sum (PSS)" in legend
        assert f"other members ({B - 5})" in legend
        # Every process is in the summary table, under its group's head row.
        assert page.locator("#summary tr[data-key]").count() == A + B
        assert page.locator(f'#summary tbody[data-group="{family.a}"] tr[data-key]').count() == A
        height = page.evaluate("document.documentElement.scrollHeight")
        page.screenshot(path=str(artifacts_dir / "export-groups.png"), full_page=True)
        assert height <= SCREENS * VIEWPORT["height"]
        assert errors == []
    finally:
        context.close()


@pytest.mark.browser
def test_the_html_report_shows_a_section_per_group_on_a_page_a_few_screens_tall(
    browser: Any, family: Family, tmp_path: Path, artifacts_dir: Path
) -> None:
    path = tmp_path / "report.html"
    done = run_memlens("report", family.run, "-o", str(path))
    assert done.returncode == 0, done.stderr
    context, page, errors = open_page(browser, path, "body[data-group-charts]")
    try:
        assert page.locator("#groups tr[data-group]").count() == 2
        b = page.locator(f'.group[data-group="{family.b}"]')
        assert b.locator("table.members tbody tr").count() == B
        leaking = b.locator('td[data-leak="1"]')
        assert leaking.count() == 2
        assert b.locator(".group-leaks").text_content() == (
            f"2 of {B} processes of {family.b} leak, about 120.0 MB/min each"
        )
        assert "The sum is PSS" in (b.locator(".note").text_content() or "")
        assert page.locator(".target").count() == 0  # no section per process
        for index in range(2):
            assert page.get_attribute(f"#chart-g{index}", "data-ready") == "1"
        height = page.evaluate("document.documentElement.scrollHeight")
        page.screenshot(path=str(artifacts_dir / "report-groups.png"), full_page=True)
        assert height <= SCREENS * VIEWPORT["height"]
        assert errors == []
    finally:
        context.close()


def test_the_svg_chart_draws_each_group_as_its_sum(family: Family, tmp_path: Path) -> None:
    path = tmp_path / "family.svg"
    done = run_memlens("export", family.run, "-o", str(path))
    assert done.returncode == 0, done.stderr
    root = ET.fromstring(path.read_text())
    series = root.findall(f".//{SVG}g[@class='series']")
    assert sorted(s.get("data-label") for s in series) == [
        f"{family.a}: sum of {A} (PSS)",
        f"{family.b}: sum of {B} (PSS)",
    ]
    assert len(root.findall(f".//{SVG}g[@class='legend']")) == 2
    # The two leaks' windows are drawn on their group's line.
    windows = root.findall(f".//{SVG}rect[@class='leak-window']")
    assert {w.get("data-key") for w in windows} == {f"group:{family.b}"}


# -- names from outside ----------------------------------------------------------------------

INJECTION = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"


def hostile_store(db: Path, processes: int = 12) -> int:
    """Processes named with markup, sampled for a minute: a group of them, on the page."""
    targets = [
        Target(f"{500 + i}-1", "process", 500 + i, 1.7e9, INJECTION, f"worker {INJECTION}")
        for i in range(processes)
    ]
    store = Store.open(db)
    rid = store.begin_recording(name="hostile", command="x", interval=1.0, host="here")
    for seq in range(60):
        samples = {
            t.key: Reading(
                (40 + i) * MB + seq * 4096, 90 * MB, 8 * MB, 0, 2, 9, 1.0, 10 * MB, 12 * MB
            )
            for i, t in enumerate(targets)
        }
        store.add_tick(rid, Tick(seq + 1, 1.7e9 + seq, samples, tuple(targets) if not seq else ()))
    store.end_recording(rid, ended=1.7e9 + 60)
    store.close()
    return rid


@pytest.mark.browser
def test_markup_in_a_groups_name_stays_text_on_both_pages(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "hostile.db"
    rid = hostile_store(db)
    for command, ready in (
        ("export", "body[data-group-charts]"),
        ("report", "#chart-g0[data-ready]"),
    ):
        path = tmp_path / f"{command}.html"
        done = run_memlens(command, f"{db}#{rid}", "-o", str(path))
        assert done.returncode == 0, done.stderr
        context, page, errors = open_page(browser, path, ready)
        try:
            heading = page.locator(".group h3").first.text_content() or ""
            assert heading == f"{INJECTION} (12 processes)"
            assert page.locator("img").count() == 0
            assert page.evaluate("document.scripts.length") == 3  # data, uPlot, the page's
            assert INJECTION in (page.locator("#chart-g0 .u-legend").text_content() or "")
            assert errors == []  # no script error, no dialog
        finally:
            context.close()


# -- a pool whose workers leak, judged by the detector ---------------------------------------------


def leaking_pool(db: Path, leaking: int = 3, steady: int = 3) -> int:
    """A pool of `worker`s sampled at 1 Hz (leakgen's labelled series: `leaking` linear
    leaks, `steady` flat ones) and a `cron` on its own, without alerts: the detector
    judges them in the report."""
    series = [generate("linear_leak", seed) for seed in range(1, leaking + 1)]
    series += [generate("flat_wander", seed) for seed in range(1, steady + 2)]
    n = min(len(s.times) for s in series)
    targets = [
        Target(f"{700 + i}-1", "process", 700 + i, series[0].times[0] - 5, "worker", "worker")
        for i in range(leaking + steady)
    ]
    targets.append(Target("800-1", "process", 800, series[0].times[0] - 5, "cron", "cron"))
    store = Store.open(db)
    rid = store.begin_recording(name="pool", command="pool", interval=1.0, host="here")
    for i in range(n):
        samples = {
            t.key: Reading(int(s.values[i]), 900 * MB, 9 * MB, 0, 4, 12, 1.0)
            for t, s in zip(targets, series, strict=True)
        }
        store.add_tick(
            rid, Tick(i + 1, series[0].times[i], samples, tuple(targets) if not i else ())
        )
    store.end_recording(rid, ended=series[0].times[n - 1] + 1)
    store.close()
    return rid


def test_a_pools_leaking_workers_get_one_recommendation_and_rss_sums_say_so(
    tmp_path: Path,
) -> None:
    db = tmp_path / "pool.db"
    rid = leaking_pool(db)
    report = memlens_json("report", f"{db}#{rid}")
    (worker,) = report["groups"]
    assert (worker["label"], worker["count"]) == ("worker", 6)
    assert worker["leaks"]["count"] == 3
    assert worker["leaks"]["text"].startswith("3 of 6 processes of worker leak, about ")
    # Without PSS the sum is the RSS added up, and it says so.
    assert worker["measure"] == "rss"
    assert "RSS" in worker["measure_text"]
    leak_advice = [r for r in report["recommendations"] if r["subject"] == "worker, 3 processes"]
    assert len(leak_advice) == 1
    assert leak_advice[0]["seen"].startswith("3 of the 6 processes of worker; the first, worker (")
    assert not any(
        r["subject"].startswith("worker (")
        for r in report["recommendations"]
        if r["subject"] and r["kind"] == leak_advice[0]["kind"]
    )
    # The cron, alone under its name, keeps its own section.
    assert [t["name"] for t in report["targets"] if t["group"] == "cron"] == ["cron"]
    md = run_memlens("report", f"{db}#{rid}", "--format", "md").stdout
    assert "### cron (800)" in md
    assert "### worker (6 processes)" in md
    # 7 processes are few: each worker keeps its own section too, after its group's.
    assert md.index("### worker (6 processes)") < md.index("### worker (700)")
    assert all(f"### worker ({pid})" in md for pid in range(700, 706))
