"""`memlens leaks [RUN] [--json]`: `memlens analyze` with the newest recording of the
store when no RUN is named; the same options, output and code."""

from __future__ import annotations

import argparse

from memlens.cli import analyze
from memlens.cli._common import Command


def configure(p: argparse.ArgumentParser) -> None:
    analyze.configure(p)
    # analyze's RUN is required; here it may be left out. argparse reads `nargs` and
    # `default` when it parses, so changing its action keeps one definition of the rest.
    for action in p._actions:
        if action.dest == "run":
            action.nargs = "?"
            action.default = "last"
            action.help = f"{action.help} (default: last)"


COMMAND = Command(
    "leaks",
    "the leak detector's findings on a recording (analyze; RUN defaults to last)",
    configure,
    analyze.run,
)
