"""The command line: a registry of commands, one module each, and the one place where
memlens errors become exit codes."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from memlens._version import __version__
from memlens.cli import (
    analyze,
    attach,
    check,
    demo,
    diff,
    export,
    import_,
    leaks,
    ls,
    maps,
    mark,
    monitor,
    objects,
    profile,
    prometheus_exporter,
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
from memlens.cli._common import Command, quiet_stdout
from memlens.cli._signals import stop_like_ctrl_c
from memlens.errors import EXIT_OK, EXIT_USAGE, MemlensError
from memlens.outside.visible import visible, visible_lines

COMMANDS: tuple[Command, ...] = (
    watch.COMMAND,
    top.COMMAND,
    demo.COMMAND,
    record.COMMAND,
    monitor.COMMAND,
    run.COMMAND,
    ls.COMMAND,
    attach.COMMAND,
    attach.DETACH_COMMAND,
    snapshot.COMMAND,
    objects.COMMAND,
    maps.COMMAND,
    profile.COMMAND,
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
    diff.COMMAND,
    mark.COMMAND,
    prometheus_exporter.COMMAND,
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
    """Run one command. Whatever happens is one line on stderr and an exit code: a memlens
    error, SIGTERM or SIGHUP (as Ctrl-C), a reader that went away (`| head`: 0, quietly,
    as the output it wanted was written), memory running out (2)."""
    stdout_before = _stdout_identity()
    out_of_memory = ""
    try:
        with stop_like_ctrl_c():
            return _main(argv)
    except BrokenPipeError:
        quiet_stdout()
        return EXIT_OK
    except SystemExit as e:
        # rich's Console meets a closed pipe by pointing stdout at /dev/null and exiting
        # 1 (rich 13, Console.on_broken_pipe): the same closed pipe, the same quiet end.
        null = _devnull_identity()
        if e.code == 1 and null is not None and stdout_before != null == _stdout_identity():
            return EXIT_OK
        raise
    except MemoryError:
        # Said below, outside this block: here the traceback still holds the frames (and
        # the memory) of whatever ran out.
        out_of_memory = _command(argv)
    print(f"memlens: error: out of memory while running {out_of_memory}", file=sys.stderr)
    return EXIT_USAGE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_VisibleFormatter(logging.Formatter(LOG_FORMAT)))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    try:
        code: int = args._run(args)
    except MemlensError as e:
        print(f"memlens: error: {visible(str(e))}", file=sys.stderr)
        code = e.exit_code
    except PermissionError as e:  # a path nobody translated: still one line, not a trace
        where = f" {visible(str(e.filename))}" if e.filename else ""
        print(f"memlens: error: cannot use{where}: {e.strerror or e}", file=sys.stderr)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    return code


def _command(argv: Sequence[str] | None) -> str:
    words = list(sys.argv[1:] if argv is None else argv)
    name = next((w for w in words if w in {c.name for c in COMMANDS}), "")
    return f"`memlens {name}`" if name else "memlens"


def _stdout_identity() -> tuple[int, int] | None:
    with contextlib.suppress(OSError, ValueError):
        st = os.fstat(sys.stdout.fileno())
        return st.st_dev, st.st_ino
    return None


def _devnull_identity() -> tuple[int, int] | None:
    with contextlib.suppress(OSError):
        st = os.stat(os.devnull)
        return st.st_dev, st.st_ino
    return None


__all__ = ["COMMANDS", "EXIT_USAGE", "build_parser", "main"]
