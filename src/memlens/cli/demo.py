"""`memlens demo`: start the bundled leaking workload and watch it."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from memlens.agent import find_agent
from memlens.cli._alerts import add_alert_options
from memlens.cli._common import Command, add_serving_options
from memlens.cli._dashboard import run_dashboard
from memlens.probes import open_process


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--leak-rate",
        type=float,
        default=2.0,
        metavar="MB_PER_MIN",
        help="how fast the workload leaks underneath its sawtooth (default 2 MB/min)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="end the workload after this long (default: run until memlens stops)",
    )
    add_serving_options(p)
    add_alert_options(p)


def run(args: argparse.Namespace) -> int:
    command = [
        sys.executable,
        "-m",
        "memlens.cli.demo_workload",
        "--leak-rate",
        str(args.leak_rate),
        "--duration",
        str(args.duration),
    ]
    if args.agents:
        command.append("--agent")
        if not args.tracemalloc:
            args.tracemalloc = 1  # so the page shows the traced heap beside RSS at once
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        if args.agents:
            _wait_for_agent(child)
        probe = open_process(child.pid, detail=args.detail, backend=args.backend)
        return run_dashboard(
            args,
            [probe],
            started=[child],
            title=f"the demo workload (PID {child.pid}): a sawtooth with a slow leak",
        )
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _wait_for_agent(child: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """The workload registers its agent in its first moments; watching before that would
    find no agent until the next look, 10 s later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.poll() is None:
        try:
            if find_agent(child.pid) is not None:
                return
        except OSError:
            return
        time.sleep(0.05)


COMMAND = Command(
    "demo", "start a bundled workload that leaks slowly, and watch it", configure, run
)
