"""The name of what was tracked, as written at the call: `track(my_list)` is "my_list".

Python passes values, not names, so the name is read back from the caller's source. The
caller's frame says which instruction is running (`f_lasti`); from Python 3.11 on, the
code object maps that instruction to the exact span of the call expression
(`co_positions()`), so the call is found in the parsed source by its position, even with
several calls on one line, across lines, or inside a comprehension (whose code object
points into the same file). The argument's expression is accepted when it names a place:
a plain name (`my_list`), an attribute chain (`self.cache`), a subscript with a simple
index (`rows[0]`, `self.by_key["a"]`), or the target of an assignment expression
(`track(rows := load())` is "rows"). The text is `ast.unparse`'s, so spacing is
normalised. Nothing is ever evaluated.

Where that is not possible the name is a placeholder, `<expression at FILE:LINE>`, and
the reason is kept for `Tracker.events()`:

- no source (code from `exec` of a string, `python -c`, the plain interactive prompt);
- an argument that is not a place (a call's result, a literal, an operation);
- a call that did not come straight from the source (`map(track, xs)`,
  `functools.partial`, a wrapper function): the running call is not a call to track;
- on Python 3.10, which has no positions, a line holding more than one call to track.

A call site always gives the same answer, so the answer is cached by (code object,
instruction): only the first call from each site reads and parses source. A site whose
source file changes while the program runs keeps its first answer.
"""

from __future__ import annotations

import ast
import linecache
import os
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import CodeType, FrameType

_CACHE_LIMIT = 4096  # call sites; beyond it the cache starts again (a generated-code flood)
_FILE_LIMIT = 64  # parsed source files kept


@dataclass(frozen=True, slots=True)
class CallSite:
    """Where a track call is and what its argument is called there."""

    name: str  # the argument's expression, or a `<expression at FILE:LINE>` placeholder
    captured: bool  # False when `name` is a placeholder
    reason: str | None  # why it is a placeholder
    file: str
    line: int
    function: str
    location: str  # FILE:LINE, made once here rather than at every call


_sites: dict[tuple[CodeType, int], CallSite] = {}
_files: dict[str, tuple[str, dict[int, list[ast.Call]]]] = {}
_lock = threading.Lock()


def call_site(
    frame: FrameType,
    callee_names: Collection[str] = ("track",),
    callee_objects: Callable[[object], bool] | None = None,
) -> CallSite:
    """The call site running in `frame`, which is the caller of a track function.

    A call counts as a call to track when its callee's last name is one of
    `callee_names` (`track(x)`, `tracker.track(x)`, `memlens.track(x)`), or when it is a
    plain name that `callee_objects` accepts once looked up in the frame (an alias:
    `from memlens import track as t`).
    """
    key = (frame.f_code, frame.f_lasti)
    site = _sites.get(key)
    if site is None:
        site = _resolve(frame, callee_names, callee_objects)
        with _lock:
            if len(_sites) >= _CACHE_LIMIT:
                _sites.clear()
            _sites[key] = site
    return site


def placeholder(file: str, line: int) -> str:
    return f"<expression at {os.path.basename(file) or file}:{line}>"


def _resolve(
    frame: FrameType,
    callee_names: Collection[str],
    callee_objects: Callable[[object], bool] | None,
) -> CallSite:
    code = frame.f_code
    file = code.co_filename
    span = _span(code, frame.f_lasti)
    line = span[0] if span is not None else (frame.f_lineno or code.co_firstlineno)

    def unnamed(reason: str) -> CallSite:
        return CallSite(
            placeholder(file, line), False, reason, file, line, code.co_name, f"{file}:{line}"
        )

    calls = _calls_by_line(file, frame.f_globals)
    if calls is None:
        return unnamed(f"no source: {file} cannot be read")
    if span is not None:
        found = [
            c
            for c in calls.get(span[0], ())
            if (c.lineno, c.end_lineno, c.col_offset, c.end_col_offset) == span
        ]
        call = found[0] if found else None
    else:  # Python 3.10: the line only
        found = [c for c in calls.get(line, ()) if _is_track(c, frame, callee_names, None)]
        if len(found) > 1:
            return unnamed("more than one call to track on this line (Python 3.10)")
        call = found[0] if found else None
    if call is None:
        return unnamed("the call is not in the source as loaded (it changed since)")
    if not _is_track(call, frame, callee_names, callee_objects):
        return unnamed(
            "track was not called directly here (through map, functools.partial or a "
            "wrapper function)"
        )
    arg = _argument(call)
    if arg is None:
        return unnamed("the call passes no single argument to track (*args or **kwargs)")
    if isinstance(arg, ast.NamedExpr):  # track(rows := load()) is "rows"
        arg = arg.target
    if not _is_place(arg):
        return unnamed(f"the argument is {_describe(arg)}, not a name, attribute or subscript")
    return CallSite(ast.unparse(arg), True, None, file, line, code.co_name, f"{file}:{line}")


def _span(code: CodeType, lasti: int) -> tuple[int, int, int, int] | None:
    positions = getattr(code, "co_positions", None)  # Python 3.11 and later
    if positions is None or lasti < 0:
        return None
    for i, position in enumerate(positions()):
        if i == lasti // 2:
            lineno, end_lineno, col, end_col = position
            if lineno is None or end_lineno is None or col is None or end_col is None:
                return None
            return lineno, end_lineno, col, end_col
    return None


def _calls_by_line(
    file: str, module_globals: dict[str, object]
) -> dict[int, list[ast.Call]] | None:
    """Every call in the file's source, by the line it starts on; None without source."""
    lines = linecache.getlines(file, module_globals)
    if not lines:
        return None
    text = "".join(lines)
    with _lock:
        cached = _files.get(file)
    if cached is not None and cached[0] == text:
        return cached[1]
    try:
        tree = ast.parse(text, file)
    except (SyntaxError, ValueError):
        return None
    index: dict[int, list[ast.Call]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            index.setdefault(node.lineno, []).append(node)
    with _lock:
        if len(_files) >= _FILE_LIMIT:
            _files.clear()
        _files[file] = (text, index)
    return index


def _is_track(
    call: ast.Call,
    frame: FrameType,
    callee_names: Collection[str],
    callee_objects: Callable[[object], bool] | None,
) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr in callee_names
    if isinstance(func, ast.Name):
        if func.id in callee_names:
            return True
        if callee_objects is None:
            return False
        # A look-up in the frame's namespaces, never an evaluation: an alias of track.
        for namespace in (frame.f_locals, frame.f_globals, frame.f_builtins):
            if func.id in namespace:
                return callee_objects(namespace[func.id])
    return False


def _argument(call: ast.Call) -> ast.expr | None:
    if call.args:
        first = call.args[0]
        return None if isinstance(first, ast.Starred) else first
    for keyword in call.keywords:
        if keyword.arg == "obj":
            return keyword.value
    return None


def _is_place(node: ast.expr) -> bool:
    """A name, an attribute of a place, or a place indexed by something simple."""
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Attribute):
        return _is_place(node.value)
    if isinstance(node, ast.Subscript):
        return _is_place(node.value) and _is_simple_index(node.slice)
    return False


def _is_simple_index(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.Tuple):
        return all(_is_simple_index(e) for e in node.elts)
    return _is_place(node)


_KINDS: dict[type[ast.AST], str] = {
    ast.Call: "a call's result",
    ast.Constant: "a literal",
    ast.List: "a list display",
    ast.Tuple: "a tuple display",
    ast.Dict: "a dict display",
    ast.Set: "a set display",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Lambda: "a lambda",
    ast.BinOp: "an operation",
    ast.BoolOp: "an operation",
    ast.UnaryOp: "an operation",
    ast.Compare: "a comparison",
    ast.IfExp: "a conditional expression",
    ast.JoinedStr: "an f-string",
    ast.Await: "an await",
    ast.Subscript: "a subscript with a computed index",
    ast.Attribute: "an attribute of a computed value",
}


def _describe(node: ast.expr) -> str:
    return _KINDS.get(type(node), f"an expression ({type(node).__name__})")
