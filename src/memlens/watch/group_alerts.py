"""One leak alert for a group whose members leak together.

`watch --name gunicorn` over 64 workers that all leak would raise 64 leak alerts: 64
banners and 64 lines on a terminal for one fault. The alert engine keeps raising them
(each member's leak column, recording and metrics use its own), and this adds one
`group_leak` alert per group: raised when 2 or more members of a group of 2 or more
have a standing leak alert, re-sent when the count of leaking members (or of members)
changes, cleared when fewer than 2 still leak. Its text is groups.group_leak_text:
"64 of 64 processes of gunicorn leak, about 3.0 MB/min each".

Members are the live process targets with the same `group` label (Target.group, made by
the sampler under --group-by); a sum series is no member of any group.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from memlens.analysis.groups import group_leak_text
from memlens.analysis.leakmodel import Severity
from memlens.model import Alert, Target

GROUP_LEAK = "group_leak"
RAISED, CLEARED = "raised", "cleared"
MIN_LEAKING = 2  # members with a standing leak alert that make a group's alert
MAX_MEMBERS = 100  # keys listed in an alert: a face needs examples, not 10,000 keys
_SEVERITIES = frozenset(s.value for s in Severity)


@dataclass(slots=True)
class _Leak:
    rate: float | None  # bytes per second
    severity: str


class GroupLeaks:
    """The group leak alerts of one engine; fed on the engine's thread only."""

    def __init__(self) -> None:
        self._group_of: dict[str, str] = {}  # member key → its group's label
        self._members: dict[str, dict[str, None]] = {}  # label → member keys, in order
        self._leaking: dict[str, _Leak] = {}  # key → its standing leak alert
        self._sent: dict[str, tuple[int, int]] = {}  # label → (count, of) last raised

    def group_of(self, key: str | None) -> str | None:
        return None if key is None else self._group_of.get(key)

    def update(
        self, t: float, new: Iterable[Target], alerts: Sequence[Alert], exits: Iterable[Target]
    ) -> list[Alert]:
        """The group alerts this round's new targets, member alerts and exits make."""
        touched: set[str] = set()
        for target in new:
            if target.kind == "process" and target.group and target.key not in self._group_of:
                self._group_of[target.key] = target.group
                self._members.setdefault(target.group, {})[target.key] = None
                touched.add(target.group)
        for alert in alerts:
            label = self.group_of(alert.key)
            if alert.kind != "leak" or label is None or alert.key is None:
                continue
            if alert.data.get("state") == RAISED:
                finding = alert.data.get("finding") or {}
                rate = finding.get("rate") if isinstance(finding, dict) else None
                severity = str(alert.data.get("severity", ""))
                if severity not in _SEVERITIES:
                    severity = Severity.MEDIUM.value
                self._leaking[alert.key] = _Leak(rate, severity)
            else:
                self._leaking.pop(alert.key, None)
            touched.add(label)
        for target in exits:
            label = self._group_of.pop(target.key, None)
            if label is not None:
                self._members.get(label, {}).pop(target.key, None)
                self._leaking.pop(target.key, None)
                touched.add(label)
        return [alert for label in touched for alert in self._judge(label, t)]

    def _judge(self, label: str, t: float) -> list[Alert]:
        members = self._members.get(label, {})
        leaking = [key for key in members if key in self._leaking]
        count, of = len(leaking), len(members)
        if not members:
            self._members.pop(label, None)
        if count >= MIN_LEAKING and of >= 2:
            if self._sent.get(label) == (count, of):
                return []
            self._sent[label] = (count, of)
            return [self._alert(label, t, RAISED, leaking, of)]
        if label in self._sent:
            del self._sent[label]
            return [self._alert(label, t, CLEARED, leaking, of)]
        return []

    def _alert(self, label: str, t: float, state: str, leaking: list[str], of: int) -> Alert:
        rates = [r for r in (self._leaking[k].rate for k in leaking) if r is not None]
        rate_each = sum(rates) / len(rates) if rates else None
        severities = [Severity(self._leaking[k].severity) for k in leaking]
        worst = max(severities, key=lambda s: s.rank).value if severities else "none"
        text = group_leak_text(label, len(leaking), of, rate_each)
        if state == CLEARED:
            text = f"{label}: group leak alert withdrawn ({text})"
        data: dict[str, Any] = {
            "state": state,
            "group": label,
            "count": len(leaking),
            "of": of,
            "rate_each": rate_each,
            "members": leaking[:MAX_MEMBERS],
            "severity": worst,
            "text": text,
        }
        return Alert(GROUP_LEAK, t, None, data)
