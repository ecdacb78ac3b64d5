"""Starting a watch with its dashboard: shared by `watch` and `demo`."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import subprocess
import sys
import threading
import webbrowser
from collections.abc import Sequence

from memlens.cli._alerts import alert_engine, settings_from_args
from memlens.cli._common import sampler_config, warn
from memlens.cli._runs import store_path
from memlens.errors import UsageError
from memlens.outside.visible import visible
from memlens.probes import ProcessProbe
from memlens.store import StoreReader
from memlens.watch.archive import Archive
from memlens.watch.live import LiveView
from memlens.watch.recorder import Recorder
from memlens.watch.session import Session
from memlens.web.security import SecurityPolicy, is_loopback, new_token
from memlens.web.server import bind_socket, serve, url_for

# memlens's own memory should stay small while it watches for days: the reader that
# backfills new tabs from the store keeps at most this much of the file cached.
LIVE_READER_CACHE_KIB = 4096


def security_for(args: argparse.Namespace, *, dashboard: bool = True) -> SecurityPolicy:
    """A dashboard needs a token even on loopback: it shows every target's command line
    and switches tracing on inside them, and any local user can reach 127.0.0.1. The
    token is --token, else $MEMLENS_TOKEN, else generated. `--no-token` is allowed on
    loopback only. `dashboard=False` (the exporter, which controls nothing) needs one
    only when bound wider."""
    loopback = is_loopback(args.host)
    token: str | None = args.token or os.environ.get("MEMLENS_TOKEN") or None
    if getattr(args, "no_token", False):
        if args.token is not None:
            raise UsageError("--token and --no-token contradict each other")
        if not loopback:
            raise UsageError(f"--no-token is allowed only on loopback, not with --host {args.host}")
        warn("--no-token: every local user can use this dashboard")
        return SecurityPolicy(token=None, loopback_only=True)
    if token is not None and len(token) < 8:
        raise UsageError("--token must be at least 8 characters")
    if token is None and (dashboard or not loopback):
        token = new_token()
    if loopback:
        return SecurityPolicy(token=token, loopback_only=True)
    warn(
        f"listening on {args.host}, reachable from other machines; "
        "every client must present the token"
    )
    return SecurityPolicy(token=token, loopback_only=False)


def run_dashboard(
    args: argparse.Namespace,
    probes: Sequence[ProcessProbe],
    *,
    started: Sequence[subprocess.Popen[bytes]] = (),
    name_pattern: re.Pattern[str] | None = None,
    children: bool = False,
    title: str = "",
) -> int:
    policy = security_for(args)
    alerts = alert_engine(args)
    sock = bind_socket(args.host, args.port)
    interval: float = args.interval
    config = sampler_config(args, interval=interval, children=children, name_pattern=name_pattern)
    url = url_for(sock, policy.token)
    recorder = None
    if args.record:
        try:
            recorder = Recorder.start(
                store_path(args),
                name=title or _describe(probes, name_pattern),
                command=None,
                interval=interval,
                settings=settings_from_args(args),
            )
        except BaseException:
            sock.close()
            raise
    session: Session | None = None
    archive = None
    try:  # from here a stop (Ctrl-C, SIGTERM, SIGHUP) ends the recording
        if recorder is not None:
            reader = StoreReader.open(recorder.path)
            reader.limit_cache(LIVE_READER_CACHE_KIB)
            archive = Archive(reader, recorder.recording_id)
        live = LiveView(
            interval=interval,
            history_capacity=max(1, math.ceil(args.history / interval)),
            archive=archive,
            system=args.system,
        )
        session = Session(
            config,
            probes,
            children_of_memlens=started,
            recorder=recorder,
            alerts=alerts,
            metrics=True,
            live=live,
        )
        targets = session.sampler.targets

        def announce() -> None:
            what = title or ", ".join(f"{t.name} (PID {t.pid})" for t in targets())
            if what:
                print(f"memlens: watching {visible(what)}", flush=True)
            elif name_pattern is not None:
                print(
                    f"memlens: waiting for processes matching {name_pattern.pattern!r}",
                    flush=True,
                )
            if recorder is not None:
                print(
                    f"memlens: recording to {recorder.path} "
                    f"(recording {recorder.recording_id}; --no-record to keep it in memory)",
                    flush=True,
                )
            print(url, flush=True)
            print("memlens: press Ctrl-C to stop", flush=True)
            if args.open:
                threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()

        asyncio.run(serve(session, sock, policy, on_started=announce))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if session is not None:
            session.stop()
        elif recorder is not None:
            recorder.finish()
        if archive is not None:
            archive.reader.close()
        sys.stdout.flush()
    return 0


def _describe(probes: Sequence[ProcessProbe], pattern: re.Pattern[str] | None) -> str:
    named = ", ".join(f"{p.name} ({p.identity.pid})" for p in probes)
    if pattern is not None:
        return f"{named} + --name {pattern.pattern}" if named else f"--name {pattern.pattern}"
    return named
