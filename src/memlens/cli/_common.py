"""What the commands share: the command record, argument types, and the serving options."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from memlens import units
from memlens.analysis.groups import DEFAULT_GROUP_BY, GROUP_BY
from memlens.errors import UsageError
from memlens.outside.visible import visible
from memlens.probes import ProcessProbe, open_process
from memlens.watch.maps_poll import AUTO_TARGETS, BUDGET, MAPS_EVERY, MAX_TARGETS, MapsSettings
from memlens.watch.sampler import MAX_INTERVAL, MIN_INTERVAL, SamplerConfig, check_interval

DEFAULT_PORT = 8765


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def parse_duration(text: str) -> float:
    """'90', '90s', '10m', '1.5h', '2d' → seconds, at most units.MAX_DURATION."""
    try:
        return units.parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_size(text: str) -> int:
    """'500MB', '2GB' → bytes."""
    try:
        return units.parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_rate(text: str) -> float:
    """'10MB/h', '1MB/min' → bytes per second."""
    try:
        return units.parse_rate(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_frames(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of frames") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("tracemalloc keeps 1 to 100 frames")
    return value


def parse_interval(text: str) -> float:
    """Seconds between samples, from MIN_INTERVAL to MAX_INTERVAL: nan, inf and 1e308 are
    refused here rather than killing the sampler's thread later."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    try:
        return check_interval(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is out of range (0-65535)")
    return value


def parse_pid(text: str) -> int:
    """PIDs are validated by the command (not argparse) so each bad one gets its own line."""
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a PID (PIDs are positive integers)") from None


def compile_pattern(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as e:
        raise UsageError(f"--name {text!r} is not a valid regular expression: {e}") from None


def add_sampling_options(p: argparse.ArgumentParser) -> None:
    """What every command that samples takes."""
    p.add_argument(
        "--interval",
        type=parse_interval,
        default=1.0,
        metavar="SECONDS",
        help=f"seconds between samples (default 1.0, from {MIN_INTERVAL} to {MAX_INTERVAL:g})",
    )
    p.add_argument(
        "--detail",
        action="store_true",
        help="read USS and PSS every sample (costs up to milliseconds per process; "
        "without it they are read every 30 s or so and carried forward in between)",
    )
    p.add_argument(
        "--group-by",
        choices=GROUP_BY,
        default=DEFAULT_GROUP_BY,
        help="group the watched processes by name, by command (the program, or the script "
        "an interpreter runs) or by parent process (default: name)",
    )
    p.add_argument(
        "--db",
        metavar="PATH",
        help="record into this store (default: $MEMLENS_DB, else "
        "~/.local/share/memlens/memlens.db under XDG_DATA_HOME)",
    )
    p.add_argument(
        "--backend",
        choices=["linux", "psutil"],
        default=None,
        help="how to read processes (default: the /proc fast path on Linux, else psutil)",
    )
    p.add_argument(
        "--tracemalloc",
        type=parse_frames,
        default=0,
        metavar="FRAMES",
        help="switch tracemalloc on, with this many frames, in every watched process that "
        "runs the Python agent (and off again at the end); default: leave it as it is",
    )
    p.add_argument(
        "--no-agents",
        dest="agents",
        action="store_false",
        help="do not look for the Python agent in the watched processes",
    )
    p.add_argument(
        "--no-system",
        dest="system",
        action="store_false",
        help="do not read the machine's CPU, memory, swap, disk, network and GPUs with "
        "each sample (nor show, send or record them)",
    )
    maps = p.add_mutually_exclusive_group()
    maps.add_argument(
        "--maps",
        dest="maps",
        action="store_const",
        const="all",
        default="auto",
        help=f"read where the memory of every watched process lives (smaps by category; "
        f"default: of the first {AUTO_TARGETS} processes only)",
    )
    maps.add_argument(
        "--no-maps",
        dest="maps",
        action="store_const",
        const="off",
        help="do not read the processes' memory maps",
    )
    p.add_argument(
        "--maps-interval",
        type=parse_interval,
        default=MAPS_EVERY,
        metavar="SECONDS",
        help=f"seconds between two readings of a process's memory map, at least "
        f"(default {MAPS_EVERY:g}; longer when the readings would take over "
        f"{BUDGET * 100:g}%% of a core)",
    )


def sampler_config(
    args: argparse.Namespace,
    *,
    interval: float | None = None,
    children: bool | None = None,
    name_pattern: re.Pattern[str] | None = None,
) -> SamplerConfig:
    """The sampler's settings from the sampling options (add_sampling_options), with what
    a command decides itself (a child's tree is always followed by `run`, say)."""
    return SamplerConfig(
        interval=args.interval if interval is None else interval,
        detail=args.detail,
        backend=args.backend,
        children=getattr(args, "children", False) if children is None else children,
        name_pattern=name_pattern,
        agents=args.agents,
        agent_token=getattr(args, "agent_token", None),
        tracemalloc_frames=args.tracemalloc,
        system=args.system,
        maps=maps_settings(args),
        group_by=getattr(args, "group_by", DEFAULT_GROUP_BY),
    )


def maps_settings(args: argparse.Namespace) -> MapsSettings | None:
    """The maps poller's settings from --maps, --no-maps and --maps-interval."""
    chosen = getattr(args, "maps", "off")
    if chosen == "off":
        return None
    every = getattr(args, "maps_interval", MAPS_EVERY)
    return MapsSettings(every=every, targets=MAX_TARGETS if chosen == "all" else AUTO_TARGETS)


def add_target_options(p: argparse.ArgumentParser, verb: str) -> None:
    """PIDs, --name and --children: which processes a command samples."""
    p.add_argument("pids", nargs="*", metavar="PID", help=f"process IDs to {verb}")
    p.add_argument(
        "--name",
        metavar="PATTERN",
        help=f"{verb} every process whose name or command line matches this regular "
        "expression (case-insensitive), picking up new ones as they start",
    )
    p.add_argument(
        "--children",
        action="store_true",
        help="include descendants: one series per process and one summed series",
    )


def open_targets(
    args: argparse.Namespace, verb: str
) -> tuple[list[ProcessProbe], re.Pattern[str] | None]:
    """The probes for the PIDs named and the --name pattern, checked; bad input raises."""
    pids = [parse_pid(text) for text in args.pids]
    pattern = compile_pattern(args.name) if args.name else None
    if not pids and pattern is None:
        raise UsageError(f"name at least one PID to {verb}, or --name PATTERN")
    if len(set(pids)) != len(pids):
        raise UsageError("a PID is named twice")
    probes: list[ProcessProbe] = []
    try:
        for pid in pids:
            probes.append(open_process(pid, detail=args.detail, backend=args.backend))
    except BaseException:
        for probe in probes:
            probe.close()
        raise
    return probes, pattern


def add_listen_options(p: argparse.ArgumentParser) -> None:
    """Where a dashboard listens and who may use it."""
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=parse_port,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    p.add_argument(
        "--token",
        help="the token every client must present (default: $MEMLENS_TOKEN, else a new one "
        "at each start; the printed URL carries it)",
    )
    p.add_argument(
        "--no-token",
        action="store_true",
        help="require no token (loopback only: any local user can then use the dashboard)",
    )
    p.add_argument("--open", action="store_true", help="open the dashboard in a browser")


def add_serving_options(p: argparse.ArgumentParser) -> None:
    """What every command that samples and serves a live dashboard takes."""
    add_sampling_options(p)
    add_listen_options(p)
    p.add_argument(
        "--history",
        type=parse_duration,
        default=3600.0,
        metavar="DURATION",
        help="how much recent history to keep in memory per target (default 1h)",
    )
    p.add_argument(
        "--no-record",
        dest="record",
        action="store_false",
        help="keep the samples in memory only; record nothing",
    )


def warn(message: str) -> None:
    print(f"memlens: warning: {visible(message)}", file=sys.stderr)


def quiet_stdout() -> None:
    """Whoever read the output has gone (`memlens ls --json | head`): point stdout at
    /dev/null so that the interpreter's final flush of what is left does not fail with a
    second BrokenPipeError, and end quietly, as `yes | head` does."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
