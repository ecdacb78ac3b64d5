"""The command line: a registry of commands, one module each, and the one place where
memlens errors become exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from memlens import __version__
from memlens.cli import (
    analyze,
    check,
    demo,
    export,
    exporter,
    import_,
    leaks,
    ls,
    monitor,
    prune,
    record,
    recordings,
    report,
    run,
    serve,
    snapshot,
    top,
    watch,
)
from memlens.cli._common import Command
from memlens.errors import EXIT_USAGE, MemlensError
from memlens.textsafe import visible, visible_lines

COMMANDS: tuple[Command, ...] = (
    watch.COMMAND,
    top.COMMAND,
    demo.COMMAND,
    record.COMMAND,
    monitor.COMMAND,
    run.COMMAND,
    ls.COMMAND,
    snapshot.COMMAND,
    recordings.LS_COMMAND,
    recordings.SHOW_COMMAND,
    serve.COMMAND,
    prune.COMMAND,
    export.COMMAND,
    import_.COMMAND,
    analyze.COMMAND,
    leaks.COMMAND,
    check.COMMAND,
    report.COMMAND,
    exporter.COMMAND,
)


class _Parser(argparse.ArgumentParser):
    """Bad usage is one readable line on stderr (and exit 2), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {visible(message)} (see {self.prog} --help)\n")


LOG_FORMAT = "memlens: %(levelname)s: %(message)s"


class _VisibleFormatter(logging.Formatter):
    """Log records name processes and paths: each line is shown with `visible`, as
    everything else printed (a traceback keeps its line breaks)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return visible_lines(self.inner.format(record))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="memlens",
        description="Real-time memory profiler: watch processes live, tell a leak from a cache.",
    )
    parser.add_argument("--version", action="version", version=f"memlens {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_VisibleFormatter(logging.Formatter(LOG_FORMAT)))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    try:
        code: int = args._run(args)
        return code
    except MemlensError as e:
        print(f"memlens: error: {visible(str(e))}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


__all__ = ["COMMANDS", "EXIT_USAGE", "build_parser", "main"]
