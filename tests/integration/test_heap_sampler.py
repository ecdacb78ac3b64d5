"""The sampling heap profiler in real child processes with known allocations.

Statistical tests with fixed seeds: a site of B bytes made of blocks of s bytes, sampled
at mean interval R, has an estimate with standard deviation sqrt(B * s * (1 - p) / p),
p = 1 - exp(-s/R) (each block is sampled or not; a sample stands for s/p bytes). The
assertions allow five of those, plus the few bytes per block the Python objects add.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).resolve().parents[1] / "heapchild.py"
KIB = 1024
MIB = 1024 * 1024


try:
    from memlens.agent import _heapsampler as _built  # noqa: F401
except ImportError:
    pytestmark = pytest.mark.skip(reason="the C extension is not built (no compiler)")


def run_child(scenario: str, **args: object) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("MEMLENS_HEAP_FALLBACK", None)
    done = subprocess.run(
        [sys.executable, str(CHILD), scenario, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def sigma(total: float, size: int, interval: int) -> float:
    p = -math.expm1(-size / interval)
    return math.sqrt(total * size * (1 - p) / p)


def assert_close(estimate: float, total: int, size: int, interval: int) -> None:
    # bytearray(size): a buffer of size + 1 and a 56-byte object; the list keeping it, 8.
    truth = total // size * (size + 1 + 56 + 8)
    allowed = 5 * sigma(truth, size, interval) + 0.02 * truth
    assert abs(estimate - truth) <= allowed, (estimate, truth, allowed)


PLAN = [
    ["site_a", 24 * MIB, 1000],
    ["site_b", 12 * MIB, 10_000],
    ["site_c", 8 * MIB, 200],
    ["site_d", 6 * MIB, 100_000],
    ["site_e", 4 * MIB, 4000],
    ["site_f", 16 * MIB, 700_000],
]


@pytest.mark.parametrize("interval", [64 * KIB, 512 * KIB])
def test_estimates_of_six_sites_follow_their_true_bytes(interval: int) -> None:
    out = run_child("sites", interval=interval, seed=7, plan=PLAN)
    assert out["start"]["sampler"] == "sampling"
    for name, total, size in PLAN:
        assert_close(out["inuse"][name], int(total), int(size), interval)
        assert_close(out["alloc"][name], int(total), int(size), interval)


def test_blocks_freed_before_the_profile_are_not_in_use_but_were_allocated() -> None:
    plan = [["site_a", 8 * MIB, 1000], ["churn", 64 * MIB, 5000, False]]
    out = run_child("sites", interval=64 * KIB, seed=3, plan=plan)
    assert out["inuse"].get("churn", 0.0) == 0.0
    assert_close(out["alloc"]["churn"], 64 * MIB, 5000, 64 * KIB)
    assert_close(out["inuse"]["site_a"], 8 * MIB, 1000, 64 * KIB)


def test_threads_each_get_their_own_sites() -> None:
    plan = [["site_a", 8 * MIB, 1000], ["site_b", 16 * MIB, 3000], ["site_c", 4 * MIB, 500]]
    out = run_child("threads", interval=64 * KIB, seed=11, plan=plan)
    for name, total, size in plan:
        assert_close(out["inuse"][name], int(total), int(size), 64 * KIB)


def test_a_forked_child_starts_clean_and_the_parent_keeps_its_samples() -> None:
    out = run_child(
        "fork",
        interval=64 * KIB,
        seed=5,
        parent=[["site_a", 16 * MIB, 1000]],
        child=[["site_b", 8 * MIB, 1000]],
    )
    assert out["child"]["before"] == {}
    assert out["child"]["after"].get("site_a", 0.0) == 0.0
    assert_close(out["child"]["after"]["site_b"], 8 * MIB, 1000, 64 * KIB)
    assert_close(out["parent"]["site_a"], 16 * MIB, 1000, 64 * KIB)
    assert out["parent"].get("site_b", 0.0) == 0.0


def test_growth_since_a_mark_names_what_grew_after_it() -> None:
    out = run_child(
        "growth",
        interval=64 * KIB,
        seed=9,
        before=[["site_a", 16 * MIB, 1000]],
        after=[["site_b", 8 * MIB, 1000], ["churn", 32 * MIB, 2000, False]],
    )
    assert_close(out["growth"]["site_b"], 8 * MIB, 1000, 64 * KIB)
    assert abs(out["growth"].get("site_a", 0.0)) < 1 * MIB  # there before the mark
    assert out["alloc_since"].get("site_a", 0.0) == 0.0
    assert_close(out["alloc_since"]["churn"], 32 * MIB, 2000, 64 * KIB)


def test_stop_and_start_twenty_times_brings_rss_back() -> None:
    out = run_child("cycles", interval=16 * KIB, cycles=20, plan=[["site_a", 16 * MIB, 1000]])
    first, last = out["rss"][1], out["rss"][-1]
    assert last - first < 4 * MIB, out["rss"]


def test_sampling_inside_the_interpreters_machinery_is_safe() -> None:
    # One sample per KiB: exceptions, generators, collections, 300-deep recursion,
    # threads; the frames the capture creates are not themselves sampled.
    out = run_child("stress", interval=1024, seed=1)
    assert out["errors"] == 3000
    assert out["samples"] > 10
    assert out["truncated_stacks"] >= 1  # 300 frames: cut to 128, marked
    assert out["max_depth"] == 129


def test_stopping_is_refused_while_tracemalloc_hooks_above_it() -> None:
    code = """
import tracemalloc
from memlens.agent import _heapsampler as s
s.start(interval=65536)
tracemalloc.start()
try:
    s.stop()
except RuntimeError as e:
    print("refused:", e)
tracemalloc.stop()
s.stop()
print("stopped", s.is_running())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refused: another allocator hook (such as tracemalloc's)" in done.stdout
    assert "stopped False" in done.stdout
