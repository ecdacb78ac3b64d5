"""memlens's own memory with 1,000 targets: an hour of 1 Hz ticks through the live view.

Each run is a fresh Python process that builds a `LiveView` (as `memlens watch` does,
with the default hour of history at 1 Hz) and applies an hour of synthetic ticks to it
as fast as it can: 1,000 process targets, each with a reading of every field a process
without an agent has (RSS, PSS, USS, threads, fds, CPU...), some of them growing. No
sampler, no sleeping: the ticks go straight to `LiveView.apply`, which stores them in the
history and publishes their messages to the hub (no tab connected). Then one backfill
for a new tab is built (`backfill_message`, what `/ws` sends after hello), and timed.

The process's peak (VmHWM) and resident (VmRSS) memory are read from /proc/self/status
after the hour and after the backfill. With `--before REF`, the same runs go through the
memlens of git commit REF (its `src/` extracted to a temporary directory) beside the
working tree's, so the old figure and the new come from the same machine and minutes.

    python -m bench.bench_server_scale [--targets 1000] [--seconds 3600] [--repeats 3]
                                       [--before REF]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

from bench._util import ROOT, exit_on_sigterm, md_table, median, render_section, write_section

MB = 1024 * 1024
T0 = 1_700_000_000.0


def _status() -> dict[str, int]:
    """VmHWM and VmRSS of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                out[name] = int(value.split()[0]) * 1024
    return out


def child(targets: int, seconds: int) -> dict[str, object]:
    """One run in this process: feed the live view, then build a backfill."""
    import memlens
    from bench._synthetic import Synthetic
    from memlens.watch.live import LiveView

    start = _status()
    live = LiveView(interval=1.0, history_capacity=seconds, system=False)
    synthetic = Synthetic(targets, T0)
    began = time.perf_counter()
    for seq in range(seconds):
        live.apply(synthetic.tick(seq, T0 + seq, first=seq == 0))
    fed = time.perf_counter() - began
    gc.collect()
    after_feed = _status()
    began = time.perf_counter()
    message = live.backfill_message()
    built = time.perf_counter() - began
    size = len(message)
    del message
    gc.collect()
    after_backfill = _status()
    return {
        "memlens": str(Path(memlens.__file__).resolve().parent),
        "start_rss": start["VmRSS"],
        "feed_s": fed,
        "hwm_feed": after_feed["VmHWM"],
        "rss_feed": after_feed["VmRSS"],
        "backfill_s": built,
        "backfill_bytes": size,
        "hwm_backfill": after_backfill["VmHWM"],
        "rss_backfill": after_backfill["VmRSS"],
    }


def _extract(ref: str, into: Path) -> Path:
    """`src/` of git commit `ref` under `into`; returns the directory to put on sys.path."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_one(path: Path, targets: int, seconds: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(path)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_server_scale",
            "--child",
            "--targets",
            str(targets),
            "--seconds",
            str(seconds),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    if not str(result["memlens"]).startswith(str(path)):
        raise RuntimeError(f"the run imported memlens from {result['memlens']}, not {path}")
    return result


def _mb(runs: Sequence[dict[str, object]], name: str) -> str:
    return f"{median([float(r[name]) for r in runs]) / MB:.1f}"  # type: ignore[arg-type]


def _s(runs: Sequence[dict[str, object]], name: str) -> str:
    return f"{median([float(r[name]) for r in runs]):.2f}"  # type: ignore[arg-type]


def report(results: dict[str, list[dict[str, object]]], args: argparse.Namespace) -> str:
    rows = []
    for label, runs in results.items():
        rows.append(
            [
                label,
                _mb(runs, "start_rss"),
                _mb(runs, "hwm_feed"),
                _mb(runs, "rss_feed"),
                _s(runs, "feed_s"),
                _s(runs, "backfill_s"),
                f"{median([float(r['backfill_bytes']) for r in runs]) / MB:.1f}",  # type: ignore[arg-type]
                _mb(runs, "hwm_backfill"),
                _mb(runs, "rss_backfill"),
            ]
        )
    table = md_table(
        [
            "memlens",
            "RSS at start MB",
            "VmHWM after the hour MB",
            "RSS after the hour MB",
            "the hour fed in s",
            "backfill built in s",
            "backfill MB",
            "VmHWM after the backfill MB",
            "RSS after the backfill MB",
        ],
        rows,
    )
    new = results["this tree"]
    met = median([float(r["rss_feed"]) for r in new]) < 100 * MB  # type: ignore[arg-type]
    figures = (
        f"{table}\n\nMedians of {args.repeats} runs each, every run a fresh process; "
        f"{args.targets:,} targets, {args.seconds:,} ticks (an hour at 1 Hz, the default "
        "`--history`), fed to `LiveView.apply` without sleeping; no tab connected while "
        "they were fed, then one backfill built with no store behind the view (`--no-record`: "
        "the whole hour comes from memory). "
        + (
            f"`{args.before}` is memlens before the history was compacted (every field of every "
            "sample for the hour). "
            if args.before
            else ""
        )
        + "RSS at start is the interpreter with memlens imported."
    )
    target = (
        f"a server watching 1,000 targets for an hour at 1 Hz stays under 100 MB RSS: "
        f"{'met' if met else 'not met'} ({_mb(new, 'rss_feed')} MB after the hour). "
        "The backfill of a new tab is a burst on top (its JSON text, and the lists it is "
        "built from); the peak after it is the VmHWM column, and RSS falls back once it is "
        "sent."
    )
    return render_section(
        "server_scale",
        "memlens's own memory with 1,000 targets",
        what=(
            "Peak and resident memory of a process holding a live view of 1,000 targets "
            "ticking at 1 Hz for an hour (synthetic ticks, applied as fast as they come), "
            "and the cost of one backfill for a new tab."
        ),
        command=(
            f"python -m bench.bench_server_scale --targets {args.targets} --seconds "
            f"{args.seconds} --repeats {args.repeats}"
            + (f" --before {args.before}" if args.before else "")
        ),
        figures=figures,
        target=target,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=3600, help="ticks at 1 Hz (3600)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", help="a git commit to measure beside this tree")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    if not 1 <= args.targets <= 100_000 or not 1 <= args.seconds <= 86_400:
        parser.error("targets must be 1..100000, seconds 1..86400")
    if args.child:
        print(json.dumps(child(args.targets, args.seconds)))
        return 0
    exit_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="memlens-before-") as tmp:
        paths = {"this tree": ROOT / "src"}
        if args.before:
            paths = {f"before ({args.before})": _extract(args.before, Path(tmp)), **paths}
        results: dict[str, list[dict[str, object]]] = {label: [] for label in paths}
        for i in range(args.repeats):
            for label, path in paths.items():  # alternated, so drift hits both alike
                result = run_one(path, args.targets, args.seconds)
                results[label].append(result)
                print(f"{label} #{i + 1}: {json.dumps(result)}", file=sys.stderr)
    section = report(results, args)
    print(section)
    if not args.no_write:
        write_section("server_scale", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
