"""The one rule for outside text at a terminal or in Markdown (memlens.outside.visible): every
character that does not stand for itself shown as an escape, Markdown read back as the
same text, JSON kept exact."""

from __future__ import annotations

import io
import json
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from rich.console import Console
from rich.text import Text

from memlens.outside.visible import for_rich, json_visible, visible, visible_md

HIDDEN = ("Cc", "Cf", "Cs", "Zl", "Zp")
EVIL = "\x1b]0;PWN\x07\x1b[31mX"

# Text as processes name themselves: anything, weighted towards the characters that
# matter here (controls, bidi overrides, Markdown and markup metacharacters).
SPECIAL = st.sampled_from(
    list("\x00\x07\x08\t\n\r\x1b\x7f\x85\x9b\u200b\u200e\u2028\u202e\u2066\ufeff\udcff")
    + list("\\`*_[]<>|#~&$!()")
    + ["\U000e0041", "[bold red]", "&lt;", "a_b", " "]
)
OUTSIDE = st.lists(st.one_of(st.text(max_size=8), SPECIAL), max_size=12).map("".join)
SHOWN = st.text(
    st.characters(exclude_categories=HIDDEN),  # type: ignore[arg-type]
    max_size=40,
)


def hidden_in(text: str) -> list[str]:
    return [ch for ch in text if unicodedata.category(ch) in HIDDEN]


def test_the_escape_form() -> None:
    assert visible(EVIL) == "\\x1b]0;PWN\\x07\\x1b[31mX"
    assert visible("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    assert visible("\x85 \u202eevil\u2069 \udcff \U000e0041") == (
        "\\x85 \\u202eevil\\u2069 \\udcff \\U000e0041"
    )
    assert visible("café 日本 a\u00a0b \\x1b") == "café 日本 a\u00a0b \\x1b"


@settings(max_examples=300, deadline=None)
@given(OUTSIDE)
def test_visible_leaves_no_hidden_character(text: str) -> None:
    out = visible(text)
    assert hidden_in(out) == []
    out.encode("utf-8")  # a lone surrogate would not encode, nor print
    assert visible(out) == out


@settings(max_examples=300, deadline=None)
@given(SHOWN)
def test_text_that_shows_as_itself_is_unchanged(text: str) -> None:
    assert visible(text) == text


def _table_cell(markdown: str) -> list[tuple[str, str]]:
    """The inline tokens of the first body cell of a one-column table."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    body = [i for i, t in enumerate(tokens) if t.type == "tbody_open"]
    assert body, f"no table: {markdown!r}"
    inline = next(t for t in tokens[body[0] :] if t.type == "inline")
    return [(c.type, c.content) for c in inline.children or []]


@settings(max_examples=300, deadline=None)
@given(OUTSIDE)
def test_markdown_reads_back_as_the_visible_text(text: str) -> None:
    """In a table cell (the hardest place: `|` ends it), the text renders as plain
    text, and exactly the text `visible` shows: no link, emphasis, code, tag or entity."""
    cell = " ".join(visible_md(text).split())
    assert hidden_in(cell) == []
    children = _table_cell(f"| head |\n|---|\n| {cell} |\n")
    assert {kind for kind, _ in children} <= {"text", "text_special"}, children
    assert "".join(content for _, content in children) == " ".join(visible(text).split())


def test_markdown_keeps_plain_names_readable() -> None:
    assert visible_md("shop_app.py --port 8080") == "shop_app.py --port 8080"
    assert visible_md("[x](javascript:alert(1)) <b>") == "\\[x\\](javascript:alert(1)) &lt;b&gt;"
    assert visible_md("a|b") == "a\\|b"
    assert visible_md(EVIL) == "\\\\x1b\\]0;PWN\\\\x07\\\\x1b\\[31mX"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(OUTSIDE, st.lists(OUTSIDE, max_size=3), max_size=4))
def test_json_stays_exact_and_prints_nothing_hidden(data: dict[str, list[str]]) -> None:
    document = json_visible(json.dumps(data, indent=2, ensure_ascii=False))
    assert json.loads(document) == data
    assert [ch for ch in hidden_in(document) if ch != "\n"] == []


@settings(max_examples=200, deadline=None)
@given(OUTSIDE)
def test_rich_prints_a_name_as_it_is_shown(text: str) -> None:
    """Rich markup (`[bold red]`), its escapes (`\\[`) and emoji codes (`:smile:`) in a
    name reach the terminal as text."""
    out = io.StringIO()
    console = Console(file=out, width=10_000, color_system=None, force_terminal=False)
    console.print(Text("<") + for_rich(text + " :smile: [b]x[/b]") + Text(">"))
    assert out.getvalue() == f"<{visible(text)} :smile: [b]x[/b]>\n"
