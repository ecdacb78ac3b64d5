"""memlens.heap, the library face, in a real child process: snapshot, marks, save."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("memlens.agent._heapsampler", reason="the C extension is not built")

PROGRAM = """
import json, sys
import memlens.heap as heap
from memlens.formats.collapsed import read_collapsed

out = sys.argv[1]
held = []
def load_cache():
    for _ in range(200):
        held.append(bytearray(50_000))   # 10 MB
def handle_request():
    for _ in range(100):
        held.append(bytearray(40_000))   # 4 MB

heap.start(64 * 1024, seed=4)
load_cache()
heap.mark("warm")
handle_request()
inuse = heap.snapshot()
growth = heap.snapshot("growth", since="warm")
for name in ("p.json", "p.txt", "p.pb.gz", "p.html"):
    heap.save(inuse, out + "/" + name)
try:
    heap.snapshot("growth", since="nowhere")
except heap.HeapProfilerError as exc:
    print("refused:", exc)
try:
    heap.snapshot("growth")
except ValueError as exc:
    print("refused:", exc)
def where(profile):
    sums = {}
    for stack in profile.stacks:
        sums[stack.frames[-1].function] = sums.get(stack.frames[-1].function, 0) + stack.inuse_bytes
    return sums
print(json.dumps({"inuse": where(inuse), "growth": where(growth), "running": heap.is_running()}))
heap.stop()
print("stopped", heap.is_running())
"""


def test_the_library_profiles_marks_and_saves_every_format(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "refused: no mark named 'nowhere'" in lines
    assert "refused: a growth profile needs since: the name of a mark" in lines
    figures = json.loads(next(line for line in lines if line.startswith("{")))
    assert figures["running"] is True
    assert lines[-1] == "stopped False"
    assert 6e6 < figures["inuse"]["load_cache"] < 15e6
    assert 2e6 < figures["inuse"]["handle_request"] < 7e6
    assert abs(figures["growth"].get("load_cache", 0.0)) < 1e6
    assert 2e6 < figures["growth"]["handle_request"] < 7e6
    saved = json.loads((tmp_path / "p.json").read_text())
    assert saved["format"] == "memlens.heap"
    assert "load_cache" in (tmp_path / "p.txt").read_text()
    assert gzip.decompress((tmp_path / "p.pb.gz").read_bytes())
    page = (tmp_path / "p.html").read_text()
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    assert "load_cache" in page
