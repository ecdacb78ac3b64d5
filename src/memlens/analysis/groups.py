"""Targets in groups: which group a process belongs to, a group's honest sum, its top
members and the rest, and the one sentence a group's leak alert says.

With `--name gunicorn` matching 64 workers, nobody wants 64 charts, 64 chips and 64
banners: they want "the gunicorn workers", their sum, the few that stand out and the
rest as one band. Every face (the page, `top`, exports, reports, the alert engine)
groups through these functions, so a group is the same thing everywhere.

Sums never add RSS up: a page shared by a parent and its forked workers is resident in
each of them, so the RSS of 200 MB parent + 4 forked workers adds up to about 1 GB while
the memory used is about 220 MB. A sum adds PSS (each shared page divided among the
processes sharing it), and says so; a member whose PSS is unknown (another user's
process, a platform without smaps) counts with its RSS, and the sum says that too.

Pure: no I/O, no memlens imports above `model` and `units`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from memlens.units import human_bytes

GROUP_BY: tuple[str, ...] = ("name", "command", "parent")
DEFAULT_GROUP_BY = "name"
DEFAULT_TOP = 5
LABEL_MAX = 80  # characters of a group's label: a command line can be very long

# Programs whose command line names the real program in an argument: `python app.py`,
# `node server.js`, `java -jar x.jar`. Grouping by command looks past them.
_INTERPRETERS = frozenset(
    {
        "python",
        "python3",
        "pypy",
        "pypy3",
        "node",
        "nodejs",
        "ruby",
        "perl",
        "php",
        "java",
        "bash",
        "sh",
        "dash",
        "zsh",
    }
)

T = TypeVar("T")


def check_group_by(by: str) -> str:
    """`by` itself, or ValueError naming the choices."""
    if by not in GROUP_BY:
        raise ValueError(f"cannot group by {by!r}: choose one of {', '.join(GROUP_BY)}")
    return by


def _clip(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def _interpreter(program: str) -> bool:
    base = program.rstrip("0123456789.")  # python3.11 → python
    return program in _INTERPRETERS or base in _INTERPRETERS


def command_label(cmdline: str, name: str) -> str:
    """The program a command line runs: its first word's base name, and for an
    interpreter the script or module it runs (`python -m celery`, `node server.js`).
    Arguments after that are left out, so 64 workers with different `--id`s group."""
    words = cmdline.split()
    if not words:
        return _clip(name or "?")
    program = os.path.basename(words[0]) or words[0]
    if not _interpreter(program):
        return _clip(program)
    rest = iter(words[1:])
    for word in rest:
        if word in ("-m", "-jar"):
            module = next(rest, "")
            return _clip(f"{program} {word} {module}".rstrip())
        if word.startswith("-"):
            continue
        return _clip(f"{program} {os.path.basename(word) or word}")
    return _clip(program)


def parent_label(ppid: int | None, parent_name: str | None) -> str:
    """The children of one process: "children of gunicorn [812]"."""
    if ppid is None:
        return "no parent"
    who = f"{parent_name} [{ppid}]" if parent_name else f"[{ppid}]"
    return _clip(f"children of {who}")


def group_label(
    by: str,
    name: str,
    cmdline: str = "",
    ppid: int | None = None,
    parent_name: str | None = None,
) -> str:
    """The label of the group a process belongs to under `by` (one of GROUP_BY)."""
    if by == "name":
        return _clip(name or "?")
    if by == "command":
        return command_label(cmdline, name)
    if by == "parent":
        return parent_label(ppid, parent_name)
    raise ValueError(check_group_by(by))


def groups_of(items: Iterable[T], label: Callable[[T], str]) -> dict[str, list[T]]:
    """Items by their group's label, groups in the order their first member came, members
    in their own order."""
    out: dict[str, list[T]] = {}
    for item in items:
        out.setdefault(label(item), []).append(item)
    return out


def top_and_others(
    values: Mapping[str, float | None], n: int = DEFAULT_TOP
) -> tuple[list[str], list[str]]:
    """The `n` keys with the largest values (largest first; ties by key, so the choice is
    stable from one tick to the next) and the rest. A missing value ranks last."""
    ranked = sorted(values, key=lambda k: (values[k] is None, -(values[k] or 0.0), k))
    n = max(0, n)
    return ranked[:n], ranked[n:]


PSS = "pss"
RSS = "rss"
MIXED = "pss+rss"


@dataclass(frozen=True, slots=True)
class GroupSum:
    """A group's memory at one moment: `total` adds each member's PSS (its RSS where the
    PSS is unknown: `measure` says which it is), `rss` the plain RSS sum beside it (what
    counts shared pages once per process), `uss` the memory only the members hold (None
    unless every member's USS is known)."""

    count: int
    total: int
    measure: str
    rss: int
    uss: int | None

    @property
    def mean(self) -> float:
        """The total per member."""
        return self.total / self.count if self.count else 0.0

    @property
    def overcount(self) -> float | None:
        """How many times the RSS sum counts the memory (1.0 when nothing is shared)."""
        return self.rss / self.total if self.total else None


def honest_sum(members: Sequence[tuple[int, int | None, int | None]]) -> GroupSum:
    """The sum of members given as (rss, pss, uss): PSS where known, RSS elsewhere."""
    total = rss = uss = 0
    with_pss = 0
    uss_known = True
    for m_rss, m_pss, m_uss in members:
        rss += m_rss
        if m_pss is not None:
            total += m_pss
            with_pss += 1
        else:
            total += m_rss
        if m_uss is None:
            uss_known = False
        else:
            uss += m_uss
    if with_pss == len(members):
        measure = PSS
    elif with_pss == 0:
        measure = RSS
    else:
        measure = MIXED
    return GroupSum(len(members), total, measure, rss, uss if uss_known and members else None)


MEASURE_TEXT = {
    PSS: "PSS: shared pages counted once, divided among the processes sharing them",
    RSS: "RSS: the PSS was unreadable, so shared pages count once per process",
    MIXED: "PSS, with RSS for the members whose PSS was unreadable",
}


def group_leak_text(label: str, count: int, of: int, rate_each: float | None) -> str:
    """The one banner for a group's leak: "64 of 64 processes of gunicorn leak, about
    3.1 MB/min each"."""
    noun = "process" if of == 1 else "processes"
    if count <= 0:  # a report's group without a leak: a plain statement, not "0 of 4 leak"
        return f"no leak among the {of} {noun} of {label}" if of != 1 else f"no leak in {label}"
    verb = "leaks" if count == 1 else "leak"
    text = f"{count} of {of} {noun} of {label} {verb}"
    if rate_each is not None and rate_each > 0:
        each = "" if count == 1 else " each"
        text += f", about {human_bytes(rate_each * 60)}/min{each}"
    return text
