"""The pytest plugin: memory limits and leak checks on tests, and a session report.

Loaded through the `pytest11` entry point whenever memlens is installed, so it must cost
nothing where it is not asked for: an unmarked test without `--memlens-report` gets a
marker lookup and no tracing. docs/library.md says what the markers mean and how a
leak is told from a warm-up.
"""

from __future__ import annotations

import inspect
import json
import platform
from collections.abc import Generator
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING

import pytest

from memlens._version import __version__
from memlens.errors import MemlensError
from memlens.units import human_bytes

if TYPE_CHECKING:
    from memlens.api._pytest_memory import CallMemory

MARKERS = (
    "limit_memory(size): fail when the test's peak Python allocation is over size "
    "('24 MB', 1024-based)",
    "no_leak(max_growth='1 MB', rounds=6, warmup=1): run the test body `rounds` times "
    "and fail when memory grows steadily by more than max_growth after the warm-up, "
    "steadily at the [leaks] alpha of memlens's configuration file",
)
REPORT_FORMAT = "memlens-pytest"
REPORT_VERSION = 1

_MEASURED: pytest.StashKey[CallMemory] = pytest.StashKey()
# Carried on the test report, not kept in the plugin, so that pytest-xdist brings it from
# the workers to the controller that writes the session report.
_REPORT_ATTR = "memlens"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memlens", "memory checks (memlens)")
    group.addoption(
        "--memlens-report",
        metavar="PATH",
        default=None,
        help="trace every test and write each one's peak Python allocation and memory "
        "verdicts to PATH: JSON, or Markdown when PATH ends in .md",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    path = config.getoption("memlens_report")
    config.pluginmanager.register(MemoryChecks(config, trace_all=path is not None))
    if path is not None:
        target = config.invocation_params.dir / Path(path).expanduser()
        config.pluginmanager.register(SessionReport(target))


class MemoryChecks:
    """Measures marked tests (every test with a report) and fails those over a limit."""

    def __init__(self, config: pytest.Config, *, trace_all: bool) -> None:
        self.root = config.rootpath
        self.trace_all = trace_all
        self._judging: tuple[float, str] | None = None

    def judging(self) -> tuple[float, str]:
        """The alpha `no_leak` judges at and whose settings it is: the configuration
        file found from the rootdir (memlens.toml or [tool.memlens]), as `analyze` and
        `check` find it; read at the first marked test, not at every pytest start."""
        if self._judging is None:
            from memlens.config import load_settings, origin_of

            try:
                settings = load_settings(start=self.root)
            except MemlensError as e:
                raise ValueError(str(e)) from None
            self._judging = (settings.detector.alpha, origin_of(settings))
        return self._judging

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        limit_mark = item.get_closest_marker("limit_memory")
        leak_mark = item.get_closest_marker("no_leak")
        if limit_mark is None and leak_mark is None and not self.trace_all:
            return (yield)
        # Imported here: every pytest run in an environment with memlens loads this
        # module, and most never mark a test.
        from memlens.api._pytest_memory import CallWatch, LeakCheck, on_return

        function = item if isinstance(item, pytest.Function) else None
        original = None if function is None else function.obj
        try:
            limit = _limit(limit_mark)
            check = None
            if leak_mark is not None:
                alpha, origin = self.judging()
                check = LeakCheck.from_args(
                    leak_mark.args, leak_mark.kwargs, alpha=alpha, settings=origin
                )
                if function is None:
                    raise ValueError("no_leak repeats test functions only")
                if inspect.iscoroutinefunction(original):
                    raise ValueError("no_leak cannot repeat an async test function")
        except ValueError as e:
            pytest.fail(f"memlens: {item.name}: {e}", pytrace=False)
        watch = CallWatch(limit, check, self.root)
        if function is not None and check is not None:
            function.obj = watch.repeated(function.obj)
        completed = False
        watch.start()
        try:
            with on_return(_code(original) if limit is not None else None, watch.at_return):
                result = yield
            completed = True
        finally:
            if function is not None:
                function.obj = original
            measured = watch.finish(completed)
            item.stash[_MEASURED] = measured
        problems = measured.problems(item.name)
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)
        return result


def _limit(mark: pytest.Mark | None) -> int | None:
    from memlens.api._pytest_memory import size_arg

    if mark is None:
        return None
    if len(mark.args) + len(mark.kwargs) != 1 or set(mark.kwargs) - {"size"}:
        raise ValueError("limit_memory takes one size, e.g. limit_memory('24 MB')")
    return size_arg(mark.args[0] if mark.args else mark.kwargs["size"], "limit_memory")


def _code(function: object) -> CodeType | None:
    """The code whose return ends the test body, under any functools.wraps decorators."""
    if function is None or not callable(function):
        return None
    code = getattr(inspect.unwrap(function), "__code__", None)
    return code if isinstance(code, CodeType) else None


class SessionReport:
    """Gathers every test's measurement from the test reports and writes one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, dict[str, object]] = {}
        self.error: str | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        measured = item.stash.get(_MEASURED, None)
        if call.when == "call" and measured is not None:
            vars(report)[_REPORT_ATTR] = measured.to_json()
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = "error" if report.when == "setup" and report.failed else report.outcome
            measured = getattr(report, _REPORT_ATTR, None) or {}
            self.rows[report.nodeid] = {"test": report.nodeid, "outcome": outcome, **measured}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput"):  # an xdist worker: the controller writes
            return
        tests = list(self.rows.values())
        if self.path.suffix.lower() in (".md", ".markdown"):
            data = markdown(tests).encode()
        else:
            doc = {
                "format": REPORT_FORMAT,
                "version": REPORT_VERSION,
                "memlens_version": __version__,
                "python": platform.python_version(),
                "tests": tests,
            }
            data = (json.dumps(doc, indent=2) + "\n").encode()
        from memlens.formats.output import write_atomic

        try:
            write_atomic(self.path, data, what="memory report")
        except MemlensError as e:
            self.error = str(e)
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if hasattr(terminalreporter.config, "workerinput"):
            return
        if self.error is not None:
            terminalreporter.write_line(f"memlens: {self.error}", red=True)
        else:
            terminalreporter.write_line(f"memlens: memory report written to {self.path}")


def markdown(tests: list[dict[str, object]]) -> str:
    """One table row per test, then the sites of every test that failed a check."""

    def size(value: object) -> str:
        return human_bytes(value) if isinstance(value, (int, float)) else "–"

    lines = [
        "# Memory per test",
        "",
        "| test | outcome | peak | limit | growth | max growth | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in tests:
        cells = [f"`{t['test']}`", str(t["outcome"])]
        cells += [size(t.get(key)) for key in ("peak", "limit", "growth", "max_growth")]
        cells.append(str(t.get("verdict", "unchecked")))
        lines.append("| " + " | ".join(cells) + " |")
    for t in tests:
        for key, title in (("peak_sites", "top allocation sites"), ("growth_sites", "growing")):
            sites = t.get(key)
            if isinstance(sites, list) and sites:
                lines += ["", f"## `{t['test']}`: {title}", ""]
                lines += [
                    f"- `{s['site']}` {size(s['size'])}, blocks: {s['blocks']}" for s in sites
                ]
    return "\n".join(lines) + "\n"
