from __future__ import annotations

import re
import sys
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.agent import _redact
from memlens.outside.redact import redact_args, redact_cmdline


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["app", "--password=hunter2"], ["app", "--password=***"]),
        (
            ["app", "--api-key", "abc123", "--port", "80"],
            ["app", "--api-key", "***", "--port", "80"],
        ),
        (["env", "DB_PASSWORD=s3cret"], ["env", "DB_PASSWORD=***"]),
        (["psql", "postgres://bob:pa55@db/x"], ["psql", "postgres://bob:***@db/x"]),
        (
            ["curl", "-H", "Authorization: Bearer abc.def"],
            ["curl", "-H", "Authorization: Bearer ***"],
        ),
        (["python3", "app.py", "--workers", "4"], ["python3", "app.py", "--workers", "4"]),
    ],
)
def test_secrets_are_masked_and_the_rest_is_kept(args: list[str], expected: list[str]) -> None:
    assert redact_args(args) == expected


def test_cmdline_is_one_string_with_quoted_spaces() -> None:
    assert redact_cmdline(["sh", "-c", "sleep 1", "--token=x"]) == 'sh -c "sleep 1" --token=***'


# The agent masks command lines with its own copy of the rules (it may not load `re`):
# both must give the same output, over one corpus and over generated command lines.

CORPUS = [
    ["app", "--password=hunter2"],
    ["app", "--api-key", "abc123", "--port", "80"],
    ["env", "DB_PASSWORD=s3cret"],
    ["psql", "postgres://bob:pa55@db/x"],
    ["curl", "-H", "Authorization: Bearer abc.def"],
    ["python3", "app.py", "--workers", "4"],
    ["aws", "--aws-access-key-id", "AKIAIOSFODNN7EXAMPLE", "s3", "ls"],
    ["app", "--access_key=AKIAIOSFODNN7EXAMPLE", "--accessKey=x", "ACCESS-KEY=y"],
    ["curl", "-H", "Authorization: Bearer eyJhbGciOi.payload.sig", "https://api"],
    ["tool", "Bearer sk-live-0123456789", "bearer\tx y", "xBearer z", "Bearer", "Bearer  "],
    ["a", "Bearer one Bearer two", "BEARER\nthree", "(Bearer four)", "_Bearer five"],
    ["app.py", "--token", "abc", "--api-key=xyz", "postgres://u:pw@db/x", "x" * 500],
    ["--PassWord=a\n", "--password=\n", "--auth\n", "x", "-Private_Key", "k"],
    ["--TOKEN=a=b", "-x.secret-y=1", "--api key=1", "---apikey=v", "token=", "pwd=ok\nno"],
    ["a://u:p@b://v:q@", "http://u:p:q@h", "1http://u:p@h", "x_http://u:p@h", "x-http://u:p@h"],
    ["s3+ftp.x://user:pa ss@h", "http://:p@h", "http://u:@h", "HTTP://U:P@H", "ſ://u:p@"],
    ["--pa\u017fs=1", "--tok\u212aen=1", "--\u0130auth", "v", "--\u0131auth", "v"],
    ["--crédential=x", "--credentials", "v", "--tokén=1", "é://u:p@h", "x😀://u:p@h"],
    ["--acce\u017f\u017f-key", "v", "BEAR\u0130R x", "B\u0131earer y", "https://u:p@h Bearer t"],
]
SECRETS = ("AKIAIOSFODNN7EXAMPLE", "abc.def", "eyJhbGciOi", "sk-live-0123456789", "hunter2")


@pytest.mark.parametrize("argv", CORPUS)
def test_the_agent_masks_what_memlens_masks(argv: list[str]) -> None:
    assert _redact.redact_args(argv) == redact_args(argv)
    # What the registry and the hello carry: the same, long arguments cut short.
    assert _redact.redact_argv(argv) == [
        a if len(a) <= 200 else a[:200] + "…" for a in redact_args(argv)
    ]
    assert not any(secret in arg for arg in redact_args(argv) for secret in SECRETS)


_PIECES = [*"aAsStTkKpPiIoOnNeEbBrR_-.:/@= \t\n+0", "İ", "ı", "ſ", "K", "é", "://", "u:p@"]
_PIECES += ["pass", "TOKEN", "auth", "api-key", "Private_", "key", "credential", "access"]
_PIECES += ["Bearer ", "bearer", "Authorization: ", "--aws-", "-id", "--", "_key="]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=10).map("".join), max_size=5))
def test_the_agent_masks_what_memlens_masks_in_generated_command_lines(argv: list[str]) -> None:
    assert _redact.redact_args(argv) == redact_args(argv)


_FLAGS = ["--password", "--aws-access-key-id", "--api-key", "--token", "-auth", "--secret"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet="abcxyz019 -./", max_size=8), max_size=4),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=12, max_size=24),
    st.sampled_from(["flag", "assign", "url", "header", "bearer"]),
    st.sampled_from(_FLAGS),
    st.integers(min_value=0, max_value=4),
)
def test_a_secret_embedded_anywhere_is_masked_by_both(
    around: list[str], secret: str, how: str, flag: str, where: int
) -> None:
    placed = {
        "flag": [flag, secret],
        "assign": [f"{flag}={secret}"],
        "url": [f"postgres://user:{secret}@db:5432/app"],
        "header": ["-H", f"Authorization: Bearer {secret}"],
        "bearer": [f"Bearer {secret}"],
    }[how]
    argv = [*around[:where], *placed, *around[where:]]
    for out in (redact_args(argv), _redact.redact_args(argv), _redact.redact_argv(argv)):
        assert not any(secret in arg for arg in out), out
    assert _redact.redact_args(argv) == redact_args(argv)


def test_the_agent_judges_every_character_as_the_patterns_do() -> None:
    """The string scans take for a word character, a scheme character, a space or a
    letter of a secret word exactly what the patterns' classes and case folding take."""
    every = "".join(map(chr, range(sys.maxunicode + 1)))

    def matched(pattern: str) -> set[str]:
        return set(re.findall(pattern, every, re.IGNORECASE))

    def kept(test: Callable[[str], bool]) -> set[str]:
        return {ch for ch in every if test(ch)}

    assert kept(lambda ch: ch.isalnum() or ch in "_.-") == matched(r"[\w.-]")
    assert kept(lambda ch: ch.isalnum() or ch == "_") == matched(r"\w")
    assert kept(str.isspace) == matched(r"\s")
    assert kept(lambda ch: ch in _redact._SCHEME_CHARS) == matched(r"[a-z0-9+.-]")
    assert kept(lambda ch: ch in _redact._SCHEME_LETTERS) == matched(r"[a-z]")
    assert kept(lambda ch: ch in "/:@" or ch.isspace()) == matched(r"[/\s:@]")
    letters = set("".join(_redact.WORDS) + _redact._BEARER) - set("-_")
    folds_to: dict[str, set[str]] = {letter: set() for letter in letters}
    for ch in every:
        folded = ch.translate(_redact._FOLD).lower()
        if folded in folds_to:
            folds_to[folded].add(ch)
    for letter, chars in folds_to.items():
        assert chars == matched(letter), letter
