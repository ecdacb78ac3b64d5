"""Text from outside (a process's name and command line, a recording's name, a path, a
file's contents) shown to a person: one rule for what may reach a terminal or Markdown.

A process may name itself `\\x1b]0;PWN\\x07`: printed as it is, that retitles the
terminal, recolours the screen or, with a bidi override, makes a line read as something
else. So every character that does not stand for itself (C0 and C1 controls, DEL, line
and paragraph separators, Unicode format characters such as the bidi overrides and
isolates and the zero-width ones, lone surrogates from undecodable bytes) is shown as
the escape Python's repr would write: `\\n`, `\\t`, `\\r`, `\\x1b`, `\\u202e`. A
backslash stays as it is, so a name is unchanged unless it holds such a character.

Only the edges (what is printed, a Markdown report) apply this; the store and the JSON
outputs keep the true text, which JSON's own escaping already makes safe.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text  # imported where printed: see cli/_summary.py

# The categories that do not stand for themselves on a screen: controls, format
# characters (bidi, zero-width, soft hyphen), surrogates, line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
# Markdown's and HTML's metacharacters, backslash-escaped (CommonMark escapes any ASCII
# punctuation that way), and HTML's own as entities (which every Markdown reads, not
# only CommonMark): a name cannot end a table cell, open a link, emphasis, a code span
# or a tag, or close a heading.
_MD_SPECIAL = re.compile(r"[\\`*_\[\]<>|#~&$]")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def hidden(ch: str) -> bool:
    """Whether `ch` is a character `visible` writes as an escape."""
    return unicodedata.category(ch) in _HIDDEN


def visible(text: str) -> str:
    """`text` with every character that does not stand for itself written as its
    escape. Called per row, so text that needs nothing (the usual case) costs one
    `isprintable` (which is False for every such character, and for spaces other than
    ' ', which are then kept)."""
    if text.isprintable():
        return text
    return "".join(_escape(ch) if hidden(ch) else ch for ch in text)


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible_md(text: str) -> str:
    """`visible(text)` for Markdown: also every Markdown metacharacter escaped with a
    backslash and `<`, `>` and `&` written as entities, so the text reads as itself in a
    rendered table, heading or list item. An underscore between two letters or digits
    is left alone: it cannot start or end emphasis there, and `shop_app.py` stays
    readable as plain text."""
    text = visible(text)
    if _MD_SPECIAL.search(text) is None:
        return text
    return _MD_SPECIAL.sub(lambda m: _md_escape(text, m.start()), text)


def _md_escape(text: str, i: int) -> str:
    ch = text[i]
    entity = _ENTITIES.get(ch)
    if entity is not None:
        return entity
    if ch == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum():
        return ch
    return "\\" + ch


def visible_lines(text: str) -> str:
    """`visible` for each line of a block memlens composed (the line breaks are its
    own; whatever else in it came from outside is shown escaped)."""
    if text.isprintable():
        return text
    return "\n".join(visible(line) for line in text.split("\n"))


def json_visible(document: str) -> str:
    """A JSON document written with `ensure_ascii=False`, with the characters JSON
    leaves raw but a terminal acts on (DEL, C1 controls, bidi and other format
    characters, separators) written as `\\uXXXX`: the same data, safe to print. They can
    only stand inside strings, where `\\uXXXX` means the character itself."""
    if document.isascii() and "\x7f" not in document:
        return document
    # Below 0x20 JSON escapes every one inside a string: what is left is its layout.
    return "".join(_json_escape(ch) if ch > "\x7e" and hidden(ch) else ch for ch in document)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def for_rich(text: str) -> Text:
    """`visible(text)` as a Rich Text, which Rich prints as it is: a string would be read
    as markup (`[bold red]` in a process's name obeyed, `\\[` unescaped) and `:smile:`
    turned into an emoji."""
    from rich.text import Text

    return Text(visible(text))
