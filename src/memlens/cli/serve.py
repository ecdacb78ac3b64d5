"""`memlens serve RUN`: the dashboard on a recording, to browse all of it."""

from __future__ import annotations

import argparse
import asyncio
import threading
import webbrowser

import uvicorn

from memlens.cli._common import Command, add_listen_options
from memlens.cli._dashboard import security_for
from memlens.cli._runs import add_db_option, open_run
from memlens.outside.visible import visible
from memlens.watch.replay import ReplayView
from memlens.web.app import create_app
from memlens.web.server import bind_socket, url_for, uvicorn_config


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a recording: a file, FILE#ID, or an id/name/last")
    add_listen_options(p)
    add_db_option(p)


def run(args: argparse.Namespace) -> int:
    reader, info = open_run(args.run, args)
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
