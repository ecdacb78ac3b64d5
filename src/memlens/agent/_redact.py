"""Secrets passed on a command line must not land in the registry that viewers read.

Deliberately small: the agent loads into any process and imports nothing outside itself,
not even `re` (with `enum` and the regex compiler, thousands of objects that the host's
garbage collector would walk for ever). So this is the rule set of `memlens.outside.redact`, which
memlens applies to what it shows and stores, written as plain string scans; the tests run
both over one corpus and over generated command lines and demand the same output. A rule
changed there is changed here. They mask what these case-insensitive patterns match:

- `NAME=VALUE`, `-NAME=VALUE`, `--NAME=VALUE`: the value, where NAME is made of word
  characters, dots and dashes and holds one of WORDS;
- `-NAME` or `--NAME` of that kind: the argument after it;
- `scheme://user:PASSWORD@` anywhere in an argument: the password;
- `Bearer TOKEN` anywhere in an argument (`Authorization: Bearer ...`): the token.
"""

from __future__ import annotations

MASK = "***"
# What memlens.outside.redact's `pass(word|wd)?|pwd|secret|token|api[-_]?key|apikey|auth|
# credentials?|private[-_]?key|access[-_]?key` finds inside a name.
WORDS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api-key",
    "api_key",
    "auth",
    "credential",
    "privatekey",
    "private-key",
    "private_key",
    "accesskey",
    "access-key",
    "access_key",
)
_BEARER = "bearer"
# Letters that a case-insensitive regular expression also takes for ASCII ones: the
# dotted and dotless i, the long s and the Kelvin sign.
_FOLD = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}
_ASCII_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SCHEME_LETTERS = _ASCII_LETTERS + "\u0130\u0131\u017f\u212a"
_SCHEME_CHARS = _SCHEME_LETTERS + "0123456789+.-"
_MAX_ARG = 200


def redact_argv(argv: list[str]) -> list[str]:
    """The arguments with secret-looking values masked and very long ones cut short."""
    return [a if len(a) <= _MAX_ARG else a[:_MAX_ARG] + "…" for a in redact_args(argv)]


def redact_args(argv: list[str]) -> list[str]:
    """The arguments with secret-looking values replaced by ***, as memlens.outside.redact's
    `redact_args` replaces them."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        name, eq, value = arg.partition("=")
        if eq and _secret_name(name) and _one_line(value):
            out.append(name + eq + MASK)
            continue
        flag = arg[:-1] if arg.endswith("\n") else arg
        hide_next = flag.startswith("-") and _secret_name(flag)
        out.append(_mask_bearer(_mask_url_passwords(arg)))
    return out


def _secret_name(name: str) -> bool:
    """Whether `name` is made of word characters, dots and dashes, and holds one of WORDS."""
    if not name or not all(ch.isalnum() or ch in "_.-" for ch in name):
        return False
    folded = name.translate(_FOLD).lower()
    return any(word in folded for word in WORDS)


def _one_line(value: str) -> bool:
    """Not empty and without a line break, but for one at the very end (what `.+$` takes)."""
    if value.endswith("\n"):
        value = value[:-1]
    return bool(value) and "\n" not in value


def _mask_bearer(text: str) -> str:
    """`text` with the token after every `Bearer` and whitespace masked: `Bearer` begins a
    word, and the token is the run of characters up to the next space."""
    parts: list[str] = []
    done = 0  # text[:done] is in parts
    start = 0
    end = len(text)
    while start <= end - len(_BEARER) - 2:
        if not _bearer_at(text, start):
            start += 1
            continue
        space_end = start + len(_BEARER)
        while space_end < end and text[space_end].isspace():
            space_end += 1
        token_end = space_end
        while token_end < end and not text[token_end].isspace():
            token_end += 1
        if space_end == start + len(_BEARER) or token_end == space_end:
            start += 1
            continue
        parts += (text[done:space_end], MASK)
        done = start = token_end
    parts.append(text[done:])
    return "".join(parts)


def _bearer_at(text: str, i: int) -> bool:
    """`Bearer`, in any case, begins a word at `i`."""
    if i and (text[i - 1].isalnum() or text[i - 1] == "_"):
        return False
    return all(text[i + n].translate(_FOLD).lower() == ch for n, ch in enumerate(_BEARER))


def _mask_url_passwords(text: str) -> str:
    """`text` with the password of every `scheme://user:password@` masked."""
    parts: list[str] = []
    done = 0  # text[:done] is in parts
    floor = 0  # where the next scheme may begin: after the previous match
    sep = text.find("://")
    while sep != -1:
        span = _password_span(text, floor, sep)
        if span is None:
            sep = text.find("://", sep + 1)
            continue
        begin, end = span
        parts += (text[done:begin], MASK)
        done, floor = end, end + 1
        sep = text.find("://", floor)
    parts.append(text[done:])
    return "".join(parts)


def _password_span(text: str, floor: int, sep: int) -> tuple[int, int] | None:
    """Where the password is when the `://` at `sep` ends a scheme that begins a word at
    or after `floor` and is followed by `user:password@`; else None."""
    start = sep
    while start > floor and text[start - 1] in _SCHEME_CHARS:
        start -= 1
    # \b then a letter: the character before the scheme is not a word character.
    if not any(
        text[i] in _SCHEME_LETTERS and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))
        for i in range(start, sep)
    ):
        return None
    user_end = _run_end(text, sep + 3, "/:@")
    if user_end == sep + 3 or text[user_end : user_end + 1] != ":":
        return None
    password_end = _run_end(text, user_end + 1, "/@")
    if password_end == user_end + 1 or text[password_end : password_end + 1] != "@":
        return None
    return user_end + 1, password_end


def _run_end(text: str, start: int, stops: str) -> int:
    """The end of the run from `start` of characters that are neither space nor in `stops`."""
    end = start
    while end < len(text) and not (text[end] in stops or text[end].isspace()):
        end += 1
    return end
