"""`memlens top [TARGET ...]`: the live view in the terminal, for where no browser is
(over SSH, in a container). The same sampler, alerts and agents as `watch`; Textual
draws it. With no target, a list of the processes that run the agent to pick from."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from memlens.agent import list_agents
from memlens.analysis.groups import DEFAULT_GROUP_BY
from memlens.cli import ls
from memlens.cli._alerts import add_alert_options, settings_from_args
from memlens.cli._attaching import add_attach_option, attach_where_needed
from memlens.cli._common import Command, add_sampling_options, sampler_config, warn
from memlens.cli._runs import store_path
from memlens.cli._targets import add_agent_target_options, open_agent_targets
from memlens.config import Settings
from memlens.probes import ProcessProbe, open_process
from memlens.watch.alerts import AlertEngine
from memlens.watch.live import LiveView
from memlens.watch.recorder import Recorder
from memlens.watch.session import Session

if TYPE_CHECKING:
    from memlens.tui import Feed

# The history kept per target: the longest window at the starting interval, or at
# 0.5 s if that is shorter, so `-` down to 0.5 s still fills the hour.
HISTORY_INTERVAL = 0.5


HELP = {
    "pids": "process IDs, or agent addresses (HOST:PORT, unix:PATH) to read through the "
    "agent; none: pick from the processes that run the agent",
    "agent_token": "the token of the agents memlens reads: one named by HOST:PORT or "
    "unix:PATH, and those of watched processes",
    "db": "record into this store (implies --record; default: $MEMLENS_DB, else "
    "~/.local/share/memlens/memlens.db under XDG_DATA_HOME)",
}


def configure(p: argparse.ArgumentParser) -> None:
    add_agent_target_options(p, "watch")
    add_sampling_options(p)
    p.add_argument(
        "--record",
        action="store_true",
        help="also record what is sampled into the store, as watch does (default: keep it "
        "in memory only)",
    )
    add_alert_options(p)
    add_attach_option(p)
    for action in p._actions:
        action.help = HELP.get(action.dest, action.help)


def run(args: argparse.Namespace) -> int:
    # Textual is loaded here, not with the command line: every other command (the
    # long-running `watch` first) would carry it in memory for nothing.
    from memlens.tui import TopApp, logs_to

    settings = settings_from_args(args)  # a bad config file stops here, before the screen
    if settings.thresholds.max_gc_growth is not None and not args.agents:
        warn("--max-gc-growth needs the Python agent, and --no-agents leaves it out")
    recorders: list[Recorder] = []
    if args.pids or args.name:
        # Before the screen is drawn: an attach may ask a question on the terminal.
        attach_where_needed([int(t) for t in args.pids if t.isdigit()], args)
        probes, pattern = open_agent_targets(args, "watch")
        feed = feed_for(args, settings, probes, pattern, recorders)
        app = TopApp(feed, handle_signals=True, group_by=_group_by(args))
    else:
        app = TopApp(
            pick=lambda pid: feed_for(args, settings, [_open(args, pid)], None, recorders),
            agents=lambda: ls.describe(list_agents()),
            none_found=ls.NONE_FOUND,
            handle_signals=True,
            group_by=_group_by(args),
        )
    try:
        with logs_to(app.post_log):
            app.run()
    finally:
        if app.feed is not None:
            app.feed.stop()  # after the terminal is given back: see memlens.tui.feed
    for recorder in recorders:
        print(
            f"memlens: recorded to {recorder.path} (recording {recorder.recording_id})",
            flush=True,
        )
    return app.return_code or 0


def _group_by(args: argparse.Namespace) -> str:
    """How the list groups targets the sampler left unlabelled (--group-by)."""
    return str(getattr(args, "group_by", None) or DEFAULT_GROUP_BY)


def _open(args: argparse.Namespace, pid: int) -> ProcessProbe:
    return open_process(pid, detail=args.detail, backend=args.backend)


def feed_for(
    args: argparse.Namespace,
    settings: Settings,
    probes: Sequence[ProcessProbe],
    pattern: re.Pattern[str] | None,
    recorders: list[Recorder],
) -> Feed:
    """The sampler, alert engine (and recorder, with --record) for `probes`, as a feed
    for the app; nothing runs until the app starts it."""
    from memlens.tui import Feed
    from memlens.tui.view import WINDOWS

    interval: float = args.interval
    recorder = None
    if args.record or args.db:
        names = ", ".join(f"{p.name} ({p.identity.pid})" for p in probes)
        recorder = Recorder.start(
            store_path(args),
            name=names or f"--name {args.name}",
            command=None,
            interval=interval,
            settings=settings,
        )
        recorders.append(recorder)
    capacity = math.ceil(WINDOWS[-1] / min(interval, HISTORY_INTERVAL))
    # every field of every sample: the screens' minimum, maximum and trend over a window
    # are computed from the history, not drawn from it
    live = LiveView(
        interval=interval, history_capacity=capacity, system=args.system, recent=capacity
    )
    session = Session(
        sampler_config(args, interval=interval, name_pattern=pattern),
        probes,
        recorder=recorder,
        alerts=AlertEngine(settings) if args.alerts else None,
        live=live,
    )
    return Feed(live, session, settings=settings)


COMMAND = Command("top", "watch processes' memory live in the terminal", configure, run)
