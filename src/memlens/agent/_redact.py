"""Secrets passed on a command line must not land in the registry that viewers read.

Deliberately small: the agent loads into any process and imports nothing outside itself.
"""

from __future__ import annotations

import re

MASK = "***"
_WORD = (
    r"(?:pass(?:word|wd)?|pwd|secret|token|api[-_]?key|apikey|auth|credentials?|private[-_]?key)"
)
_ASSIGN = re.compile(rf"^(-{{0,2}}[\w.-]*{_WORD}[\w.-]*=).+$", re.IGNORECASE)
_FLAG = re.compile(rf"^-{{1,2}}[\w.-]*{_WORD}[\w.-]*$", re.IGNORECASE)
_URL = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(@)", re.IGNORECASE)
_MAX_ARG = 200


def redact_argv(argv: list[str]) -> list[str]:
    """The arguments with secret-looking values masked and very long ones cut short."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        m = _ASSIGN.match(arg)
        if m:
            out.append(m.group(1) + MASK)
            continue
        hide_next = bool(_FLAG.match(arg))
        cleaned = _URL.sub(rf"\g<1>{MASK}\g<2>", arg)
        out.append(cleaned if len(cleaned) <= _MAX_ARG else cleaned[:_MAX_ARG] + "…")
    return out
