"""Every process's PSS and USS, read at a budgeted rate and carried forward in between.

A sum of RSS counts a page shared by a parent and its forked workers once per process
(a 200 MB parent with 4 workers adds up to about 1 GB); PSS divides each shared page
among the processes sharing it, so PSS adds up to what the machine holds
(analysis/groups.honest_sum, docs/groups.md). PSS comes from /proc/PID/smaps_rollup,
whose read walks every mapping of the process in the kernel: about 60 µs for a small
process, milliseconds for a large one, against about 1 µs for the statm read of a round.

So the sampler reads it here, at a budget:

- a process is read when it is first seen (before its first reading leaves the round, so
  a sum never counts a new member's shared pages in full); its watched parent is read
  again in the same round (`forget`), its siblings as soon as the budget allows
  (`stale`): a fork lowered their PSS;
- after that at most every `every` seconds (30 by default), and only while the round's
  reads have taken less CPU time (the sampler thread's, which holds the kernel's page
  walk) than `share` of the round's interval (2% of a core by default;
  one read may go over). Processes left over are read in later rounds: the due ones wait,
  the fresh ones are not due, so the budget moves along the list;
- between two reads, PSS and USS are carried forward with the change in the process's
  private memory since the last read, as statm tells it each round (resident − shared:
  anonymous plus private file pages). A process that allocates or frees memory of its
  own moves its PSS at once; what statm cannot see (a forked child writing to pages it
  shares copy-on-write, a sharer exiting) waits for the next read.

`--detail` reads smaps_rollup every round in the probe itself; its readings pass here
unchanged. A probe without `read_rollup` (a remote agent's) keeps PSS unknown, and a sum
counts its RSS (honest_sum says so).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from memlens.model import Reading

PSS_EVERY = 30.0  # s between two reads of one process's smaps_rollup, at least
PSS_BUDGET = 0.02  # the share of one core the reads of a round may take
_new_reading = tuple.__new__  # as in the probe: a Reading without Python's __new__
_USS = 7  # index of uss in a Reading; pss follows it (model.SAMPLE_FIELDS)
_NEVER = float("inf")

Rollup = Callable[[], "tuple[int | None, int | None] | None"]


@dataclass(slots=True)
class _Known:
    """The last read of one process, and the reading built from the latest round."""

    uss: int | None
    pss: int | None
    private: int  # resident − shared when it was read
    read_at: float  # monotonic; _NEVER: not to be read again
    source: Reading | None = None  # the probe's reading the output was built from
    output: Reading | None = None


class PssBudget:
    """Fills each reading's `pss` and `uss` for the sampler (see the module's docstring).

    Called on the sampler's thread only: `start_round` once a round, then `fill` for each
    process read, `forget` for each that ended.
    """

    def __init__(self, every: float = PSS_EVERY, share: float = PSS_BUDGET) -> None:
        self.every = every
        self.share = share
        self._known: dict[str, _Known] = {}
        self._left = 0.0  # CPU seconds of reads left in this round
        self.reads = 0  # smaps_rollup reads so far, in all
        self.seconds = 0.0  # the CPU time they took, in all

    def start_round(self, interval: float) -> None:
        self._left = self.share * interval

    def forget(self, key: str) -> None:
        self._known.pop(key, None)

    def stale(self, key: str) -> None:
        """Read `key` again as soon as a round's budget allows (its sharing changed)."""
        known = self._known.get(key)
        if known is not None and known.read_at != _NEVER:
            known.read_at = float("-inf")

    def fill(self, key: str, rollup: Rollup | None, reading: Reading, now: float) -> Reading:
        """`reading` with PSS and USS: read now when due and within the budget, else
        carried forward from the last read."""
        if reading.pss is not None:  # --detail: the probe read it this round
            return reading
        known = self._known.get(key)
        if known is None or (now - known.read_at >= self.every and self._left > 0):
            return self._read(key, rollup, reading, now)
        if reading is known.source:  # statm unchanged: the probe repeated its reading
            return known.output  # type: ignore[return-value]  # set with `source`
        if known.pss is None:
            return reading
        # Between 0 and RSS (USS up to PSS), with comparisons: min() and max() would
        # cost as much again as the rest, for every process whose memory moved.
        change = (reading.rss - reading.shared) - known.private
        pss = known.pss + change
        if pss < 0:
            pss = 0
        elif pss > reading.rss:
            pss = reading.rss
        uss = known.uss
        if uss is not None:
            uss += change
            if uss < 0:
                uss = 0
            elif uss > pss:
                uss = pss
        output = _with(reading, uss, pss)
        known.source, known.output = reading, output
        return output

    def _read(self, key: str, rollup: Rollup | None, reading: Reading, now: float) -> Reading:
        if rollup is None:  # nothing to read it with: never ask again
            self._known[key] = _Known(None, None, 0, _NEVER, reading, reading)
            return reading
        began = time.thread_time()
        got = rollup()
        took = time.thread_time() - began
        self._left -= took
        self.reads += 1
        self.seconds += took
        uss, pss = got if got is not None else (None, None)
        if pss is None:  # hidden (another user's process) or gone: not asked again
            self._known[key] = _Known(None, None, 0, _NEVER, reading, reading)
            return reading
        output = _with(reading, uss, pss)
        self._known[key] = _Known(uss, pss, reading.rss - reading.shared, now, reading, output)
        return output


def _with(reading: Reading, uss: int | None, pss: int | None) -> Reading:
    """`reading` with these USS and PSS, built as the probe builds one (no Python
    __new__); `+`, not a star display, which builds a list first (3.11)."""
    return _new_reading(Reading, reading[:_USS] + (uss, pss) + reading[_USS + 2 :])  # noqa: RUF005
