"""The front end's files: the dashboard's modules all load from main.js and name nothing
outside the server, the package ships every one of them, and the self-contained pages
inline the dashboard's own format.js."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from memlens.formats import page

SRC = Path(__file__).resolve().parents[2] / "src" / "memlens"
STATIC = SRC / "web" / "static"
JS = STATIC / "js"
ASSETS = SRC / "formats" / "assets"
URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
IMPORT = re.compile(r'^import (?:\{[^}]*\} from )?"([^"]+)";', re.MULTILINE)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def own_files() -> list[Path]:
    """The dashboard's files and the pages' assets; the vendored uPlot has its own check."""
    files = [p for p in STATIC.rglob("*") if p.is_file() and "vendor" not in p.parts]
    return files + [p for p in ASSETS.rglob("*") if p.is_file()]


def test_no_file_of_the_front_end_names_an_outside_url() -> None:
    files = own_files()
    assert len(files) > 30
    for path in files:
        assert not URL.search(path.read_text(encoding="utf-8")), path


def test_every_module_is_loaded_from_main_and_only_from_the_server() -> None:
    index = (STATIC / "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script\b([^>]*)>", index)
    assert all('src="static/' in attrs for attrs in scripts)  # no inline script: CSP 'self'
    assert '<script type="module" src="static/js/main.js"></script>' in index
    reached: set[Path] = set()
    todo = [JS / "main.js"]
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        for spec in IMPORT.findall(module.read_text(encoding="utf-8")):
            assert spec.startswith(("./", "../")), (module, spec)
            assert spec.endswith(".js"), (module, spec)
            target = (module.parent / spec).resolve()
            assert target.is_file(), (module, spec)
            assert JS in target.parents, (module, spec)
            todo.append(target)
    # loadcheck.js is a classic script of its own: it reports a module graph that failed
    assert set(JS.rglob("*.js")) - reached == {JS / "loadcheck.js"}
    assert '<script src="static/js/loadcheck.js" defer></script>' in index


def test_modules_stay_small() -> None:
    for path in JS.rglob("*.js"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path


def test_the_package_ships_every_file_of_the_front_end() -> None:
    config = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["memlens"]
    shipped = {p for pattern in patterns for p in SRC.glob(pattern) if p.is_file()}
    for path in own_files():
        assert path in shipped, path


def test_the_pages_inline_the_dashboards_format_module() -> None:
    source = (JS / "format.js").read_text(encoding="utf-8")
    assert page.format_source() == source
    classic = page.format_script()
    assert classic == source.replace("\nexport function ", "\nfunction ").replace(
        "\nexport var ", "\nvar "
    )
    assert "export " not in re.sub(r"//[^\n]*", "", classic)
    # one byte formatter in the whole front end
    copies = [p for p in own_files() if "function fmtBytes" in p.read_text(encoding="utf-8")]
    assert copies == [JS / "format.js"]


@pytest.mark.parametrize(
    "source",
    [
        'import { DASH } from "./constants.js";\nexport function f() {}\n',
        "export default function f() {}\n",
        "var a = 1;\nexport { a };\n",
        "export const f = () => 1;\nfetch('https://example.org/x');\n",
    ],
)
def test_a_format_module_a_classic_script_cannot_carry_is_refused(source: str) -> None:
    with pytest.raises(RuntimeError):
        page.classic_script(source, "format.js")
