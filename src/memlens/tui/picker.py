"""The first screen of `memlens top` with no target: the processes that run the agent,
to pick one from (the rows `memlens ls` prints), looked for again every few seconds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from memlens.outside.visible import visible
from memlens.units import human_bytes, human_duration

Agents = Callable[[], list[dict[str, Any]]]
RELIST_EVERY = 2.0  # s


class AgentPicker(Screen[int]):
    """Dismissed with the PID chosen."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "relist", "look again")]
    AUTO_FOCUS = "OptionList"  # the app's own screen focuses nothing by itself
    DEFAULT_CSS = """
    AgentPicker { layout: vertical; }
    AgentPicker #picker-title { height: 1; text-style: bold; }
    AgentPicker OptionList { height: auto; max-height: 80%; }
    AgentPicker #picker-note { height: auto; }
    AgentPicker #picker-help { height: 1; dock: bottom; }
    """

    def __init__(self, agents: Agents, none_found: str) -> None:
        super().__init__()
        self.agents = agents
        self.none_found = none_found
        self.pids: list[int] | None = None  # None: not listed yet

    def compose(self) -> ComposeResult:
        yield Static("memlens top · Python processes running the memlens agent", id="picker-title")
        yield OptionList(id="agents", markup=False)
        yield Static("", id="picker-note", markup=False)
        yield Static("enter watch  ↑/↓ choose  r look again  q quit", id="picker-help")

    def on_mount(self) -> None:
        self.action_relist()
        self.set_interval(RELIST_EVERY, self.action_relist)

    def action_relist(self) -> None:
        rows = self.agents()
        pids = [int(row["pid"]) for row in rows]
        if pids == self.pids:
            return
        options = self.query_one(OptionList)
        kept = options.highlighted
        before = self.pids or []
        chosen = before[kept] if kept is not None and kept < len(before) else None
        self.pids = pids
        options.clear_options()
        options.add_options([Option(_row(row), id=str(row["pid"])) for row in rows])
        if pids:
            options.highlighted = pids.index(chosen) if chosen in pids else 0
        self.note("" if rows else self.none_found)

    def note(self, text: str) -> None:
        self.query_one("#picker-note", Static).update(text)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(int(event.option.id))


def _row(row: dict[str, Any]) -> str:
    uptime = "–" if row.get("uptime_s") is None else human_duration(row["uptime_s"])
    return (
        f"PID {row['pid']:>7}  {visible(row['name'])}  Python {visible(row['python'])}  "
        f"up {uptime}  RSS {human_bytes(row.get('rss_bytes'))}  {visible(row['address'])}"
    )
