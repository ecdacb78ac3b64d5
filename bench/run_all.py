"""Run the benchmarks one after the other and rewrite docs/benchmarks.md.

Each benchmark runs as its own subprocess (its own descriptors, limits and children),
under a time limit, and rewrites its own section of docs/benchmarks.md.

    python -m bench.run_all                      # all, full length (about 30 minutes)
    python -m bench.run_all --quick              # all, shortened (about 6 minutes)
    python -m bench.run_all --only probe,fanout  # some
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress

from bench._util import DOC, ROOT, SECTIONS, ensure_doc

OTHER_LIMIT_S = 900.0  # for benchmarks this file has no plan for


def plan(args: argparse.Namespace) -> dict[str, tuple[list[str], float]]:
    """Each benchmark's arguments and time limit in seconds."""
    quick = args.quick
    minutes = args.minutes if args.minutes is not None else (1.0 if quick else 10.0)
    window = args.seconds if args.seconds is not None else (8.0 if quick else 25.0)
    return {
        "probe": (["--repeats", "5" if quick else "9"], 300.0),
        "capacity": (
            [
                "--sizes",
                "500,1000" if quick else "500,1000,2000",
                "--rounds",
                "6" if quick else "16",
            ],
            900.0,
        ),
        "fanout": (
            ["--seconds", f"{window:g}"],
            900.0,
        ),
        "self_rss": (["--minutes", f"{minutes:g}"], minutes * 60.0 + 300.0),
        "agent": (
            [
                "--repeats",
                "5" if quick else "9",
                "--rounds",
                "300000" if quick else "700000",
                "--sizes",
                "10000,100000" if quick else "10000,100000,1000000",
                "--request-repeats",
                "3" if quick else "5",
            ],
            300.0 if quick else 900.0,
        ),
        "server_scale": (
            ["--repeats", "1" if quick else "3", *(["--seconds", "600"] if quick else [])],
            600.0 if quick else 1500.0,
        ),
        "page_scale": (
            ["--hour", "600", "--window", "5"] if quick else [],
            600.0 if quick else 1800.0,
        ),
    }


def available() -> list[str]:
    """This file's benchmarks first, then any other `bench/bench_*.py` (run as they are)."""
    others = sorted(
        path.stem.removeprefix("bench_")
        for path in (ROOT / "bench").glob("bench_*.py")
        if path.stem.removeprefix("bench_") not in SECTIONS
    )
    return [*SECTIONS, *others]


def _run(command: list[str], limit: float) -> int | None:
    """Run one benchmark in its own process group; past `limit`, end that group (the
    benchmark and the servers and children it started) and answer None."""
    proc = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    try:
        return proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
                break
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = available()
    parser.add_argument(
        "--only", default=",".join(names), help=f"comma-separated subset of {names}"
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer repeats")
    parser.add_argument("--minutes", type=float, help="length of the self RSS run")
    parser.add_argument("--seconds", type=float, help="recording window of the fan-out runs")
    args = parser.parse_args(argv)
    chosen = [name for name in args.only.split(",") if name]
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {names}")
    ensure_doc()
    steps = plan(args)
    failed: list[str] = []
    for name in chosen:
        extra, limit = steps.get(name, ([], OTHER_LIMIT_S))
        command = [sys.executable, "-m", f"bench.bench_{name}", *extra]
        print(f"== {name}: {' '.join(command[1:])} (limit {limit:.0f} s)", flush=True)
        started = time.monotonic()
        code = _run(command, limit)
        if code is None:
            print(f"== {name}: stopped after {limit:.0f} s", flush=True)
        print(f"== {name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code is None or code != 0:
            failed.append(name)
    print(f"== wrote {DOC.relative_to(ROOT)}; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
