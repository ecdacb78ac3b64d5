"""Intervals and durations a sampler, a clock and a buffer can hold: nan, inf and numbers
near the float maximum are refused where they are parsed, and by the sampler itself."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.cli._common import parse_duration, parse_interval
from memlens.config import load_settings
from memlens.errors import UsageError
from memlens.units import MAX_DURATION
from memlens.watch.sampler import MAX_INTERVAL, MIN_INTERVAL, Sampler, SamplerConfig


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 1e308, 1e9, MAX_INTERVAL * 2])
def test_the_sampler_refuses_an_interval_it_cannot_keep(value: float) -> None:
    with pytest.raises(ValueError, match="at most 3600 s"):
        Sampler(SamplerConfig(interval=value), on_tick=lambda tick: None)
    sampler = Sampler(SamplerConfig(interval=1.0, system=False), on_tick=lambda tick: None)
    with pytest.raises(ValueError, match="at most 3600 s"):
        sampler.set_interval(value)
    assert sampler.config.interval == 1.0


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
def test_an_interval_is_either_refused_or_one_a_sampler_keeps(value: float | str) -> None:
    try:
        parsed = parse_interval(str(value))
    except argparse.ArgumentTypeError as e:
        message = str(e)
        assert "not a number" in message or "at most 3600 s" in message
    else:
        assert MIN_INTERVAL <= parsed <= MAX_INTERVAL


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        lambda digits, unit: digits + unit,
        st.text("0123456789.", min_size=1, max_size=400),
        st.sampled_from(["", "s", "ms", "m", "h", "d"]),
    )
)
def test_a_duration_is_either_refused_or_finite_and_bounded(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except argparse.ArgumentTypeError as e:
        message = str(e)
        assert "not a duration" in message or "longer than 10 years" in message
    else:
        assert math.isfinite(seconds)
        assert 0 <= seconds <= MAX_DURATION


@pytest.mark.parametrize("value", ["inf", "nan", "1e400", '"' + "9" * 400 + 's"', "1e300"])
def test_a_config_file_duration_must_be_finite_and_bounded(value: str, tmp_path: Path) -> None:
    config = tmp_path / "memlens.toml"
    config.write_text(f"[leaks]\nevery = {value}\n")
    with pytest.raises(UsageError, match=r"leaks\.every"):
        load_settings(config)
