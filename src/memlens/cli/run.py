"""`memlens run [--web] -- CMD ARGS...`: start a command, record it and its children, and
exit with its exit code.

How the child is started and how signals reach it: memlens.cli._child, which `memlens
check` shares.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from memlens.agent import autostart_env
from memlens.cli._alerts import add_alert_options, alert_engine, settings_from_args
from memlens.cli._child import (
    marks_env,
    open_child,
    shell_status,
    signals_held,
    start_child,
    wait_for,
)
from memlens.cli._common import Command, add_serving_options, parse_size, sampler_config
from memlens.cli._dashboard import security_for
from memlens.cli._runs import store_path
from memlens.cli._summary import short_name
from memlens.cli.record import summarise
from memlens.errors import UsageError
from memlens.outside.redact import redact_cmdline
from memlens.store.files import existing_file
from memlens.watch.alerts import AlertEngine
from memlens.watch.live import LiveView
from memlens.watch.recorder import Recorder
from memlens.watch.session import Session
from memlens.web.server import bind_socket, serve, url_for


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--web", action="store_true", help="also serve the live dashboard")
    p.add_argument(
        "--agent",
        action="store_true",
        help="start the memlens agent in every Python process of the command, with no "
        "change to its code",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also start the sampling heap profiler in every Python process of the command "
        "(implies --agent)",
    )
    p.add_argument(
        "--profile-interval",
        type=parse_size,
        default=512 * 1024,
        metavar="SIZE",
        help="the heap profiler's mean sampling interval (default 512KiB, as Go's)",
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="record into this file instead of the store"
    )
    add_serving_options(p)
    add_alert_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS", help="the command")


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("name the command to run after --, e.g. memlens run -- python app.py")
    if not args.record and not args.web:
        raise UsageError("--no-record without --web would record and show nothing")
    alerts = alert_engine(args)
    policy = security_for(args) if args.web else None
    env = _agent_env(args) if args.agent or args.profile else None
    if args.record:  # a FIFO or a directory, refused before the command starts
        existing_file(_output(args), writing=True)
        env = marks_env(_output(args), env)
    sock = bind_socket(args.host, args.port) if args.web else None
    try:
        child = start_child(command, env)
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    with signals_held(child):
        return _supervise(args, child, command, sock, policy, alerts=alerts)


def _output(args: argparse.Namespace) -> Path:
    return Path(args.output).expanduser() if args.output else store_path(args)


def _agent_env(args: argparse.Namespace) -> dict[str, str]:
    """memlens's environment plus the start-up hook; inherited by the command's own
    children, so each Python process below it starts its own agent (and heap profiler)."""
    try:
        env = autostart_env()
    except OSError as e:
        raise UsageError(f"cannot prepare the agent's start-up for --agent: {e}") from None
    if args.profile:
        if not 1024 <= args.profile_interval <= 1 << 30:
            raise UsageError("--profile-interval must be from 1KiB to 1GiB")
        env["MEMLENS_HEAP"] = "1"
        env["MEMLENS_HEAP_INTERVAL"] = str(args.profile_interval)
    return env


def _supervise(
    args: argparse.Namespace,
    child: subprocess.Popen[bytes],
    command: list[str],
    sock: Any,
    policy: Any,
    *,
    alerts: AlertEngine | None,
) -> int:
    probe = open_child(child, detail=args.detail, backend=args.backend)
    path = _output(args)
    recorder = None
    if args.record:
        recorder = Recorder.start(
            path,
            name=short_name(redact_cmdline(command)),
            command=redact_cmdline(command),
            interval=args.interval,
            settings=settings_from_args(args),
        )
    live = None
    if sock is not None:
        live = LiveView(
            interval=args.interval,
            history_capacity=max(1, math.ceil(args.history / args.interval)),
            system=args.system,
        )
    session = Session(
        dataclasses.replace(sampler_config(args, children=True), final_round=True),
        [probe] if probe is not None else [],
        children_of_memlens=[child],
        recorder=recorder,
        alerts=alerts,
        metrics=live is not None,
        live=live,
    )
    server_thread, stop_server = None, threading.Event()
    if sock is not None:
        url = url_for(sock, policy.token)
        print(f"memlens: dashboard at {url}", file=sys.stderr, flush=True)
        server_thread = threading.Thread(
            target=_serve_until,
            args=(session, sock, policy, stop_server),
            name="memlens-server",
            daemon=True,
        )
        server_thread.start()
    else:
        session.start()
    try:
        code = wait_for(child)
    except BaseException:
        session.stop()
        stop_server.set()
        raise
    # Stopping the sampler runs one last round, which records the exit however soon after
    # the previous round it came, and hands it to the page; then the recording ends with
    # the exit code. The server stops once the page has it (and finds the session
    # stopped already).
    session.stop(exit_code=code)
    if server_thread is not None:
        session.settle()
        stop_server.set()
        server_thread.join(10)
    if recorder is not None:
        summarise(path, recorder.recording_id)
    return shell_status(code)


def _serve_until(session: Session, sock: Any, policy: Any, stop: threading.Event) -> None:
    asyncio.run(serve(session, sock, policy, stop=stop))
    sock.close()


COMMAND = Command(
    "run", "start a command, record it and its children, exit with its code", configure, run
)
