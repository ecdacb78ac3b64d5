"""The self-contained pages' shell: one page that opens offline, years from now.

The shell, the style and the scripts are files in `assets/`, read here and inlined, with
uPlot's script and style from the copy the dashboard serves (its licence kept in a
comment) and the byte formatting from the dashboard's own `format.js`: one file, so the
pages and the dashboard cannot drift apart. The dashboard loads it as an ES module; a page
gets it as a classic script, its `export` keywords taken out, ahead of the page's own
script in the same element. Nothing inlined may refer to a URL, and a
Content-Security-Policy allows only the page's scripts (by hash) and no network at all, so
markup smuggled into a name stays text: it is escaped where it is shown, `<` is escaped
inside the JSON block, and an injected script would not be allowed to run anyway.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from html import escape
from importlib import resources
from string import Template

from memlens._version import __version__

_BANNER = re.compile(r"^/\*!.*?\*/\s*", re.DOTALL)
_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_EXPORT = re.compile(r"^export (?=(?:function|var|const|let) )", re.MULTILINE)
_MODULE_SYNTAX = re.compile(r"^\s*(?:import|export)\b", re.MULTILINE)
_SIBLING_IMPORT = re.compile(r'^import \{[^}]*\} from "\./([a-z]+\.js)";\n', re.MULTILINE)
_TOP_NAME = re.compile(r"^(?:export )?(?:function|var|const|let) ([A-Za-z_$][\w$]*)", re.MULTILINE)


def render_page(*, title: str, body: str, data: object, style: str, script: str) -> str:
    """The page: `body` is its markup (escaped by the caller), `data` goes to the JSON
    block, `style` and `script` are the page's own, after the shared ones."""
    uplot_js, uplot_css = uplot_assets()
    page_script = inline(format_script() + script, "script")
    return Template(asset("page.html")).substitute(
        csp=escape(page_csp((uplot_js, page_script))),
        version=escape(__version__),
        title=escape(title),
        uplot_css=uplot_css,
        style=inline(asset("page.css") + style, "style"),
        body=body,
        data=script_json(data),
        uplot_js=uplot_js,
        script=page_script,
    )


@cache
def asset(name: str) -> str:
    """A file of `assets/`, checked to hold no URL."""
    text = (resources.files("memlens.formats") / "assets" / name).read_text(encoding="utf-8")
    return _no_url(text, name)


@cache
def format_script() -> str:
    """The dashboard's format.js as a classic script: the same file, `export` taken out."""
    return classic_script(format_source(), "format.js")


def classic_script(source: str, name: str) -> str:
    """An ES module that imports nothing, as a classic script: its `export function` and
    `export var` become plain declarations. Anything else of a module is refused, so a
    change to the file cannot slip a page a script that does not parse."""
    text = _EXPORT.sub("", source)
    if _MODULE_SYNTAX.search(text):
        raise RuntimeError(f"{name} must not import, nor export but by `export function|var`")
    return _no_url(text, name)


def format_source() -> str:
    """format.js as the dashboard serves it."""
    return dashboard_source("format.js")


def module_scripts(*names: str) -> str:
    """Dashboard modules of `static/js/` as one classic script, to follow format.js in a
    page's script element: each may import only from format.js and the modules named
    before it, and those imports are taken out (the names are in the same scope). Two
    files declaring the same top-level name would silently overwrite each other in one
    scope, so that is refused."""
    have = {"format.js"}
    declared = set(_TOP_NAME.findall(format_source()))
    parts = []
    for name in names:

        def sibling(match: re.Match[str], name: str = name) -> str:
            if match.group(1) not in have:
                raise RuntimeError(f"{name} imports {match.group(1)}, which a page lacks")
            return ""

        text = classic_script(_SIBLING_IMPORT.sub(sibling, dashboard_source(name)), name)
        for top in _TOP_NAME.findall(text):
            if top in declared:
                raise RuntimeError(f"{name} declares {top}, as another inlined script does")
            declared.add(top)
        parts.append(text)
        have.add(name)
    return "".join(parts)


def dashboard_source(name: str) -> str:
    """A file of the dashboard's `static/` (a module under `js/`, or a style sheet)."""
    folder = resources.files("memlens.web") / "static"
    path = folder / "js" / name if name.endswith(".js") else folder / name
    return path.read_text(encoding="utf-8")


def dashboard_style(name: str) -> str:
    """A style sheet of the dashboard, checked to hold no URL."""
    return _no_url(dashboard_source(name), name)


def inline(text: str, element: str) -> str:
    """Text that cannot end its <script> or <style> element early."""
    return re.sub(rf"</({element})", r"<\\/\1", text, flags=re.IGNORECASE)


def _no_url(text: str, name: str) -> str:
    if _URL.search(text):
        raise RuntimeError(f"{name} refers to a URL; a self-contained page must not")
    return text


def script_json(value: object) -> str:
    """JSON that cannot end its <script> block or open a comment in it."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_csp(scripts: tuple[str, ...]) -> str:
    """A policy that runs only these scripts (by hash) and fetches nothing at all: the
    page's own data is in a JSON block, its style inline."""
    return (
        "default-src 'none'; "
        f"script-src {' '.join(script_hash(s) for s in scripts)}; "
        "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    )


def script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


@cache
def uplot_assets() -> tuple[str, str]:
    """uPlot's script (its URL banner replaced by the licence text) and style."""
    folder = resources.files("memlens") / "web" / "static" / "vendor" / "uplot"
    js = folder.joinpath("uPlot.iife.min.js").read_text(encoding="utf-8")
    css = folder.joinpath("uPlot.min.css").read_text(encoding="utf-8")
    licence = folder.joinpath("LICENSE").read_text(encoding="utf-8")
    version = re.search(r"\(v(\d[\w.-]*)\)", js[:200])
    banner = f"uPlot {version.group(1) if version else ''}".strip()
    licence = licence.replace("*/", "* /").strip()
    js = f"/*! {banner}, by Leon Sorokin.\n\n{licence}\n*/\n{_BANNER.sub('', js, count=1)}"
    # The vendored copy holds neither, but a future one must not end the script element
    # early nor bring a URL into a page that promises none.
    return _no_url(inline(js, "script"), "uPlot"), _no_url(inline(css, "style"), "uPlot")
