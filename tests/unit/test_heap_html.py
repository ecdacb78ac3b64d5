"""A heap profile's offline page as text: self-contained, every name escaped, the profile
bounded before it goes in, and the dashboard's own flame graph inlined."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from heapfixture import frame, profile, service_profile, stack
from memlens.formats import page
from memlens.formats.heap_html import MAX_FRAMES, MAX_STACKS, clean_profile, write_html

URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
INJECTION = "</script><script>alert(1)</script>"


def data_block(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="memlens-data">(.*?)</script>', html)
    assert found is not None
    return json.loads(found.group(1))


def test_the_page_is_one_file_with_no_url_and_the_dashboards_flame_graph(tmp_path: Path) -> None:
    out = tmp_path / "heap.html"
    write_html(service_profile(), out)
    html = out.read_text(encoding="utf-8")
    assert not URL.search(html)
    assert "<script src" not in html
    assert "<link" not in html
    assert "function flameCreate(" in html  # flamegraph.js, its export taken out
    assert "function flameBuild(" in html  # flametree.js
    assert "function fmtBytes(" in html  # format.js
    assert not re.search(r"^\s*(?:import|export)\b", html, re.MULTILINE)
    assert ".fg-canvas" in html  # the dashboard's flamegraph.css
    doc = data_block(html)["profile"]
    assert doc["format"] == "memlens.heap"
    assert [s["inuse_bytes"] for s in doc["stacks"]] == [6 * 2**20, 3 * 2**20, 2**20, 2**19]


def test_it_writes_to_an_open_text_file_the_same_page() -> None:
    buffer = io.StringIO()
    write_html(service_profile(), buffer)
    assert buffer.getvalue().startswith("<!DOCTYPE html>")
    assert 'id="flame"' in buffer.getvalue()


def test_the_header_says_kind_sampler_and_totals() -> None:
    buffer = io.StringIO()
    write_html(service_profile(sampler="sampling"), buffer)
    html = buffer.getvalue()
    assert "memlens heap profile: process 4242" in html
    assert "one sample per 512.0 KB" in html
    assert "10.5 MB" in html  # in use in all
    assert 'data-figure="samples"' in html
    buffer = io.StringIO()
    write_html(service_profile(), buffer)
    assert "tracemalloc" in buffer.getvalue()
    assert "not known (tracemalloc)" in buffer.getvalue()  # tracemalloc cannot say


def test_the_top_stacks_table_names_the_allocating_frame_and_its_share() -> None:
    buffer = io.StringIO()
    write_html(service_profile(truncated=2, extra_inuse=2**20 * 1.5), buffer)
    html = buffer.getvalue()
    rows = re.findall(r'<tr data-rank="(\d+)">(.*?)</tr>', html)
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    first = rows[0][1]
    assert "load_rows" in first
    assert "/srv/app/service.py:31" in first
    assert "50.0 %" in first  # 6 MB of the 12 MB the profile holds, stacks left out too
    assert "[no Python frame]" in rows[3][1]
    assert "left out 2 more stacks" in html


def test_growth_shows_signed_bytes_and_shares_of_what_grew() -> None:
    stacks = [
        stack([frame("grow")], 3 * 2**20),
        stack([frame("shrink", line=20)], -(2**20)),
        stack([frame("steady", line=30)], 2**20),
    ]
    buffer = io.StringIO()
    write_html(profile(stacks, kind="growth", since_mark="before"), buffer)
    html = buffer.getvalue()
    assert "growth of memory in use" in html
    assert "since mark “before”" in html
    assert "+3.0 MB" in html
    assert "−1.0 MB" in html
    assert "75.0 %" in html  # 3 of the 4 MB that grew
    assert data_block(html)["profile"]["stacks"][2]["inuse_bytes"] == -(2**20)


def test_names_from_the_process_stay_text() -> None:
    stacks = [stack([frame(INJECTION, "<b>evil</b>.py", 1)], 2**20)]
    buffer = io.StringIO()
    write_html(profile(stacks, since_mark=INJECTION), buffer)
    html = buffer.getvalue()
    assert "<script>alert(1)" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;evil&lt;/b&gt;.py:1" in html
    assert data_block(html)["profile"]["stacks"][0]["frames"][0]["function"] == INJECTION


def test_the_profile_is_bounded_before_it_goes_into_the_page() -> None:
    deep = [frame(f"f{i}", line=i) for i in range(MAX_FRAMES + 40)]
    raw = profile([stack(deep, 2**20)] + [stack([frame("x")], 1.0)] * MAX_STACKS, truncated=5)
    raw["stacks"][0]["frames"][0]["function"] = "n" * 10_000
    raw["stacks"][0]["inuse_bytes"] = float("nan")
    raw["inuse_bytes"] = float("inf")
    raw["pid"] = "not a pid"
    raw["stacks"].append("not a stack")
    clean = clean_profile(raw)
    assert len(clean["stacks"]) == MAX_STACKS
    assert clean["truncated"] == 5 + 2  # the one stack past the bound, and the junk
    assert len(clean["stacks"][0]["frames"]) == MAX_FRAMES
    assert len(clean["stacks"][0]["frames"][0]["function"]) == 4096
    assert clean["stacks"][0]["inuse_bytes"] == 0.0
    assert clean["inuse_bytes"] == 0.0
    assert clean["pid"] == 0


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ([], "JSON object"),
        ({"format": "memlens.series"}, "not a memlens heap profile"),
        ({"format": "memlens.heap", "stacks": {}}, "not a list"),
        ({"format": "memlens.heap", "kind": "peak"}, "kind"),
    ],
)
def test_what_is_no_heap_profile_is_refused(raw: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        clean_profile(raw)  # type: ignore[arg-type]


def test_a_typed_profile_is_written_through_its_dict_form() -> None:
    class Typed:
        def to_dict(self) -> dict:
            return service_profile()

    buffer = io.StringIO()
    write_html(Typed(), buffer)
    assert "load_rows" in buffer.getvalue()


def test_inlined_modules_may_import_only_what_the_page_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources = {
        "a.js": 'import { fmtBytes } from "./format.js";\nexport function flameA() {}\n',
        "b.js": 'import { flameA } from "./a.js";\nexport var flameB = 1;\n',
        "c.js": 'import { chart } from "./chart.js";\nexport var flameC = 1;\n',
        "d.js": "export function fmtBytes() {}\n",
    }
    real = page.dashboard_source
    monkeypatch.setattr(
        page, "dashboard_source", lambda name: sources[name] if name in sources else real(name)
    )
    text = page.module_scripts("a.js", "b.js")
    assert "import" not in text
    assert "function flameA()" in text
    assert "var flameB = 1;" in text
    with pytest.raises(RuntimeError, match=r"imports chart\.js"):
        page.module_scripts("c.js")
    with pytest.raises(RuntimeError, match=r"imports a\.js"):
        page.module_scripts("b.js")  # a.js not inlined before it
    with pytest.raises(RuntimeError, match="declares fmtBytes"):
        page.module_scripts("d.js")
