"""`memlens serve RUN [RUN_B]`: the dashboard on a recording, to browse all of it; with a
second recording (or --compare), the two overlaid, aligned at their starts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import threading
import webbrowser
from pathlib import Path

import uvicorn

from memlens.cli._common import Command, add_listen_options
from memlens.cli._dashboard import security_for
from memlens.cli._runs import add_db_option, open_run
from memlens.errors import UsageError
from memlens.formats.importer import write_recording
from memlens.formats.overlay import overlay
from memlens.outside.visible import visible
from memlens.store import RecordingInfo, Store, StoreReader, load_recording
from memlens.watch.replay import ReplayView
from memlens.web.app import create_app
from memlens.web.server import bind_socket, url_for, uvicorn_config


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a recording: a file, FILE#ID, or an id/name/last")
    p.add_argument(
        "run_b",
        nargs="?",
        metavar="RUN_B",
        help="a second recording, overlaid on the first, aligned at their starts",
    )
    p.add_argument("--compare", metavar="RUN_B", help="the same as giving RUN_B")
    add_listen_options(p)
    add_db_option(p)


def run(args: argparse.Namespace) -> int:
    if args.run_b is not None and args.compare is not None:
        raise UsageError("give the second recording once: RUN_B or --compare RUN_B")
    other = args.run_b if args.run_b is not None else args.compare
    with contextlib.ExitStack() as stack:
        if other is None:
            reader, info = open_run(args.run, args)
        else:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="memlens-compare-"))
            reader, info = _overlaid(args.run, other, args, Path(folder) / "compare.db")
        return _serve(reader, info, args)
    return 0  # unreachable: mypy cannot see that ExitStack does not swallow


def _overlaid(
    run_a: str, run_b: str, args: argparse.Namespace, path: Path
) -> tuple[StoreReader, RecordingInfo]:
    """Both recordings as one, in a store of its own at `path`."""
    loaded = []
    for name in (run_a, run_b):
        reader, info = open_run(name, args)
        try:
            loaded.append(load_recording(reader, info))
        finally:
            reader.close()
    store = Store.open(path)
    try:
        rid = write_recording(store, overlay(loaded[0], loaded[1]))
    finally:
        store.close()
    reader = StoreReader.open(path)
    return reader, reader.recording(rid)


def _serve(reader: StoreReader, info: RecordingInfo, args: argparse.Namespace) -> int:
    try:
        policy = security_for(args)
        sock = bind_socket(args.host, args.port)
        view = ReplayView(reader, info.id)
        url = url_for(sock, policy.token)
        print(f"memlens: serving recording {info.id} ({visible(info.name)})", flush=True)
        print(url, flush=True)
        print("memlens: press Ctrl-C to stop", flush=True)
        if args.open:
            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
        server = uvicorn.Server(uvicorn_config(create_app(view, policy)))
        try:
            asyncio.run(server.serve(sockets=[sock]))
        finally:
            sock.close()
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP, even before serving began
        pass
    finally:
        reader.close()
    return 0


COMMAND = Command("serve", "serve the dashboard on a recording", configure, run)
