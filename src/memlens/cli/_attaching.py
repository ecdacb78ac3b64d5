"""`--attach` on the commands that look inside Python (`watch`, `top`, `profile`): the
agent started in a named process that runs none when `--attach` is given. `profile`, which
cannot work without the agent, also asks the person at a terminal; `watch` and `top`
never ask (they show a process from the outside as ever), and off a terminal nothing is
attached unless `--attach` says so: an attach stops the process for a moment
(docs/attach.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable

from memlens.agent import find_agent
from memlens.errors import AttachUnsupported, MemlensError, TargetNotFound
from memlens.outside.visible import visible

ASKS = ", without asking (on a terminal memlens asks first without this)"


def add_attach_option(p: argparse.ArgumentParser, *, asks: bool = False) -> None:
    p.add_argument(
        "--attach",
        action="store_true",
        help="start the agent in a named Python process that runs none, as memlens attach "
        "does"
        + (", without asking (on a terminal memlens asks first without this)" if asks else ""),
    )


def attach_where_needed(
    pids: Iterable[int],
    args: argparse.Namespace,
    *,
    required: bool = False,
    ask: Callable[[str], str] | None = None,
    interactive: bool | None = None,
) -> None:
    """Starts the agent in each of `pids` that is a CPython process without one: with
    --attach, or, where `required` (profile: a process that cannot be attached to is then
    an error, not a process watched from outside), when the person at the terminal says
    yes."""
    from memlens.attach import attach
    from memlens.attach.target import check_owner, python_target

    tty = sys.stdin.isatty() and sys.stderr.isatty() if interactive is None else interactive
    for pid in pids:
        if find_agent(pid) is not None:
            continue
        try:
            check_owner(pid)
            target = python_target(pid)
        except (AttachUnsupported, TargetNotFound):
            if required or getattr(args, "attach", False):
                raise
            continue  # not Python: watched from the outside, as ever
        except MemlensError:
            if required:
                raise
            continue
        if not getattr(args, "attach", False):
            if not (tty and required):
                continue
            question = (
                f"PID {pid} runs Python {target.version_text} without the memlens agent. "
                "Attach to it now? It stops for a moment (docs/attach.md). [y/N] "
            )
            answer = (ask or input)(question)
            if answer.strip().lower() not in ("y", "yes"):
                continue
        result = attach(pid, token=getattr(args, "agent_token", None))
        print(
            f"memlens: attached to PID {pid} ({visible(result.entry.name)}, {result.method})",
            file=sys.stderr,
        )


__all__ = ["add_attach_option", "attach_where_needed"]
