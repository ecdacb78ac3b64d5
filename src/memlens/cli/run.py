"""`memlens run [--web] -- CMD ARGS...`: start a command, record it and its children, and
exit with its exit code.

Signals: the child stays in memlens's process group, so Ctrl-C at a terminal reaches it
directly, from the kernel, at the same moment as memlens; memlens then keeps recording
while the child shuts down. A signal sent to memlens alone (`kill -INT PID`, a service
manager stopping it) is passed on to the child. Everything memlens does meanwhile runs on
threads that have those signals blocked, and the main thread takes them synchronously
with `sigtimedwait`, which also says where each came from.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from memlens.cli._common import Command, add_serving_options
from memlens.cli._runs import store_path
from memlens.cli._serve import security_for
from memlens.cli._summary import short_name
from memlens.cli.record import summarise
from memlens.errors import UsageError
from memlens.live import LiveView
from memlens.model import Tick
from memlens.probes import open_process
from memlens.recording import Recorder
from memlens.redact import redact_cmdline
from memlens.sampler import Sampler, SamplerConfig
from memlens.web.server import bind_socket, serve, url_for

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
SI_KERNEL = 0x80  # si_code of a signal the kernel sent (a terminal's Ctrl-C, Ctrl-\)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--web", action="store_true", help="also serve the live dashboard")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="record into this file instead of the store"
    )
    add_serving_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS", help="the command")


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("name the command to run after --, e.g. memlens run -- python app.py")
    if not args.record and not args.web:
        raise UsageError("--no-record without --web would record and show nothing")
    policy = security_for(args) if args.web else None
    sock = bind_socket(args.host, args.port) if args.web else None
    try:
        child = subprocess.Popen(command)
    except OSError as e:
        if sock is not None:
            sock.close()
        raise UsageError(f"cannot start {command[0]!r}: {e.strerror}") from None
    # From here on, signals wait for the main thread's sigtimedwait; threads started
    # below inherit the blocked mask, the child (already started) does not.
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        return _supervise(args, child, command, sock, policy)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)


def _supervise(
    args: argparse.Namespace,
    child: subprocess.Popen[bytes],
    command: list[str],
    sock: Any,
    policy: Any,
) -> int:
    probe = open_process(child.pid, detail=args.detail, backend=args.backend)
    path = Path(args.output) if args.output else store_path(args)
    recorder = None
    if args.record:
        recorder = Recorder.start(
            path,
            name=short_name(redact_cmdline(command)),
            command=redact_cmdline(command),
            interval=args.interval,
        )
    sampler = Sampler(
        SamplerConfig(
            interval=args.interval, detail=args.detail, backend=args.backend, children=True
        ),
        on_tick=lambda tick: None,
        probes=[probe],
        children_of_memlens=[child],
    )
    consumers = [recorder.on_tick] if recorder is not None else []
    server_thread, stop_server = None, threading.Event()
    if sock is not None:
        live = LiveView(
            interval=args.interval,
            history_capacity=max(1, math.ceil(args.history / args.interval)),
        )
        url = url_for(sock, policy.token)
        print(f"memlens: dashboard at {url}", file=sys.stderr, flush=True)
        server_thread = threading.Thread(
            target=_serve_until,
            args=(live, sampler, sock, policy, consumers, stop_server),
            name="memlens-server",
            daemon=True,
        )
        server_thread.start()
    else:

        def on_tick(tick: Tick) -> None:
            for consume in consumers:
                consume(tick)

        sampler.on_tick = on_tick
        sampler.start()
    code = _wait_for(child)
    time.sleep(min(args.interval, 0.5))  # one more round records the exit
    if server_thread is not None:
        stop_server.set()
        server_thread.join(10)
    else:
        sampler.stop()
    if recorder is not None:
        recorder.finish(exit_code=code)
        summarise(path, recorder.recording_id)
    return code if code >= 0 else 128 - code


def _wait_for(child: subprocess.Popen[bytes]) -> int:
    """Wait for the child, passing on signals that were meant for memlens alone."""
    while True:
        code = child.poll()
        if code is not None:
            return code
        info = signal.sigtimedwait(FORWARDED, 0.1)
        if info is not None and info.si_code != SI_KERNEL:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, info.si_signo)


def _serve_until(  # noqa: PLR0917 - a thread's target takes positional arguments
    live: LiveView,
    sampler: Sampler,
    sock: Any,
    policy: Any,
    consumers: list[Any],
    stop: threading.Event,
) -> None:
    asyncio.run(serve(live, sampler, sock, policy, consumers=consumers, stop=stop))
    sock.close()


COMMAND = Command(
    "run", "start a command, record it and its children, exit with its code", configure, run
)
