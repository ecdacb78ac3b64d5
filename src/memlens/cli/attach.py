"""`memlens attach PID` and `memlens detach PID`: the agent started in, and stopped in, a
Python process that is already running (docs/attach.md)."""

from __future__ import annotations

import argparse
import json
import sys

from memlens.attach import DEFAULT_TIMEOUT_S, Attached, attach, detach
from memlens.cli import ls
from memlens.cli._common import Command, parse_duration, parse_size
from memlens.errors import UsageError

DEFAULT_HEAP_INTERVAL = 512 * 1024


def _pid(text: str) -> int:
    try:
        pid = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a PID") from None
    if not 0 < pid < 1 << 22:
        raise argparse.ArgumentTypeError(f"{text!r} is not a PID")
    return pid


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", type=_pid, metavar="PID", help="the Python process to attach to")
    p.add_argument(
        "--profile",
        action="store_true",
        help="also start the sampling heap profiler (docs/heap.md)",
    )
    p.add_argument(
        "--heap-interval",
        type=parse_size,
        default=DEFAULT_HEAP_INTERVAL,
        metavar="SIZE",
        help="the heap profiler's mean sampling interval (default 512KiB)",
    )
    p.add_argument(
        "--timeout",
        type=parse_duration,
        default=DEFAULT_TIMEOUT_S,
        metavar="DURATION",
        help="give up after this long (default 10s); the process is left running",
    )
    p.add_argument(
        "--agent-token", metavar="TOKEN", help="the agent's token, if it runs with one already"
    )
    p.add_argument("--json", action="store_true", help="print what `memlens ls --json` shows")


def run(args: argparse.Namespace) -> int:
    interval = args.heap_interval if args.profile else 0
    if args.profile and not 1024 <= interval <= 1 << 30:
        raise UsageError("--heap-interval is 1KiB to 1GiB")
    result = attach(args.pid, heap_interval=interval, timeout=args.timeout, token=args.agent_token)
    report(result, as_json=args.json)
    return 0


def report(result: Attached, *, as_json: bool = False) -> None:
    """What `memlens ls` shows for the process, under one line that says what was done."""
    rows = ls.describe([result.entry])
    if as_json:
        print(json.dumps({**rows[0], "already_running": result.already, "method": result.method}))
        return
    if result.already:
        said = f"PID {result.entry.pid} already runs the memlens agent"
    else:
        said = f"attached to PID {result.entry.pid} (Python {result.entry.python}, {result.method}"
        if result.stopped_s is not None:
            said += f", stopped for {result.stopped_s * 1000:.0f} ms"
        said += ")"
    print(said, file=sys.stderr)
    from rich.console import Console

    ls.print_agents(Console(), rows)


def configure_detach(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", type=_pid, metavar="PID", help="the process whose agent to stop")
    p.add_argument(
        "--agent-token", metavar="TOKEN", help="the agent's token, if it was started with one"
    )


def run_detach(args: argparse.Namespace) -> int:
    if detach(args.pid, token=args.agent_token):
        print(f"stopped the memlens agent in PID {args.pid}; the process goes on")
    else:
        print(f"PID {args.pid} runs no memlens agent; nothing to stop")
    return 0


COMMAND = Command(
    "attach",
    "start the agent inside a running Python process (no restart, no code change)",
    configure,
    run,
)
DETACH_COMMAND = Command(
    "detach", "stop the agent in a process; the process goes on", configure_detach, run_detach
)
