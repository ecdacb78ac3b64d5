"""How much of the tracking to do: which `track` calls record, and how much each keeps.

Sampling trades completeness for cost. A skipped call costs one random draw and a
counter; a recorded one measures the object's deep size, looks up the call site's name,
and with `stack_depth` walks that many frames. The presets are the usual three points:

- `demo()`: 10% of calls, stacks of 10 frames: enough to see the shape of a program;
- `full()`: every call, stacks of up to 20 frames: for finding a particular leak;
- `high_performance()`: 1% of calls, no stacks: to leave on in something that is timed.

With a rate below 1 the tracker's counts are of the recorded calls only; multiply by
`1 / rate` for an estimate of the whole (the report keeps `track_calls`, every call).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SamplingConfig:
    """`rate`: the share of `track` calls that record (0 to 1). `stack_depth`: frames of
    call stack kept per recorded call (0: none). `max_nodes`: objects visited at most when
    measuring one deep size, so a huge object graph cannot stall the caller (the size is
    then a lower bound, and the event says it was cut short). `max_events`: events kept
    for `events()` and the exports; past it the oldest go (the counts stay exact).
    `seed`: for a repeatable choice of calls."""

    rate: float = 1.0
    stack_depth: int = 0
    max_nodes: int = 10_000
    max_events: int = 100_000
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"sampling rate must be between 0 and 1, not {self.rate!r}")
        if self.stack_depth < 0:
            raise ValueError(f"stack_depth must be 0 or more, not {self.stack_depth!r}")
        if self.max_nodes < 1:
            raise ValueError(f"max_nodes must be 1 or more, not {self.max_nodes!r}")
        if self.max_events < 0:
            raise ValueError(f"max_events must be 0 or more, not {self.max_events!r}")

    @classmethod
    def demo(cls) -> SamplingConfig:
        return cls(rate=0.10, stack_depth=10)

    @classmethod
    def full(cls) -> SamplingConfig:
        return cls(rate=1.0, stack_depth=20)

    @classmethod
    def high_performance(cls) -> SamplingConfig:
        return cls(rate=0.01, stack_depth=0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
