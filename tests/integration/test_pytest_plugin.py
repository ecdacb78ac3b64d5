"""The pytest plugin, run as users run it: real test files that allocate, collected and
run by pytest (in-process through pytester), with the plugin loaded by its entry point."""

from __future__ import annotations

import json
import re
import tracemalloc
from importlib.metadata import entry_points

import pytest

from memlens.api._pytest_memory import fewest_rounds, judge_growth

pytest_plugins = ["pytester"]

KB = 1024
MB = 1024 * 1024

LIMITS = """
import pytest

@pytest.mark.limit_memory("24 MB")
def test_big():
    data = bytearray(40 * 1024 * 1024)
    assert len(data) > 0

@pytest.mark.limit_memory("24 MB")
def test_small():
    data = bytearray(10 * 1024 * 1024)
    assert len(data) > 0
"""

LEAKS = """
import functools
import pytest

KEPT = []

@pytest.mark.no_leak(rounds=8)
def test_grows():
    KEPT.append(bytearray(200 * 1024))

@pytest.mark.no_leak
def test_frees():
    chunks = [bytearray(10 * 1024) for _ in range(100)]
    del chunks

@functools.lru_cache(maxsize=None)
def rendered(n):
    return bytearray(10 * 1024)

@pytest.mark.no_leak(max_growth="100 KB")
def test_cache_fills_once():
    for n in range(200):
        rendered(n)
"""


def line_of(source: str, text: str) -> int:
    """The 1-based line of `text` in `source`, as the file pytester writes it."""
    lines = source.strip("\n").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_plugin_is_registered_by_its_entry_point() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("memlens") == "memlens.api.pytest_plugin"


def test_limit_memory_fails_over_the_limit_naming_the_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_limits=LIMITS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert re.search(r"test_big allocated 40\.\d MB at its peak, over the 24\.0 MB limit", out)
    site = f"test_limits.py:{line_of(LIMITS, 'bytearray(40')}  40.0 MB"
    assert site in out
    assert "test_small allocated" not in out


def test_no_leak_tells_steady_growth_from_freeing_and_a_cache(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaks=LEAKS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    found = re.search(
        r"test_grows grew (\d+\.\d) MB over 7 rounds after 1 warm-up round "
        r"\(\+(\d+\.\d) KB per round, Mann–Kendall p=[\d.e-]+ under alpha 0\.01\), more "
        r"than the 1\.0 MB allowed; judged with the default settings \(no config file\)",
        out,
    )
    assert found, out
    assert 1.3 <= float(found.group(1)) <= 1.5
    assert 199.0 <= float(found.group(2)) <= 205.0
    assert f"test_leaks.py:{line_of(LEAKS, 'KEPT.append')}  +1.4 MB" in out
    assert "FAILED test_leaks.py::test_grows" in out


def test_no_leak_sets_fixtures_up_once_and_runs_the_body_each_round(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_rounds="""
        import pytest

        SETUPS = []
        CALLS = []

        @pytest.fixture
        def counted():
            SETUPS.append(1)
            return len(SETUPS)

        @pytest.mark.no_leak(rounds=7, warmup=2)
        def test_repeated(counted):
            CALLS.append(counted)

        def test_counts():
            assert (len(SETUPS), CALLS) == (1, [1] * 7)
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_report_lists_every_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_limits=LIMITS, test_leaks=LEAKS)
    pytester.makepyfile(
        test_other="""
        import pytest

        def test_unmarked():
            data = [0] * 500_000
            assert data

        @pytest.mark.skip(reason="not today")
        def test_skipped():
            pass
        """
    )
    result = pytester.runpytest("--memlens-report", "out.json")
    result.assert_outcomes(passed=4, failed=2, skipped=1)
    assert "memlens: memory report written to" in result.stdout.str()
    doc = json.loads((pytester.path / "out.json").read_text())
    assert doc["format"] == "memlens-pytest"
    tests = {t["test"].split("::")[1]: t for t in doc["tests"]}
    assert set(tests) == {
        "test_big",
        "test_small",
        "test_grows",
        "test_frees",
        "test_cache_fills_once",
        "test_unmarked",
        "test_skipped",
    }
    big = tests["test_big"]
    assert (big["outcome"], big["verdict"], big["limit"]) == ("failed", "over-limit", 24 * MB)
    assert big["peak"] >= 40 * MB
    assert big["peak_sites"][0]["site"] == f"test_limits.py:{line_of(LIMITS, 'bytearray(40')}"
    assert tests["test_small"]["verdict"] == "pass"
    grows = tests["test_grows"]
    assert (grows["verdict"], grows["rounds"], grows["warmup"]) == ("leak", 8, 1)
    assert 7 * 200 * KB <= grows["growth"] <= 7 * 205 * KB
    assert grows["growth_sites"][0]["site"] == f"test_leaks.py:{line_of(LEAKS, 'KEPT.append')}"
    assert tests["test_cache_fills_once"]["verdict"] == "pass"
    assert tests["test_cache_fills_once"]["growth"] < 100 * KB
    unmarked = tests["test_unmarked"]
    assert (unmarked["verdict"], unmarked["limit"]) == ("unchecked", None)
    assert unmarked["peak"] >= 500_000 * 8  # a list of 500,000 pointers
    assert tests["test_skipped"]["outcome"] == "skipped"
    assert tests["test_skipped"].get("peak") is None


def test_report_in_markdown_by_extension(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_limits=LIMITS)
    pytester.runpytest("--memlens-report", "memory.md").assert_outcomes(passed=1, failed=1)
    text = (pytester.path / "memory.md").read_text()
    assert "| `test_limits.py::test_big` | failed | 40.0 MB | 24.0 MB |" in text
    assert f"`test_limits.py:{line_of(LIMITS, 'bytearray(40')}` 40.0 MB" in text


def test_a_test_that_fails_keeps_its_own_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_raises="""
        import pytest

        KEPT = []

        @pytest.mark.limit_memory("1 MB")
        @pytest.mark.no_leak(rounds=6)
        def test_breaks():
            KEPT.append(bytearray(4 * 1024 * 1024))
            raise RuntimeError("broken by itself")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "RuntimeError: broken by itself" in out
    assert "allocated" not in out
    assert "grew" not in out


def test_bad_marker_arguments_are_explained(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.limit_memory("lots")
        def test_size():
            pass

        @pytest.mark.no_leak(rounds=3)
        def test_rounds():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "memlens: test_size: 'lots' is not a size" in out
    assert (
        "memlens: test_rounds: no_leak needs at least 5 rounds after the warm-up to tell "
        "growth from noise at alpha 0.01 ([leaks] alpha of the default settings (no config "
        "file); rounds=3, warmup=1)"
    ) in out


def test_no_leak_judges_with_the_configuration_file(pytester: pytest.Pytester) -> None:
    """[leaks] alpha = 0.05 of memlens.toml: 3 measured rounds are enough, the default
    is 5 rounds, and the failure names the file that judged it."""
    pytester.makefile(".toml", memlens="[leaks]\nalpha = 0.05\n")
    pytester.makepyfile(
        test_configured="""
        import pytest

        KEPT = []

        @pytest.mark.no_leak(rounds=4)
        def test_grows():
            KEPT.append(bytearray(600 * 1024))

        @pytest.mark.no_leak
        def test_default_rounds():
            KEPT.append(None)

        def test_counted():
            assert len([k for k in KEPT if k is None]) == 5
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "test_grows grew" in out
    assert "under alpha 0.05)" in out
    assert f"judged with the settings of {pytester.path / 'memlens.toml'}" in out


def test_a_bad_configuration_file_fails_the_marked_test_saying_why(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".toml", memlens='[leaks]\nalpha = "often"\n')
    pytester.makepyfile(
        test_bad_config="""
        import pytest

        @pytest.mark.no_leak
        def test_marked():
            pass

        def test_unmarked():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    assert "memlens: test_marked: " in result.stdout.str()
    assert "alpha" in result.stdout.str()


TRACING = """
import tracemalloc
import pytest

def test_unmarked_is_not_traced():
    assert not tracemalloc.is_tracing()

@pytest.mark.limit_memory("24 MB")
def test_marked_is_traced():
    assert tracemalloc.is_tracing()
"""


def skip_if_traced() -> None:
    """The tests that follow turn tracing on and off themselves, so they cannot run in a
    test call that is already traced (this suite run with --memlens-report)."""
    if tracemalloc.is_tracing():
        pytest.skip("tracemalloc is already on around this test")


def test_tracing_is_left_off_when_it_was_off(pytester: pytest.Pytester) -> None:
    skip_if_traced()
    pytester.makepyfile(test_tracing=TRACING)
    pytester.runpytest().assert_outcomes(passed=2)
    assert not tracemalloc.is_tracing()
    pytester.makepyfile(test_limits=LIMITS)
    result = pytester.runpytest("test_limits.py", "--memlens-report", "out.json")
    result.assert_outcomes(passed=1, failed=1)
    assert not tracemalloc.is_tracing()


def test_tracing_that_was_on_stays_on_and_is_not_counted(pytester: pytest.Pytester) -> None:
    skip_if_traced()
    pytester.makepyfile(test_limits=LIMITS)
    tracemalloc.start()
    try:
        before = bytearray(30 * MB)  # traced before the test: not the test's allocation
        result = pytester.runpytest()
        assert tracemalloc.is_tracing()
        assert len(before) == 30 * MB
    finally:
        tracemalloc.stop()
    result.assert_outcomes(passed=1, failed=1)
    assert f"test_limits.py:{line_of(LIMITS, 'bytearray(40')}  40.0 MB" in result.stdout.str()


def test_the_leak_rule() -> None:
    """Steady and large: growth must be both to count as a leak; steady at the
    configuration's alpha."""
    steady = judge_growth([i * 300 * KB for i in range(5)], max_growth=MB, alpha=0.05)
    assert steady.leak
    assert not judge_growth([i * 300 * KB for i in range(5)], max_growth=MB).leak  # 0.01
    assert judge_growth([i * 300 * KB for i in range(6)], max_growth=MB).leak
    assert (fewest_rounds(0.05), fewest_rounds(0.01)) == (3, 5)
    assert steady.per_round == 300 * KB
    assert steady.total == 1200 * KB
    one_step = judge_growth([0, 0, 3 * MB, 3 * MB, 3 * MB], max_growth=MB, alpha=0.05)
    assert not one_step.leak
    small = judge_growth([i * 100 for i in range(5)], max_growth=MB, alpha=0.05)
    assert small.p < 0.05
    assert not small.leak
    noisy = judge_growth([0, 40 * KB, 10 * KB, 30 * KB, 20 * KB], max_growth=0, alpha=0.05)
    assert not noisy.leak
