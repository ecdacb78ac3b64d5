"""Command lines are shown and stored; secrets passed on them must not be.

The one rule set: the agent applies the same rules without `re` (memlens.agent._redact,
which may not load it), and the tests demand that both give the same output."""

from __future__ import annotations

import re

MASK = "***"

_SECRET_WORD = (
    r"(?:pass(?:word|wd)?|pwd|secret|token|api[-_]?key|apikey|auth|credentials?"
    r"|private[-_]?key|access[-_]?key)"
)
# --password=xyz, --api-key=xyz, token=xyz, DB_PASSWORD=xyz
_ASSIGN = re.compile(rf"^(-{{0,2}}[\w.-]*{_SECRET_WORD}[\w.-]*=)(.+)$", re.IGNORECASE)
# --password xyz (the value is the next argument)
_FLAG = re.compile(rf"^-{{1,2}}[\w.-]*{_SECRET_WORD}[\w.-]*$", re.IGNORECASE)
# scheme://user:password@host
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)", re.IGNORECASE)
# Authorization headers passed as arguments: "Bearer abc..."
_BEARER = re.compile(r"(\bBearer\s+)\S+", re.IGNORECASE)


def redact_args(args: list[str]) -> list[str]:
    """The arguments with secret-looking values replaced by ***."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        m = _ASSIGN.match(arg)
        if m:
            out.append(m.group(1) + MASK)
            continue
        if _FLAG.match(arg):
            out.append(arg)
            hide_next = True
            continue
        cleaned = _URL_CREDENTIALS.sub(rf"\g<1>{MASK}\g<3>", arg)
        out.append(_BEARER.sub(rf"\g<1>{MASK}", cleaned))
    return out


def redact_cmdline(args: list[str]) -> str:
    """One display string for a command line, redacted."""
    return " ".join(_quote(a) for a in redact_args(args))


def _quote(arg: str) -> str:
    return f'"{arg}"' if (" " in arg or not arg) else arg
