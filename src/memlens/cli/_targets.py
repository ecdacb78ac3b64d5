"""Targets named on a command line that reads agents too: PIDs, `--name`, and agents'
addresses (`HOST:PORT`, `unix:PATH`). Shared by `watch` and `top`, so both accept the
same targets and refuse the same mistakes with the same words."""

from __future__ import annotations

import argparse
import re

from memlens.agent import list_agents
from memlens.cli import ls
from memlens.cli._common import add_target_options, open_targets
from memlens.errors import AgentRefused, UsageError
from memlens.probes import ProcessProbe
from memlens.probes.remote import RemoteAgentProbe, looks_like_address


def add_agent_target_options(p: argparse.ArgumentParser, verb: str) -> None:
    """PIDs or agents' addresses, `--name`, `--children` and `--agent-token`."""
    add_target_options(p, verb)
    for action in p._actions:
        if action.dest == "pids":
            action.metavar = "TARGET"
            action.help = (
                "process IDs, or agent addresses (HOST:PORT, unix:PATH) to read through the "
                "agent; none: the one local process that runs the agent"
            )
    p.add_argument(
        "--agent-token",
        metavar="TOKEN",
        help="the token of the agents memlens reads: one named by HOST:PORT or unix:PATH, "
        "and those of watched processes (--token is the dashboard's own)",
    )


def open_agent_targets(
    args: argparse.Namespace, verb: str
) -> tuple[list[ProcessProbe], re.Pattern[str] | None]:
    """The probes of the targets named (in the order named) and the --name pattern;
    bad input raises, and nothing opened is left open then."""
    texts: list[str] = list(args.pids)
    addresses = [t for t in texts if looks_like_address(t)]
    if len(set(addresses)) != len(addresses):
        raise UsageError("an agent address is named twice")
    if addresses and args.children:
        raise UsageError("--children follows local processes only, not an agent's address")
    args.pids = [t for t in texts if not looks_like_address(t)]
    remote = _open_agents(addresses, args.agent_token)
    try:
        local: list[ProcessProbe] = []
        pattern = None
        if args.pids or args.name:
            local, pattern = open_targets(args, verb)
    except BaseException:
        for probe in remote.values():
            probe.close()
        raise
    by_text = dict(zip(args.pids, local, strict=True)) | remote
    probes = [by_text[t] for t in texts]
    if len({p.identity.key for p in probes}) != len(probes):
        for probe in probes:
            probe.close()
        raise UsageError("the same process is named twice")
    return probes, pattern


def only_agent(verb: str) -> int:
    """The PID of the one local process running the agent; none or several is bad usage
    (several are listed first, so the next command can name one)."""
    agents = list_agents()
    if not agents:
        raise UsageError(
            "name at least one PID to watch, or --name PATTERN (no Python process of yours "
            "runs the memlens agent: `memlens run --agent -- python app.py` starts one)"
        )
    if len(agents) > 1:
        from rich.console import Console

        ls.print_agents(Console(), ls.describe(agents))
        raise UsageError(
            f"{len(agents)} processes run the agent; name one: memlens {verb} PID "
            f"(e.g. memlens {verb} {agents[0].pid})"
        )
    return agents[0].pid


def _open_agents(addresses: list[str], token: str | None) -> dict[str, ProcessProbe]:
    probes: dict[str, ProcessProbe] = {}
    try:
        for address in addresses:
            try:
                probes[address] = RemoteAgentProbe(address, token=token)
            except AgentRefused as e:
                hint = "" if token else "; --agent-token TOKEN gives the agent's token"
                raise AgentRefused(f"{e}{hint}") from None
    except BaseException:
        for probe in probes.values():
            probe.close()
        raise
    return probes
