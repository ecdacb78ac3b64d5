"""`memlens record PID ... --duration 10m -o run.db`: record without a dashboard."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path

from memlens.cli._alerts import add_alert_options, alert_engine, settings_from_args
from memlens.cli._common import (
    Command,
    add_sampling_options,
    add_target_options,
    open_targets,
    parse_duration,
    sampler_config,
)
from memlens.cli._runs import store_path
from memlens.cli._summary import print_recording
from memlens.model import Tick
from memlens.store import StoreReader
from memlens.watch.recorder import Recorder
from memlens.watch.session import Session


def configure(p: argparse.ArgumentParser) -> None:
    add_target_options(p, "record")
    p.add_argument(
        "--duration",
        type=parse_duration,
        default=None,
        metavar="DURATION",
        help="stop after this long (e.g. 90s, 10m, 2h); default: until the targets exit or Ctrl-C",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="record into this file instead of the store (--db)",
    )
    add_sampling_options(p)
    add_alert_options(p)


def run(args: argparse.Namespace) -> int:
    alerts = alert_engine(args)
    probes, pattern = open_targets(args, "record")
    path = Path(args.output) if args.output else store_path(args)
    what = ", ".join(f"{p.name} ({p.identity.pid})" for p in probes) or f"--name {args.name}"
    recorder = Recorder.start(
        path, name=what, command=None, interval=args.interval, settings=settings_from_args(args)
    )
    session = Session(
        sampler_config(args, name_pattern=pattern), probes, recorder=recorder, alerts=alerts
    )
    record_until_done(session, duration=args.duration, wait_for_new=pattern is not None)
    summarise(path, recorder.recording_id)
    return 0


def record_until_done(
    session: Session,
    *,
    duration: float | None,
    wait_for_new: bool,
    stop: threading.Event | None = None,
) -> None:
    """Run the session with a progress line until time is up, every target has exited
    (unless new ones may still come), `stop` is set, or Ctrl-C/SIGTERM; then stop it,
    which ends its recording."""
    done = stop or threading.Event()
    sampler = session.sampler
    counts = {"ticks": 0, "alive": 0}

    def count(tick: Tick) -> None:
        counts["ticks"] += 1
        counts["alive"] = sampler.alive()
        if not wait_for_new and sampler.alive() == 0:
            done.set()

    session.add_consumer(count)
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    started = time.monotonic()
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    progress = Progress(
        TextColumn(
            "[bold]recording[/bold] {task.fields[ticks]} samples, {task.fields[alive]} alive"
        ),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[left]}"),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    try:
        with progress:
            task = progress.add_task("record", total=duration, ticks=0, alive=0, left="")
            session.start()
            # With no progress line to refresh, wake only as often as the deadline needs.
            step = 0.25 if console.is_terminal else 1.0
            while not done.wait(step):
                elapsed = time.monotonic() - started
                left = "" if duration is None else f"{max(0.0, duration - elapsed):.0f} s left"
                progress.update(
                    task, completed=elapsed, left=left, ticks=counts["ticks"], alive=counts["alive"]
                )
                if duration is not None and elapsed >= duration:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        session.stop()


def summarise(path: Path, recording_id: int) -> None:
    from rich.console import Console

    reader = StoreReader.open(path)
    try:
        info = reader.recording(recording_id)
        print_recording(
            Console(), info, reader.targets(info.id), lambda key: reader.series(info.id, key)
        )
        print(f"memlens: recorded into {path} (recording {info.id})")
    finally:
        reader.close()


COMMAND = Command("record", "record processes' memory without a dashboard", configure, run)
