"""`memlens profile PID`: one heap profile of a running Python process, through its
agent, as folded stacks, pprof, JSON or an HTML page.

The profiler may already run in the target (`memlens run --profile`, MEMLENS_HEAP=1,
another viewer): then it is left as it is, and the profile is taken at once unless a
window is asked for. Otherwise this command starts it, waits for the window (30 s by
default) and stops it again, also on Ctrl-C, so that a process is left as it was found.
A window is marked in the agent (`heap.mark`) so that allocations, and for kind growth
the growth, count from its start.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from memlens.agent.registry import find_agent
from memlens.cli._attaching import add_attach_option, attach_where_needed
from memlens.cli._common import Command, parse_duration, parse_pid, parse_size, warn
from memlens.cli._summary import shown_name
from memlens.cli.export import write_stdout
from memlens.errors import (
    AgentBusy,
    AgentMisbehaved,
    AgentRefused,
    AgentRequestFailed,
    AgentUnavailable,
    BadHeapProfile,
    MemlensError,
    TargetGone,
    UsageError,
)
from memlens.formats.heap_files import FORMATS, format_for
from memlens.formats.heap_profile import KINDS, MAX_FRAMES, MAX_STACKS, HeapProfile, from_dict
from memlens.formats.output import write_atomic
from memlens.outside.visible import visible
from memlens.probes import ProcessProbe, open_process
from memlens.probes.python import PythonProbe
from memlens.units import human_bytes, human_duration

DEFAULT_WINDOW_S = 30.0
DEFAULT_INTERVAL = 512 * 1024
MIN_INTERVAL, MAX_INTERVAL = 1024, 1 << 30
DEFAULT_LIMIT = 2000
BUSY_TRIES = 5  # an agent busy with another costly request is asked again, this often
NO_AGENT_HINT = (
    "--attach starts it in the running process (docs/attach.md), or start the program with "
    "it: `memlens run --profile -- python app.py`, or MEMLENS_AGENT=1 in its environment"
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", metavar="PID", help="the Python process to profile (it runs the agent)")
    p.add_argument(
        "--duration",
        type=parse_duration,
        default=None,
        metavar="DURATION",
        help=f"the window to profile (default {DEFAULT_WINDOW_S:g}s when this command starts "
        "the profiler or for --kind growth; else 0: the profile as it is now)",
    )
    p.add_argument(
        "--kind",
        choices=KINDS,
        default="inuse",
        help="inuse: memory held now, by the stack that allocated it (default); allocated: "
        "bytes allocated during the window; growth: in-use memory gained during the window",
    )
    p.add_argument(
        "--format",
        choices=list(FORMATS),
        default=None,
        help="collapsed (folded stacks for flame graphs, the default), pprof (gzipped "
        "profile.proto: go tool pprof, Pyroscope, Grafana, speedscope), json, or html "
        "(default: from the extension of -o, else collapsed)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write here (whole or not at all) instead of to standard output",
    )
    p.add_argument(
        "--interval",
        type=parse_size,
        default=None,
        metavar="SIZE",
        help="the profiler's mean sampling interval when this command starts it "
        "(default 512KiB, as Go's; from 1KiB to 1GiB)",
    )
    p.add_argument(
        "--limit",
        type=_parse_limit,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most this many stacks, the largest (default {DEFAULT_LIMIT}, "
        f"at most {MAX_STACKS})",
    )
    p.add_argument(
        "--agent-token", metavar="TOKEN", help="the agent's token, if it was started with one"
    )
    add_attach_option(p, asks=True)


def _parse_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of stacks") from None
    if not 1 <= value <= MAX_STACKS:
        raise argparse.ArgumentTypeError(f"--limit is 1 to {MAX_STACKS}")
    return value


def run(args: argparse.Namespace) -> int:
    fmt = _format(args)
    writer, text, _ = FORMATS[fmt]
    to_stdout = args.output in (None, "-")
    if to_stdout and not text and sys.stdout.isatty():
        raise UsageError(f"{fmt} output would garble the terminal: give -o FILE")
    if args.interval is not None and not MIN_INTERVAL <= args.interval <= MAX_INTERVAL:
        raise UsageError("--interval must be from 1KiB to 1GiB")
    pid = parse_pid(args.pid)
    process = open_process(pid)
    if find_agent(pid) is None and (args.attach or sys.stdin.isatty()):
        try:
            attach_where_needed([pid], args, required=True)
        except BaseException:
            process.close()
            raise
    try:
        profile = _take(process, pid, args)
    finally:
        process.close()
    data = writer(profile)
    if to_stdout:
        if not write_stdout(data):
            return 0  # the reader stopped early (`| head`): as any filter, say nothing
        where = "standard output"
    else:
        path = Path(args.output)
        write_atomic(path, data, what="heap profile")
        print(path)
        where = str(path)
    print(f"memlens: {visible(_summary(profile, fmt, process.name))} to {where}", file=sys.stderr)
    return 0


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.output and args.output != "-":
        return format_for(args.output) or "collapsed"
    return "collapsed"


def _take(process: ProcessProbe, pid: int, args: argparse.Namespace) -> HeapProfile:
    """Start the profiler if it is off, wait for the window, take the profile, and stop
    the profiler again if it was started here (whatever happens meanwhile)."""
    agent = _connect(process, pid, args.agent_token)
    started_here = False
    try:
        status = _ask(agent, process, "status")
        if not status.get("running"):
            interval = args.interval or DEFAULT_INTERVAL
            status = _ask(agent, process, "start", interval_bytes=interval, frames=MAX_FRAMES)
            started_here = True
        elif args.interval is not None and args.interval != status.get("interval_bytes"):
            warn(
                f"the heap profiler of PID {pid} already runs, sampling every "
                f"{human_bytes(status.get('interval_bytes'))}; --interval is left unused"
            )
        if status.get("sampler") == "tracemalloc" and status.get("fallback_reason"):
            warn(f"PID {pid}: {status['fallback_reason']}")
        duration = args.duration
        if duration is None:
            duration = DEFAULT_WINDOW_S if started_here or args.kind == "growth" else 0.0
        since = None
        if duration > 0 or args.kind == "growth":
            since = f"memlens-profile-{os.getpid()}"
            _ask(agent, process, "mark", name=since)
        if duration > 0:
            print(
                f"memlens: profiling PID {pid} ({visible(shown_name(process.name))}) for "
                f"{human_duration(duration)} (Ctrl-C stops)",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(duration)
        raw = _ask(agent, process, "profile", kind=args.kind, since=since, limit=args.limit)
        try:
            return from_dict(raw, f"the heap profile of PID {pid}")
        except BadHeapProfile as e:
            raise AgentMisbehaved(str(e)) from None
    finally:
        if started_here:
            with contextlib.suppress(MemlensError):
                agent.heap("stop")
        agent.close()


def _connect(process: ProcessProbe, pid: int, token: str | None) -> PythonProbe:
    entry = find_agent(pid)
    start_ticks = process.identity.start_ticks
    if entry is None or (entry.start_ticks not in (None, start_ticks)):
        raise AgentUnavailable(
            f"PID {pid} ({shown_name(process.name)}) runs no memlens agent: {NO_AGENT_HINT}"
        )
    try:
        return PythonProbe(entry.address, token)
    except AgentRefused as e:
        hint = "" if token else "; --agent-token TOKEN gives the agent's token"
        raise AgentRefused(f"{e}{hint}") from None
    except AgentUnavailable as e:
        _gone(process, pid)
        raise AgentUnavailable(f"PID {pid}'s agent does not answer: {e}") from None


def _ask(agent: PythonProbe, process: ProcessProbe, op: str, **args: Any) -> dict[str, Any]:
    """One heap op; a busy agent is asked again, a process that ended is TargetGone."""
    for _ in range(BUSY_TRIES - 1):
        try:
            return _ask_once(agent, process, op, args)
        except AgentBusy as e:
            time.sleep(min(5.0, e.retry_after_s))
    return _ask_once(agent, process, op, args)


def _ask_once(
    agent: PythonProbe, process: ProcessProbe, op: str, args: dict[str, Any]
) -> dict[str, Any]:
    pid = process.identity.pid
    try:
        return agent.heap(op, **args)
    except AgentRequestFailed as e:
        raise AgentRequestFailed(f"the agent of PID {pid} refused {e}", e.code) from None
    except AgentBusy:
        raise
    except AgentUnavailable:
        _gone(process, pid)
        raise


def _gone(process: ProcessProbe, pid: int) -> None:
    """TargetGone when the process ended: a clearer reason than its socket's silence."""
    try:
        process.read(full=False)
    except TargetGone:
        raise TargetGone(f"process {pid} ended before its heap profile was taken") from None
    except MemlensError:
        pass


def _summary(profile: HeapProfile, fmt: str, name: str) -> str:
    if profile.sampler == "sampling":
        how = f"sampled every {human_bytes(profile.interval_bytes)}"
    else:
        how = "exact (tracemalloc)"
    figure = {
        "inuse": f"{human_bytes(profile.inuse_bytes)} in use",
        "allocated": f"{human_bytes(profile.alloc_bytes)} allocated",
        "growth": f"{human_bytes(profile.inuse_bytes)} growth",
    }[profile.kind]
    left_out = f", {profile.truncated:,} more left out" if profile.truncated else ""
    return (
        f"heap profile of PID {profile.pid} ({shown_name(name)}), {profile.kind}: "
        f"{len(profile.stacks):,} stacks{left_out}, {figure}, {how}; written as {fmt}"
    )


COMMAND = Command(
    "profile",
    "a heap profile of a running Python process (through its agent) as folded stacks, "
    "pprof, JSON or HTML",
    configure,
    run,
)
