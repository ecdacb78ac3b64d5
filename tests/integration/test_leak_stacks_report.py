"""A leak alert's stacks (its `heap_growth`) in a real recording file: kept by the real
Store, read back, and shown by `memlens report` in JSON, Markdown and HTML, where the
frames, which are the profiled process's own text, stay text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import MB, run_memlens
from memlens.analysis.leaks import detect
from memlens.model import Reading, Target, Tick
from memlens.report import build_report
from memlens.report.html import dump_report_html
from memlens.report.json import report_to_dict
from memlens.report.leaks import alert_stacks
from memlens.report.markdown import render_report_md
from memlens.store import Store, StoreReader, load_recording

T0 = 1_800_000_000.0
KEY = "4242-1"
EVIL = "<img src=x onerror=alert(1)>|`x`\x1b]0;PWN\x07"


def stacks() -> dict[str, Any]:
    """An alert's `heap_growth` as memlens.analysis.leakstacks writes it."""
    main = {"function": "<module>", "file": "/srv/app/main.py", "line": 3}
    serve = {"function": "serve", "file": "/srv/app/main.py", "line": 40}
    remember = {"function": "remember", "file": "/srv/app/cache.py", "line": 12}
    evil = {"function": EVIL, "file": "/tmp/</script><script>alert(2)</script>.py", "line": 1}
    return {
        "from": T0 + 100,
        "to": T0 + 580,
        "sampler": "sampling",
        "interval_bytes": 524288,
        "inuse_growth": 260 * MB,
        "uncertainty_bytes": 0.0,
        "stacks": [
            {
                "function": "remember",
                "file": "/srv/app/cache.py",
                "line": 12,
                "frames": [main, serve, remember],
                "depth": 3,
                "growth_bytes": 240 * MB,
                "inuse_bytes": 250 * MB,
            },
            {
                "function": EVIL,
                "file": evil["file"],
                "line": 1,
                "frames": [main, evil],
                "depth": 2,
                "growth_bytes": 20 * MB,
                "inuse_bytes": 20 * MB,
            },
        ],
    }


def write(db: Path) -> None:
    """Ten minutes of a process leaking 0.5 MB/s, and the leak alert it raised."""
    store = Store.open(db)
    rid = store.begin_recording(
        name="svc", command="python main.py", interval=1.0, host="box", started=T0
    )
    target = Target(KEY, "process", 4242, T0 - 5, "svc", "python main.py")
    times = [T0 + i for i in range(600)]
    values = [100 * MB + i * 0.5 * MB for i in range(600)]
    for i, (t, v) in enumerate(zip(times, values, strict=True)):
        tick = Tick(i + 1, t, {KEY: Reading(int(v), 900 * MB, 0, 0, 4, 20, 1.0)})
        store.add_tick(rid, Tick(tick.seq, t, tick.samples, (target,) if i == 0 else ()))
    finding = detect(times, values)
    assert finding.is_leak
    store.add_event(
        rid,
        "leak",
        T0 + 590,
        {
            "state": "raised",
            "severity": finding.severity.value,
            "finding": finding.to_dict(),
            "text": "svc (PID 4242): LEAK; grew most in remember (app/cache.py:12), +240.0 MB",
            "name": "svc",
            "pid": 4242,
            "heap_growth": stacks(),
        },
        KEY,
    )
    store.end_recording(rid, ended=T0 + 600, exit_code=None)
    store.close()


def test_the_report_names_the_stacks_the_leak_grew_in(tmp_path: Path) -> None:
    db = tmp_path / "svc.db"
    write(db)
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        [event] = reader.events(info.id, kinds=["leak"])
        assert event.data["heap_growth"] == stacks()  # the store keeps it whole
        recording = load_recording(reader, info)
    report = build_report(recording)
    [leak] = report.leaks.items
    assert [s.top for s in leak.stacks] == [
        ("remember", "/srv/app/cache.py", 12),
        (EVIL, "/tmp/</script><script>alert(2)</script>.py", 1),
    ]
    assert leak.stacks_window == (T0 + 100, T0 + 580)

    data = report_to_dict(report)
    [item] = data["leaks"]["items"]
    assert item["stacks"][0]["function"] == "remember"
    assert item["stacks"][0]["growth_bytes"] == 240 * MB
    assert item["stacks"][1]["function"] == EVIL  # JSON keeps the true text
    assert item["stacks_window"] == [T0 + 100, T0 + 580]
    advice = next(r for r in data["recommendations"] if r["kind"] == "leak")
    assert "grow most in remember (app/cache.py:12), +240.0 MB" in advice["seen"]

    md = render_report_md(report)
    assert "| +240.0 MB | 250.0 MB | remember (app/cache.py:12) | serve < <module> |" not in md
    assert "| +240.0 MB | 250.0 MB | remember (app/cache.py:12) | serve &lt; &lt;module&gt; |" in md
    assert "<img" not in md
    assert "\x1b" not in md
    assert "</script>" not in md
    assert "\\\\x1b\\]0;PWN\\\\x07" in md  # the escape shown, as Markdown escapes it

    html = dump_report_html(report).decode()
    assert "<img src=x" not in html
    assert "</script><script>alert(2)" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'class="leak-stacks"' in html
    assert "remember (app/cache.py:12)" in html


def test_memlens_report_reads_the_stacks_from_the_file(tmp_path: Path) -> None:
    db = tmp_path / "svc.db"
    write(db)
    result = run_memlens("report", str(db), "--format", "json", timeout=120)
    assert result.returncode == 0, result.stderr
    [item] = json.loads(result.stdout)["leaks"]["items"]
    assert [s["function"] for s in item["stacks"]] == ["remember", EVIL]
    md = run_memlens("report", str(db), "--format", "md", timeout=120)
    assert md.returncode == 0, md.stderr
    assert "Stacks whose heap in use grew while svc (4242) leaked" in md.stdout
    assert "remember (app/cache.py:12)" in md.stdout


def test_stacks_of_the_wrong_shape_are_left_out() -> None:
    assert alert_stacks(None) == (None, ())
    assert alert_stacks({"stacks": "lots"}) == (None, ())
    window, kept = alert_stacks(
        {
            "from": 1.0,
            "to": 2.0,
            "stacks": [
                7,
                {"growth_bytes": "big"},
                {"growth_bytes": 5.0, "frames": [None, {"function": 3, "line": True}]},
                *({"growth_bytes": 1.0, "frames": []} for _ in range(100)),
            ],
        }
    )
    assert window == (1.0, 2.0)
    assert len(kept) == 30  # the first 32 entries only, two of them not stacks
    assert kept[0].frames == (("3", "?", 0),)
    assert kept[0].growth == 5.0
