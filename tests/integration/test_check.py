"""`memlens check` on real commands and real recordings: verdicts, exit codes, JUnit."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import MB, ROOT, run_memlens
from leakgen import generate
from memlens.model import Reading, Target, Tick
from memlens.store import Store

# Grows by 8 MB (touched) every 0.2 s for 3 s: about 120 MB above the interpreter.
GROWING = r"""
import time
held = []
for _ in range(15):
    buf = bytearray(8 << 20)
    buf[::4096] = b"x" * len(buf[::4096])
    held.append(buf)
    time.sleep(0.2)
"""

# Takes 20 MB at once, then holds still for 4 s.
FLAT = r"""
import sys, time
buf = bytearray(20 << 20)
buf[::4096] = b"x" * len(buf[::4096])
time.sleep(4)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


def check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memlens", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def write_recording(path: Path, kind: str, seed: int) -> None:
    """One process's synthetic series (tests/leakgen.py) as a recording at 1 Hz."""
    series = generate(kind, seed)
    start = series.times[0]
    target = Target(
        key="77-1", kind="process", pid=77, start_time=start, name="service", cmdline="service"
    )
    with Store.open(path) as store:
        rid = store.begin_recording(
            name=kind, command=None, interval=1.0, host="test", started=start
        )
        for i, (t, v) in enumerate(zip(series.times, series.values, strict=True)):
            reading = Reading(int(v), int(2 * v), 4 * MB, 0, 4, 12, 1.0)
            new = (target,) if i == 0 else ()
            store.add_tick(rid, Tick(i + 1, t, {target.key: reading}, new))
        store.end_recording(rid, ended=series.times[-1])
        store.flush(60)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("recordings")
    out = {"leak": folder / "leak.db", "plateau": folder / "plateau.db"}
    write_recording(out["leak"], "linear_leak", 11)  # 33 min, about 150 MB/h
    write_recording(out["plateau"], "warmup_plateau", 1)
    return out


def _junit(path: Path) -> tuple[ET.Element, dict[str, ET.Element]]:
    suite = ET.parse(path).getroot()
    return suite, {case.attrib["name"].split(":")[0]: case for case in suite.iter("testcase")}


def _properties(element: ET.Element) -> dict[str, str]:
    props = element.find("properties")
    assert props is not None
    return {p.attrib["name"]: p.attrib["value"] for p in props.iter("property")}


def test_a_growing_command_fails_its_limits(tmp_path: Path) -> None:
    report = tmp_path / "memlens.xml"
    kept = tmp_path / "kept.db"
    result = check(
        "--max-rss",
        "60MB",
        "--max-growth",
        "10MB/h",
        "--junit",
        str(report),
        "-o",
        str(kept),
        "--",
        sys.executable,
        "-c",
        GROWING,
    )
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert out.startswith("memlens check: FAIL")
    assert "max-rss" in out
    assert "short run" in out
    assert "exit code: 0" in out
    assert f"in {kept}" in out

    suite, cases = _junit(report)
    assert suite.tag == "testsuite"
    assert suite.attrib["name"] == "memlens"
    assert suite.attrib["tests"] == "3"
    assert suite.attrib["failures"] == "2"
    assert suite.attrib["skipped"] == "0"
    assert _properties(suite)["verdict"] == "FAIL"
    assert set(cases) == {"max-rss", "max-growth", "exit-code"}
    rss = _properties(cases["max-rss"])
    assert rss["unit"] == "bytes"
    assert int(rss["limit"]) == 60 * MB
    assert int(rss["measured"]) > 100 * MB
    failure = cases["max-rss"].find("failure")
    assert failure is not None
    assert "above the limit" in failure.attrib["message"]
    growth = cases["max-growth"].find("failure")
    assert growth is not None
    assert "short run" in growth.attrib["message"]
    assert cases["exit-code"].find("failure") is None

    # The kept recording, checked again with room to spare: options after RUN count.
    again = check(str(kept), "--max-rss", "1GB")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.startswith("memlens check: PASS")


def test_a_flat_command_passes_and_leaves_nothing_behind(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    report = tmp_path / "memlens.xml"
    env = {**os.environ, "TMPDIR": str(scratch)}
    result = check(
        "--max-rss",
        "1GB",
        "--max-growth",
        "10MB/h",
        "--warmup",
        "1s",
        "--junit",
        str(report),
        "--",
        sys.executable,
        "-c",
        FLAT,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("memlens check: PASS (3 passed, 0 failed)")
    assert "warm-up:   1 s" in result.stdout
    suite, cases = _junit(report)
    assert suite.attrib["failures"] == "0"
    assert suite.attrib["skipped"] == "0"
    assert _properties(cases["max-growth"])["status"] == "passed"
    assert list(scratch.iterdir()) == []  # the temporary recording is gone


def test_a_failing_command_fails_the_check_unless_its_code_is_allowed() -> None:
    command = ("--", sys.executable, "-c", "import sys; sys.exit(3)")
    failed = check("--max-rss", "1GB", *command)
    assert failed.returncode == 1
    assert "exit code: 3" in failed.stdout
    assert "a run that failed proves nothing" in failed.stdout
    allowed = check("--max-rss", "1GB", "--allow-exit-code", "3", *command)
    assert allowed.returncode == 0, allowed.stdout


def test_a_leaking_recording_fails_and_a_warmup_passes(recordings: dict[str, Path]) -> None:
    leak = check(str(recordings["leak"]))
    assert leak.returncode == 1, leak.stderr
    assert "LEAK" in leak.stdout
    assert "leak        service (pid 77)" in leak.stdout
    plateau = check(str(recordings["plateau"]))
    assert plateau.returncode == 0, plateau.stderr
    assert "WARM-UP/PLATEAU" in plateau.stdout
    slow = check(str(recordings["leak"]), "--max-growth", "1GB/h")
    assert slow.returncode == 0, slow.stdout
    assert "within the limit" in slow.stdout


def test_the_config_gives_limits_and_the_command_line_wins(
    recordings: dict[str, Path], tmp_path: Path
) -> None:
    config = tmp_path / "memlens.toml"
    config.write_text('[thresholds]\nmax_rss = "1MB"\n')
    from_file = check("--config", str(config), str(recordings["plateau"]))
    assert from_file.returncode == 1
    assert "limit 1.0 MB" in from_file.stdout
    overridden = check("--config", str(config), "--max-rss", "8GB", str(recordings["plateau"]))
    assert overridden.returncode == 0, overridden.stdout


def test_an_unwritable_report_comes_after_the_verdict(recordings: dict[str, Path]) -> None:
    result = check(str(recordings["leak"]), "--junit", "/no/such/folder/memlens.xml")
    assert result.returncode == 2
    assert result.stdout.startswith("memlens check: FAIL")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "cannot write the JUnit report" in lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "name a command after --"),
        (("--",), "name the command to run after --"),
        (("--max-rss", "lots", "--", "true"), "is not a size"),
        (("--max-growth", "10MB", "--", "true"), "is not a rate"),
        (("--no-such-option", "--", "true"), "unrecognized arguments"),
        (("--", "/no/such/program"), "cannot start '/no/such/program'"),
        (("last", "--", "true"), "not both"),
        (("one", "two"), "one recording at a time"),
        (("-o", "x.db", "last"), "-o keeps a command's recording"),
        (("no-such-recording",), "no recordings yet"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: tuple[str, ...], says: str) -> None:
    result = run_memlens("check", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert says in lines[0]
