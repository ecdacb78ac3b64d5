"""`memlens exporter [TARGET ...]`: headless, for a systemd unit or a container.

The same sampler, agents and leak detector as `watch`, served through the same server
(`memlens.web.server.serve`) with the dashboard switched off: only `/metrics`
(Prometheus) and `/healthz` answer. Nothing is recorded unless asked, since an exporter
runs for months and Prometheus keeps the history. `--otlp` pushes the same values to an
OpenTelemetry collector as well.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys

from memlens.cli._alerts import add_alert_options, alert_engine, settings_from_args
from memlens.cli._common import (
    Command,
    add_sampling_options,
    parse_interval,
    parse_port,
    sampler_config,
)
from memlens.cli._dashboard import security_for
from memlens.cli._runs import store_path
from memlens.cli._targets import add_agent_target_options, open_agent_targets
from memlens.errors import UsageError
from memlens.metrics import otlp
from memlens.outside.visible import visible
from memlens.watch.live import LiveView
from memlens.watch.recorder import Recorder
from memlens.watch.session import Session
from memlens.web.server import bind_socket, serve, url_for

DEFAULT_PORT = 9256
HISTORY_SECONDS = 60.0  # kept in memory: only /healthz reads the view

HELP = {
    "pids": "process IDs, or agent addresses (HOST:PORT, unix:PATH) to read through the agent",
    "db": "record into this store (implies --record; default: $MEMLENS_DB, else "
    "~/.local/share/memlens/memlens.db under XDG_DATA_HOME)",
}


def configure(p: argparse.ArgumentParser) -> None:
    add_agent_target_options(p, "export")
    add_sampling_options(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=parse_port,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    p.add_argument(
        "--token",
        help="require this token (Authorization: Bearer) from every scraper (default: "
        "$MEMLENS_TOKEN; needed when --host is not loopback; generated when not given)",
    )
    p.add_argument(
        "--record",
        action="store_true",
        help="also record what is sampled into the store (default: record nothing)",
    )
    p.add_argument(
        "--otlp",
        metavar="ENDPOINT",
        help="also push the metrics to this OpenTelemetry collector over OTLP/HTTP "
        "(e.g. http://127.0.0.1:4318; needs memlens[otlp])",
    )
    p.add_argument(
        "--otlp-interval",
        type=parse_interval,
        default=10.0,
        metavar="SECONDS",
        help="seconds between OTLP pushes (default 10)",
    )
    add_alert_options(p)
    for action in p._actions:
        action.help = HELP.get(action.dest, action.help)


def run(args: argparse.Namespace) -> int:
    if not args.pids and not args.name:
        raise UsageError("name at least one PID to export, or --name PATTERN")
    if args.otlp:
        otlp.metrics_url(args.otlp)
        otlp.check_available()
    # Metrics only, and it controls nothing: open on loopback, like node_exporter.
    policy = security_for(args, dashboard=False)
    alerts = alert_engine(args)
    probes, pattern = open_agent_targets(args, "export")
    interval: float = args.interval
    sock = bind_socket(args.host, args.port)
    recorder = None
    session: Session | None = None
    pusher = None
    try:
        if args.record or args.db:
            what = ", ".join(f"{p.name} ({p.identity.pid})" for p in probes)
            recorder = Recorder.start(
                store_path(args),
                name=what or f"--name {args.name}",
                command=None,
                interval=interval,
                settings=settings_from_args(args),
            )
        session = Session(
            sampler_config(args, interval=interval, name_pattern=pattern),
            probes,
            recorder=recorder,
            alerts=alerts,
            metrics=True,
            live=LiveView(
                interval=interval, history_capacity=max(1, math.ceil(HISTORY_SECONDS / interval))
            ),
        )
        metrics = session.metrics
        assert metrics is not None
        if args.otlp:
            pusher = otlp.start_otlp(args.otlp, metrics, interval=args.otlp_interval)
        url = url_for(sock, policy.token)
        targets = session.sampler.targets

        def announce() -> None:
            what = ", ".join(f"{t.name} (PID {t.pid})" for t in targets())
            if what:
                print(f"memlens: exporting {visible(what)}", flush=True)
            elif pattern is not None:
                print(f"memlens: waiting for processes matching {pattern.pattern!r}", flush=True)
            if recorder is not None:
                print(f"memlens: recording to {recorder.path}", flush=True)
            if pusher is not None:
                print(
                    f"memlens: pushing to {pusher.url} every {args.otlp_interval:g} s", flush=True
                )
            print(url, flush=True)
            print(f"memlens: Prometheus metrics at {url.split('?')[0]}metrics", flush=True)

        asyncio.run(serve(session, sock, policy, on_started=announce, dashboard=False))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if pusher is not None:
            pusher.stop()
        if session is not None:
            session.stop()
        elif recorder is not None:
            recorder.finish()
        sys.stdout.flush()
    return 0


COMMAND = Command(
    "exporter",
    "serve Prometheus metrics (and push OTLP) of processes, headless",
    configure,
    run,
)
