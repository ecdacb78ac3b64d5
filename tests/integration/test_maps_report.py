"""A native leak in a real child, recorded with its memory maps: the report says where
the memory lives, and its leak advice names the category that grew."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import FAST_DETECTOR, run_memlens
from memlens.store import StoreReader

# malloc'ed and touched blocks kept for ever, 4 MB/s: a native heap leak no Python
# figure would show. Blocks of 256 KiB are above malloc's mmap threshold, so each is an
# anonymous mapping of its own.
NATIVE_LEAK = """
import ctypes, time
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
print("ready", flush=True)
while True:
    p = libc.malloc(256 << 10)
    ctypes.memset(p, 1, 256 << 10)
    time.sleep(1 / 16)
"""


def test_native_leak_is_named_anonymous_memory(tmp_path: Path) -> None:
    config = tmp_path / "memlens.toml"
    config.write_text(FAST_DETECTOR)
    recording = tmp_path / "leak.db"
    child = subprocess.Popen([sys.executable, "-c", NATIVE_LEAK], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        done = run_memlens(
            "record", str(child.pid), "--duration", "40s", "--interval", "0.25",
            "--maps-interval", "1", "--config", str(config), "-o", str(recording),
            timeout=90,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    # The live alert said it as it was raised.
    reader = StoreReader.open(recording)
    try:
        events = reader.events(reader.recording("last").id, kinds=["leak"])
    finally:
        reader.close()
    raised = [e for e in events if e.data.get("state") == "raised"]
    assert raised, "the leak alert was never raised"
    where = raised[0].data["map_growth"]
    assert where["grew"]["anon"] > 0
    assert where["cause"].startswith("anonymous memory grew ")
    assert raised[0].data["text"].endswith(where["cause"])
    made = run_memlens(
        "report", str(recording), "--format", "json", "--config", str(config), timeout=60
    )
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    (maps,) = report["maps"]
    assert maps["readings"] >= 20
    assert maps["leak_window"] is not None
    grew = {c: v["grew"] for c, v in maps["categories"].items()}
    assert grew["anon"] + grew["heap"] >= 60 << 20  # 4 MB/s for well over 15 s
    assert maps["cause"].startswith("anonymous memory grew ")
    assert maps["cause"].endswith(" over the leak: a native heap leak")
    leak_advice = [r for r in report["recommendations"] if r["kind"] in ("native", "leak", "mixed")]
    assert leak_advice, report["recommendations"]
    assert all("Anonymous memory grew" in r["seen"] for r in leak_advice)
    markdown = run_memlens("report", str(recording), "--config", str(config), timeout=60)
    assert markdown.returncode == 0, markdown.stderr
    assert "## Where the memory lives" in markdown.stdout
    assert "a native heap leak" in markdown.stdout
