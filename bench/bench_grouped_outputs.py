"""Exports and reports of many processes: how long `memlens export` and `memlens report`
take on a recording of 300 processes in groups, and how big their files are.

The recording: T processes (by default 300, in 3 groups of names, as 300 workers of
three pools) sampled at 1 Hz for N ticks (by default one hour), every sample with its
RSS, PSS and USS, written through the real `Store` into a file. Each output is then made
as the command makes it: the recording read whole (`load_recording`), then written
(`FORMATS[...].dump`, or `build_report` and a renderer), timed from the read to the
bytes, in this process: its CPU time and the wall time, best and median of R repeats.

    python -m bench.bench_grouped_outputs [--targets 300] [--ticks 3600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench._util import exit_on_sigterm, md_table, median, render_section, verdict, write_section
from memlens.formats import FORMATS
from memlens.model import Reading, Target, Tick
from memlens.report import build_report
from memlens.report.html import dump_report_html
from memlens.report.json import dump_report_json
from memlens.report.markdown import dump_report_md
from memlens.store import Recording, Store, StoreReader, load_recording
from memlens.units import human_bytes

MB = 1024 * 1024
TARGET_S = 10.0  # the slowest output of 300 processes over an hour, read included
POOLS = ("gunicorn", "celery", "php-fpm")


def write_recording(path: Path, targets: int, ticks: int) -> None:
    rng = random.Random(7)
    procs = [
        Target(
            key=f"{10_000 + i}-{i}",
            kind="process",
            pid=10_000 + i,
            start_time=1.7e9,
            name=POOLS[i % len(POOLS)],
            cmdline=f"{POOLS[i % len(POOLS)]} worker --id {i}",
        )
        for i in range(targets)
    ]
    t0 = time.time() - ticks - 60
    store = Store.open(path)
    rid = store.begin_recording(name="pools", command="bench", interval=1.0, host="bench")
    for seq in range(ticks):
        samples = {}
        for i, target in enumerate(procs):
            leak = seq * 4096 if i % 50 == 0 else 0  # every 50th worker grows
            rss = 120 * MB + leak + rng.randrange(2 * MB)
            samples[target.key] = Reading(
                rss, 900 * MB, 80 * MB, 0, 4, 17, 1.0, rss - 90 * MB, rss - 70 * MB
            )
        store.add_tick(rid, Tick(seq + 1, t0 + seq, samples, tuple(procs) if seq == 0 else ()))
        if seq % 200 == 199:
            store.flush(300)  # a bounded queue: the writer keeps up, whatever the load
    store.end_recording(rid, ended=t0 + ticks)
    store.flush(300)
    store.close()


def outputs() -> dict[str, Callable[[Recording], bytes]]:
    def report(render: Callable[..., bytes]) -> Callable[[Recording], bytes]:
        return lambda recording: render(build_report(recording, now=time.time()))

    return {
        "the read alone (`load_recording`)": lambda recording: b"",
        "export csv": FORMATS["csv"].dump,
        "export json": FORMATS["json"].dump,
        "export html": FORMATS["html"].dump,
        "report md": report(dump_report_md),
        "report json": report(dump_report_json),
        "report html": report(dump_report_html),
    }


def measure(path: Path, repeats: int) -> list[tuple[str, float, float, float, int]]:
    """(output, best wall s, median wall s, best CPU s, bytes) of each output."""
    rows = []
    for name, write in outputs().items():
        walls, cpus = [], []
        size = 0
        for _ in range(repeats):
            gc.collect()
            start, cpu = time.perf_counter(), time.process_time()
            reader = StoreReader.open(path)
            try:
                recording = load_recording(reader, reader.recording(1))
            finally:
                reader.close()
            size = len(write(recording))
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
            del recording
        rows.append((name, min(walls), median(walls), min(cpus), size))
    return rows


def _notes(rows: list[tuple[str, float, float, float, int]]) -> str:
    cpu = {name.split(" (")[0]: c for name, _, _, c, _ in rows}
    read = cpu["the read alone"]
    return (
        f"Where the time goes (CPU, this run): reading the recording whole takes {read:.1f} s "
        f"of each; the HTML export, whose own work is mostly the groups' (their sums over "
        f"time, charts and tables), {cpu['export html'] - read:.1f} s more; a report "
        f"{cpu['report md'] - read:.1f} s more in Markdown, most of it the leak detector "
        "and the trends of threads and file descriptors, judged for each of the processes. "
        "CSV and JSON write every sample (over 100 MB for an hour of 300 processes)."
    )


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", type=int, default=300)
    p.add_argument("--ticks", type=int, default=3600)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-write", action="store_true", help="print, do not touch the docs")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="memlens-bench-", dir=Path.cwd()) as tmp:
        path = Path(tmp) / "pools.db"
        write_recording(path, args.targets, args.ticks)
        rows = measure(path, args.repeats)
    for name, wall, _, cpu, size in rows:
        print(f"{name}: {cpu:.2f} s CPU, {wall:.2f} s wall, {human_bytes(size)}", file=sys.stderr)
    slowest = max(cpu for *_, cpu, _ in rows)
    samples = args.targets * args.ticks
    figures = md_table(
        ("output", "CPU s, best", "wall s, best", "wall s, median", "size"),
        [(n, f"{c:.2f}", f"{b:.2f}", f"{m:.2f}", human_bytes(s)) for n, b, m, c, s in rows],
    )
    section = render_section(
        "grouped_outputs",
        "Exports and reports of many processes",
        what=__doc__.split("\n\n")[1],
        command=(
            "python -m bench.bench_grouped_outputs "
            f"--targets {args.targets} --ticks {args.ticks} --repeats {args.repeats}"
        ),
        figures=f"{args.targets:,} processes × {args.ticks:,} ticks = {samples:,} samples.\n\n"
        + figures,
        target=f"each output within {TARGET_S:g} s of CPU, the read included (judged on CPU "
        "time: the wall time on a shared machine is the neighbours' as much as ours): "
        f"slowest {slowest:.2f} s: {verdict(slowest <= TARGET_S)}",
        notes=_notes(rows),
    )
    print(section)
    if not args.no_write:
        write_section("grouped_outputs", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
