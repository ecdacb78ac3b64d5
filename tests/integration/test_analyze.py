"""`memlens analyze` on every kind of input it accepts, each a real file: a recording made
by `memlens record` from a real child, recordings written by the real Store, exports made
by `memlens export`, a CSV of time and rss, and psrecord's log in the format psrecord
writes; and on the bad inputs, which are one line and exit 2."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import Allocator, run_memlens
from leakgen import Series, generate
from memlens.cli import main
from memlens.model import Reading, Target, Tick
from memlens.store import Store

MiB = 1024.0 * 1024.0
# One series of each verdict, short enough to keep the suite fast (33-41 minutes at 1 Hz).
SEEDS = {
    "linear_leak": 11,
    "warmup_plateau": 1,
    "single_step": 8,
    "sawtooth_flat": 10,
    "short": 0,
}
SERIES = {kind: generate(kind, seed) for kind, seed in SEEDS.items()}
VERDICTS = {kind: s.label.value for kind, s in SERIES.items()}


@dataclass(frozen=True)
class Recorded:
    db: Path
    rid: int
    keys: dict[str, str]  # kind -> target key
    pids: dict[str, int]


def _write_recording(db: Path, kinds: list[str]) -> Recorded:
    """One recording with a target per kind, each sampled on its own series' times."""
    targets = {
        kind: Target(
            key=f"{100 + i}-5000",
            kind="process",
            pid=100 + i,
            start_time=SERIES[kind].times[0],
            name=kind,
            cmdline=f"python -m {kind}",
        )
        for i, kind in enumerate(kinds)
    }
    rounds: dict[float, dict[str, Reading]] = {}
    for kind in kinds:
        for t, v in zip(SERIES[kind].times, SERIES[kind].values, strict=True):
            rss = int(v)
            rounds.setdefault(t, {})[targets[kind].key] = Reading(rss, 2 * rss, 0, 0, 1, 3, 0.5)
    store = Store.open(db)
    try:
        rid = store.begin_recording(
            name="services", command=None, interval=1.0, host="test", started=min(rounds)
        )
        announced: set[str] = set()
        for seq, (t, samples) in enumerate(sorted(rounds.items()), start=1):
            new = tuple(x for x in targets.values() if x.key in samples and x.key not in announced)
            announced.update(x.key for x in new)
            store.add_tick(rid, Tick(seq, t, samples, new))
        store.end_recording(rid, ended=max(rounds))
        store.flush(60)
    finally:
        store.close()
    return Recorded(
        db,
        rid,
        {k: t.key for k, t in targets.items()},
        {k: t.pid for k, t in targets.items()},
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return _write_recording(tmp_path_factory.mktemp("analyze") / "services.db", list(SEEDS))


def analyze(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["analyze", *args])
    out, err = capsys.readouterr()
    return code, out, err


def analyze_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = analyze(capsys, *args, "--json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def _csv(path: Path, series: Series, *, relative: bool, header: str = "time,rss") -> Path:
    t0 = series.times[0] if relative else 0.0
    lines = [header]
    for t, v in zip(series.times, series.values, strict=True):
        lines.append(f"{t - t0!r},{int(v)},7")  # a third column, ignored
    path.write_text("\n".join(lines) + "\n")
    return path


def _psrecord_log(path: Path, series: Series) -> Path:
    """Exactly what psrecord 1.4 writes with `--log FILE` (psrecord/main.py): a header of
    names centred in 12 columns, then elapsed seconds, CPU %, Real and Virtual in MiB."""
    names = ("Elapsed time", "CPU (%)", "Real (MB)", "Virtual (MB)")
    lines = ["# " + " ".join(f"{n.center(12):12s}" for n in names)]
    for t, v in zip(series.times, series.values, strict=True):
        elapsed, real = t - series.times[0], v / 1024.0**2
        lines.append(f"{elapsed:12.3f} {3.5:12.3f} {real:12.3f} {2 * real:12.3f}")
    path.write_text("\n".join(lines) + "\n")
    return path


# -- recordings and exports ----------------------------------------------------------


def test_a_recording_gives_every_target_its_verdict_and_the_worst_on_top(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = analyze_json(capsys, str(recorded.db))
    assert [s["verdict"] for s in doc["series"]] == [VERDICTS[k] for k in SEEDS]
    assert [s["target"] for s in doc["series"]] == [recorded.keys[k] for k in SEEDS]
    assert doc["verdict"] == "leak"
    assert doc["target"] == recorded.keys["linear_leak"]
    assert doc["name"] == f"linear_leak (pid {recorded.pids['linear_leak']})"
    assert doc["source"] == "recording"
    assert doc["file"] == str(recorded.db)
    leak = SERIES["linear_leak"]
    assert doc["rate"] == pytest.approx(leak.rate, rel=0.1)  # bytes/s
    assert doc["rate_low"] <= doc["rate"] <= doc["rate_high"]
    assert doc["onset"] == pytest.approx(leak.onset, abs=600)
    assert doc["severity"] in ("low", "medium", "high", "critical")
    assert doc["time_to_limit"] is None
    assert doc["limit"] is None
    step = doc["series"][list(SEEDS).index("single_step")]
    assert step["onset"] is not None
    assert step["growth"] > 10 * MiB
    # advice for each series: what RSS alone can tell, and what to try
    advice = {s["verdict"]: [a["kind"] for a in s["advice"]] for s in doc["series"]}
    assert advice["leak"][0] == "leak"
    assert advice["plateau"] == ["plateau"]
    assert advice["step"] == ["step"]
    assert doc["advice"][0]["advice"]  # steps a person can try


def test_the_most_serious_verdict_follows_the_documented_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = _write_recording(tmp_path / "no-leak.db", ["sawtooth_flat", "warmup_plateau", "short"])
    assert analyze_json(capsys, f"{rec.db}#{rec.rid}")["verdict"] == "plateau"
    rec = _write_recording(tmp_path / "step.db", ["warmup_plateau", "single_step"])
    assert analyze_json(capsys, str(rec.db))["verdict"] == "step"


@pytest.mark.parametrize(
    ("fmt", "source"),
    [("json", "json export"), ("binary", "binary export"), ("csv", "csv export")],
)
def test_exports_give_the_same_findings_as_the_recording(
    recorded: Recorded,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    source: str,
) -> None:
    exported = tmp_path / "services.export"  # no telling extension: the content decides
    assert main(["export", str(recorded.db), "--format", fmt, "-o", str(exported)]) == 0
    from_recording = analyze_json(capsys, str(recorded.db))
    doc = analyze_json(capsys, str(exported))
    assert doc["source"] == source
    assert doc["file"] == str(exported)
    assert doc["series"] == from_recording["series"]


def test_target_picks_one_series_by_key_or_pid(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    by_key = analyze_json(capsys, str(recorded.db), "--target", recorded.keys["single_step"])
    assert by_key["verdict"] == "step"
    assert [s["target"] for s in by_key["series"]] == [recorded.keys["single_step"]]
    by_pid = analyze_json(capsys, str(recorded.db), "--target", str(recorded.pids["short"]))
    assert by_pid["verdict"] == "insufficient"
    assert by_pid["pid"] == recorded.pids["short"]


def test_a_run_in_the_store_by_name_and_last(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    for run in ("services", "last", str(recorded.rid)):
        doc = analyze_json(capsys, run, "--db", str(recorded.db))
        assert doc["verdict"] == "leak"


def test_limit_gives_the_time_until_a_leak_reaches_it(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    key = recorded.keys["linear_leak"]
    doc = analyze_json(capsys, str(recorded.db), "--target", key, "--limit", "1GB")
    assert doc["limit"] == 1024**3
    leak = SERIES["linear_leak"]
    left = 1024**3 - leak.values[-1]
    assert doc["time_to_limit"] == pytest.approx(left / doc["rate"], rel=0.5)
    code, out, _ = analyze(capsys, str(recorded.db), "--target", key, "--limit", "1GB")
    assert code == 0
    assert "to limit" in out
    assert "limit 1.0 GB" in out


def test_skip_leaves_out_the_start(recorded: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    key = recorded.keys["single_step"]
    step = SERIES["single_step"]
    doc = analyze_json(capsys, str(recorded.db), "--target", key, "--skip", "15m")
    assert doc["verdict"] == "flat"  # the step happened in the first 15 minutes
    assert doc["start"] >= step.times[0] + 900


def test_config_file_tunes_the_detector(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "memlens.toml"
    config.write_text('[leaks]\nmin_duration = "1h"\n\n[thresholds]\nmax_rss = "2GB"\n')
    key = recorded.keys["linear_leak"]
    doc = analyze_json(capsys, str(recorded.db), "--target", key, "--config", str(config))
    assert doc["verdict"] == "insufficient"  # 33 minutes, and an hour is needed now
    assert doc["limit"] == 2 * 1024**3  # thresholds.max_rss stands in for --limit


def test_text_output_reads_per_series_and_names_the_most_serious(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = analyze(capsys, str(recorded.db))
    assert code == 0, err
    assert f"recording {recorded.rid} (services)" in out
    for kind in SEEDS:
        assert f"{kind} (pid {recorded.pids[kind]}) [{recorded.keys[kind]}]" in out
    for word in ("LEAK (", "WARM-UP/PLATEAU:", "STEP:", "FLAT:", "INSUFFICIENT DATA:"):
        assert word in out
    assert "(95% CI " in out
    assert "confidence" in out
    assert "severity" in out
    assert out.rstrip().splitlines()[-1].startswith("most serious: LEAK")


def test_a_real_recording_of_a_child(allocator: Allocator, tmp_path: Path) -> None:
    """Seconds of a real process say too little: insufficient, with what was judged."""
    db = tmp_path / "child.db"
    allocator.alloc(8)
    recorded = run_memlens(
        "record", str(allocator.pid), "--duration", "1", "--interval", "0.1", "-o", str(db)
    )
    assert recorded.returncode == 0, recorded.stderr
    result = run_memlens("analyze", str(db), "--json", "--target", str(allocator.pid))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "insufficient"
    assert doc["pid"] == allocator.pid
    assert doc["points"] >= 5
    assert doc["end"] > doc["start"] > 1e9  # Unix times from the sampler


# -- files from other tools ----------------------------------------------------------


@pytest.mark.parametrize("kind", list(SEEDS))
def test_a_time_rss_csv(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _csv(tmp_path / "mem.txt", SERIES[kind], relative=True, header="Time, RSS ,cpu")
    doc = analyze_json(capsys, str(path))
    assert doc["verdict"] == VERDICTS[kind]
    assert doc["source"] == "csv"
    assert doc["target"] is None
    assert doc["name"] == "mem.txt"
    assert doc["start"] == 0.0  # relative seconds stay as they are


def test_a_csv_with_unix_times_reads_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    relative = analyze_json(
        capsys, str(_csv(tmp_path / "a.csv", SERIES["linear_leak"], relative=True))
    )
    unix = analyze_json(
        capsys, str(_csv(tmp_path / "b.csv", SERIES["linear_leak"], relative=False))
    )
    assert unix["verdict"] == relative["verdict"] == "leak"
    assert unix["start"] == SERIES["linear_leak"].times[0]
    assert unix["rate"] == pytest.approx(relative["rate"])


def test_a_csv_with_a_target_column_gives_one_series_per_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As another tool (or a hand-edited export) writes it: RFC 4180 quoting, a name
    with a comma and a line break, the targets' rows interleaved."""
    leak, flat = SERIES["linear_leak"], SERIES["sawtooth_flat"]
    lines = ["\ufeffTarget,TIME,PID,Name,RSS"]  # Excel's byte order mark, upper case
    for i in range(max(len(leak.times), len(flat.times))):
        if i < len(leak.times):
            lines.append(
                f'w-1,{leak.times[i]!r},41,"worker, ""a""\nline two",{int(leak.values[i])}'
            )
        if i < len(flat.times):
            lines.append(f"d-2,{flat.times[i]!r},42,db,{int(flat.values[i])}")
    path = tmp_path / "fleet.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    doc = analyze_json(capsys, str(path))
    assert doc["source"] == "csv"
    assert [(s["target"], s["pid"], s["verdict"]) for s in doc["series"]] == [
        ("w-1", 41, "leak"),
        ("d-2", 42, "flat"),
    ]
    assert doc["name"] == 'worker, "a"\nline two (pid 41)'
    path.write_text(path.read_text() + "d-2,1,42,db,oops\n")
    code, _, err = analyze(capsys, str(path))
    assert code == 2
    assert f"line {len(lines) + len(leak.times) + 1}: 'oops'" in err


@pytest.mark.parametrize("kind", ["linear_leak", "sawtooth_flat"])
def test_a_psrecord_log(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _psrecord_log(tmp_path / "psrecord.log", SERIES[kind])
    doc = analyze_json(capsys, str(path))
    assert doc["verdict"] == VERDICTS[kind]
    assert doc["source"] == "psrecord log"
    if kind == "linear_leak":
        # Real (MB) is MiB with 3 decimals: the rate survives the rounding.
        assert doc["rate"] == pytest.approx(SERIES[kind].rate, rel=0.1)


def test_psrecords_csv_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`psrecord --log-format csv`: elapsed_time,nproc,cpu,mem_real,mem_virtual (MiB)."""
    series = SERIES["linear_leak"]
    lines = ["elapsed_time,nproc,cpu,mem_real,mem_virtual"]
    for t, v in zip(series.times, series.values, strict=True):
        lines.append(f"{t - series.times[0]},1,2.0,{v / MiB},{2 * v / MiB}")
    path = tmp_path / "ps.csv"
    path.write_text("\n".join(lines) + "\n")
    doc = analyze_json(capsys, str(path))
    assert (doc["verdict"], doc["source"]) == ("leak", "psrecord log")
    assert doc["growth"] == pytest.approx(
        analyze_json(capsys, str(_csv(tmp_path / "x.csv", series, relative=True)))["growth"]
    )


# -- bad input -----------------------------------------------------------------------


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    (tmp / "a-directory").mkdir()
    (tmp / "empty.csv").write_bytes(b"")
    (tmp / "columns.csv").write_text("when,memory\n1,2\n")
    (tmp / "cell.csv").write_text("time,rss\n1,100\n2,lots\n")
    (tmp / "nan.csv").write_text("time,rss\n1,100\nnan,200\n")
    (tmp / "header.csv").write_text("time,rss\n")
    (tmp / "short-row.csv").write_text("time,rss,cpu\n1,100,3\n2\n")
    (tmp / "noise.bin").write_bytes(bytes(range(256)) * 4)
    (tmp / "prose.txt").write_text("memory was fine yesterday\n")
    (tmp / "psrecord.log").write_text("# Elapsed time   CPU (%)\n 1.0 2.0\n")
    (tmp / "bad-psrecord.log").write_text(
        "# Elapsed time   CPU (%)     Real (MB)   Virtual (MB)\n  1.0  2.0  x  4.0\n"
    )
    (tmp / "broken.json").write_text('{"format": "memlens-recording", "version"')
    (tmp / "wide.csv").write_text(f"time,rss,name\n1,100,{'x' * 200_000}\n")
    (tmp / "huge-rss.csv").write_text("time,rss\n1,100\n2,1e308\n")
    (tmp / "far-time.csv").write_text("time,rss\n1,100\n1e300,200\n")
    (tmp / "negative.csv").write_text("time,rss\n1,100\n2,200\n3,-5\n")
    (tmp / "negative.log").write_text(
        "# Elapsed time   CPU (%)     Real (MB)   Virtual (MB)\n  1.0  2.0  -3.0  4.0\n"
    )
    (tmp / "deep.json").write_text(
        '{"format": "memlens-recording", "version": 1, "x": ' + "[" * 2000
    )
    return {
        "missing": (tmp / "missing.csv", "does not exist"),
        "directory": (tmp / "a-directory", "is a directory"),
        "empty": (tmp / "empty.csv", "is empty"),
        "no time and rss columns": (tmp / "columns.csv", "without a time and an rss column"),
        "a word for a number": (tmp / "cell.csv", "line 3: 'lots' in the rss column"),
        "nan": (tmp / "nan.csv", "line 3: 'nan' in the time column"),
        "header only": (tmp / "header.csv", "no samples"),
        "a short row": (tmp / "short-row.csv", "line 3 has 1 field;"),
        "binary noise": (tmp / "noise.bin", "is not a memlens recording or export"),
        "prose": (tmp / "prose.txt", "is not a memlens recording or export"),
        "psrecord without Real": (tmp / "psrecord.log", "Real (MB)"),
        "psrecord with a word": (tmp / "bad-psrecord.log", "'x' in the Real (MB) column"),
        "broken JSON": (tmp / "broken.json", "not valid JSON"),
        "a 200 KB field": (tmp / "wide.csv", "line 2 is not CSV that can be read"),
        "rss 1e308": (tmp / "huge-rss.csv", "line 3: '1e308' in the rss column is not a memory"),
        "time 1e300": (tmp / "far-time.csv", "line 3: '1e300' in the time column is not a time"),
        "negative rss": (tmp / "negative.csv", "line 4: '-5' in the rss column is not a memory"),
        "negative psrecord": (tmp / "negative.log", "line 2: '-3.0' in the Real (MB) column"),
        "JSON nested 2,000 deep": (tmp / "deep.json", "nests JSON deeper than 64 levels"),
    }


BAD = [
    "missing",
    "directory",
    "empty",
    "no time and rss columns",
    "a word for a number",
    "nan",
    "header only",
    "a short row",
    "binary noise",
    "prose",
    "psrecord without Real",
    "psrecord with a word",
    "broken JSON",
    "a 200 KB field",
    "rss 1e308",
    "time 1e300",
    "negative rss",
    "negative psrecord",
    "JSON nested 2,000 deep",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, says = _bad_inputs(tmp_path)[case]
    code, out, err = analyze(capsys, str(path), "--json")
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("memlens: error: ")
    assert str(path) in lines[0]
    assert says in lines[0]


def test_an_unknown_target_or_recording_is_exit_2(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = analyze(capsys, str(recorded.db), "--target", "999999")
    assert code == 2
    assert "has no target '999999'" in err
    assert recorded.keys["linear_leak"] in err  # it lists what there is
    code, _, err = analyze(capsys, f"{recorded.db}#99")
    assert code == 2
    assert "no recording '99'" in err
    csv_file = _csv(tmp_path / "one.csv", SERIES["short"], relative=True)
    code, _, err = analyze(capsys, str(csv_file), "--target", "1")
    assert code == 2
    assert "without target names" in err
