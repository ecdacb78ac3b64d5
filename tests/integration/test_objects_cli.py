"""`memlens objects PID`: the object types growing fastest in a real child that runs the
agent, next to the lines whose traced memory grew."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import run_memlens

GROWING = """
import time, tracemalloc, memlens.agent
if TRACE:
    tracemalloc.start()
memlens.agent.start()

class Order:
    def __init__(self, i):
        self.i = i

held = []
print("ready", flush=True)
while True:
    held.extend(Order(i) for i in range(200))  # the growing line
    time.sleep(0.02)
"""


def _child(folder: Path, trace: bool) -> subprocess.Popen[str]:
    script = folder / "orders.py"
    script.write_text(f"TRACE = {trace}\n" + GROWING)
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def _stop(child: subprocess.Popen[str]) -> None:
    child.kill()
    child.wait(10)
    if child.stdout is not None:
        child.stdout.close()


def test_the_growing_type_comes_first_with_its_line(tmp_path: Path) -> None:
    child = _child(tmp_path, trace=True)
    try:
        done = run_memlens("objects", str(child.pid), "--duration", "1s", "--json")
        text = run_memlens("objects", str(child.pid), "--duration", "1s", "--top", "3")
    finally:
        _stop(child)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    orders = next(t for t in body["types"] if t["type"] == "__main__.Order")
    assert orders["change"] > 1000  # 10,000 a second are made and kept
    assert body["types"].index(orders) <= 1  # only the list holding them may grow as fast
    assert orders["rate"] > 0
    script = str(tmp_path / "orders.py")
    lines = (tmp_path / "orders.py").read_text().splitlines()
    grown = [s for s in body["sites"] if s["file"] == script and s["size_diff_bytes"] > 0]
    assert any("the growing line" in lines[s["line"] - 1] for s in grown)
    assert text.returncode == 0, text.stderr
    assert "__main__.Order" in text.stdout
    assert "allocation sites whose traced memory grew most meanwhile:" in text.stdout


def test_without_tracing_it_says_how_to_see_the_lines(tmp_path: Path) -> None:
    child = _child(tmp_path, trace=False)
    try:
        done = run_memlens("objects", str(child.pid), "--duration", "0.5s", "--json")
    finally:
        _stop(child)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["sites"] is None
    assert body["types"][0]["change"] > 0


def test_a_process_without_the_agent_is_a_usage_error() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        done = run_memlens("objects", str(sleeper.pid), "--duration", "0.1s")
    finally:
        sleeper.kill()
        sleeper.wait(10)
    assert done.returncode == 2
    assert "runs no memlens agent" in done.stderr
