"""Alert options shared by the commands that sample (watch, demo, record, run): where the
settings come from, the thresholds on the command line, and the engine they configure."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from memlens.cli._common import parse_rate, parse_size, warn
from memlens.config import Settings, load_settings
from memlens.errors import UsageError
from memlens.outside.visible import visible
from memlens.watch.alerts import AlertEngine, Sink, console_sink


def add_alert_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="settings file (default: memlens.toml or [tool.memlens] in pyproject.toml, "
        "looked for in the current directory and its parents)",
    )
    p.add_argument(
        "--max-rss",
        type=parse_size,
        metavar="SIZE",
        help="alert when a process's RSS goes above this (e.g. 500MB)",
    )
    p.add_argument(
        "--max-system-memory",
        type=_percent,
        metavar="PERCENT",
        help="alert when the machine's memory in use goes above this percent",
    )
    p.add_argument(
        "--max-leak-rate",
        type=parse_rate,
        metavar="RATE",
        help="alert when a detected leak grows faster than this (e.g. 10MB/h)",
    )
    p.add_argument(
        "--max-gc-growth",
        type=float,
        metavar="OBJECTS_PER_MIN",
        help="alert when gc-tracked objects grow faster than this (needs the Python agent)",
    )
    p.add_argument(
        "--no-alerts",
        dest="alerts",
        action="store_false",
        help="no leak detection or threshold alerts while sampling",
    )


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percent") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError("the percent must be above 0 and at most 100")
    return value


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The config file's settings with the command line's thresholds on top."""
    settings = load_settings(getattr(args, "config", None))
    gc_growth = getattr(args, "max_gc_growth", None)
    thresholds = settings.thresholds.merged(
        max_rss=getattr(args, "max_rss", None),
        max_system_memory=getattr(args, "max_system_memory", None),
        max_leak_rate=getattr(args, "max_leak_rate", None),
        max_gc_growth=None if gc_growth is None else gc_growth / 60.0,
    )
    if thresholds.max_gc_growth is not None and thresholds.max_gc_growth <= 0:
        raise UsageError("--max-gc-growth must be positive")
    return dataclasses.replace(settings, thresholds=thresholds)


def alert_engine(args: argparse.Namespace, sinks: Sequence[Sink] = ()) -> AlertEngine | None:
    """The engine the options ask for (None with --no-alerts); alerts also go to stderr.
    Settings are read here, before anything starts, so a bad config file stops the
    command at once."""
    settings = settings_from_args(args)
    if not getattr(args, "alerts", True):
        return None
    if settings.thresholds.max_gc_growth is not None and not getattr(args, "agents", True):
        warn("--max-gc-growth needs the Python agent, and --no-agents leaves it out")
    engine = AlertEngine(settings, [console_sink(_stderr_line), *sinks])
    return engine


def _stderr_line(line: str) -> None:
    print(visible(line), file=sys.stderr, flush=True)
