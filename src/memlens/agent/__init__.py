"""The in-process agent: lets a memlens viewer see inside this Python process.

`import memlens.agent; memlens.agent.start()` is all a program needs. The agent uses the
standard library only, does nothing until a viewer asks, and never raises into its host.
The viewer's side is `memlens.agent.client`, imported separately so that the agent never
loads anything outside this package.
"""

from __future__ import annotations

from memlens.agent._constants import PROTOCOL_VERSION
from memlens.agent.lifecycle import info, is_running, start, stop
from memlens.agent.server import AgentInfo, AgentStartError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

    from memlens.agent.launch import autostart_dir, autostart_env
    from memlens.agent.registry import AgentEntry, find_agent, list_agents

__all__ = [
    "PROTOCOL_VERSION",
    "AgentEntry",
    "AgentInfo",
    "AgentStartError",
    "autostart_dir",
    "autostart_env",
    "find_agent",
    "info",
    "is_running",
    "list_agents",
    "start",
    "stop",
]


def __getattr__(name: str) -> Any:
    # What serves the viewer's side (finding agents, `memlens run --agent`) is loaded on
    # first use, not by the agent: every module the agent imports adds objects that the
    # host's garbage collector walks for ever.
    if name in ("AgentEntry", "find_agent", "list_agents"):
        from memlens.agent import registry

        return getattr(registry, name)
    if name in ("autostart_dir", "autostart_env"):
        from memlens.agent import launch

        return getattr(launch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
