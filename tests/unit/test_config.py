"""Settings files: where they are found, what they say, and one readable line when they
are wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from memlens.analysis.leakmodel import DetectorConfig, Severity
from memlens.api.profiler import Profiler
from memlens.config import Settings, find_config, load_settings, origin_of
from memlens.errors import UsageError
from memlens.units import parse_duration, parse_rate, parse_size

MB = 1024 * 1024


def test_units_parse_as_people_write_them() -> None:
    assert parse_size("500MB") == 500 * MB
    assert parse_size("1.5 GiB") == int(1.5 * 1024 * MB)
    assert parse_size("512k") == 512 * 1024
    assert parse_size("1048576") == MB
    assert parse_rate("10MB/h") == pytest.approx(10 * MB / 3600)
    assert parse_rate("1 MB/min") == pytest.approx(MB / 60)
    assert parse_rate("2MB/s") == 2 * MB
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1.5h") == 5400
    for bad, parse in [("5XB", parse_size), ("10MB", parse_rate), ("soon", parse_duration)]:
        with pytest.raises(ValueError, match="is not a"):
            parse(bad)  # type: ignore[operator]


def test_memlens_toml_with_every_table(tmp_path: Path) -> None:
    path = tmp_path / "memlens.toml"
    path.write_text(
        """
[thresholds]
max_rss = "500MB"
max_system_memory = 90
max_leak_rate = "10MB/h"
max_gc_growth = 600

[leaks]
every = "30s"
persistence = 5
min_duration = "10m"
window = "2h"
min_rate = "1MB/h"

[leaks.severity]
rate = { low = "1MB/min" }
time_to_limit = { critical = "2h" }
"""
    )
    settings = load_settings(path)
    assert settings.source == path
    t = settings.thresholds
    assert (t.max_rss, t.max_system_memory) == (500 * MB, 90.0)
    assert t.max_leak_rate == pytest.approx(10 * MB / 3600)
    assert t.max_gc_growth == pytest.approx(10.0)  # 600 a minute
    d = settings.detector
    assert (settings.every, d.persistence, d.min_duration, d.window) == (30.0, 5, 600.0, 7200.0)
    assert d.min_rate == pytest.approx(MB / 3600)
    # a band given replaces that band only; the others keep their defaults
    assert dict((s, v) for v, s in d.rate_bands)[Severity.LOW] == pytest.approx(MB / 60)
    assert dict((s, v) for v, s in d.rate_bands)[Severity.CRITICAL] == 10 * MB
    assert dict((s, v) for v, s in d.limit_bands)[Severity.CRITICAL] == 7200.0
    assert dict((s, v) for v, s in d.limit_bands)[Severity.HIGH] == 86400.0


def test_found_in_a_parent_and_in_pyproject(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert load_settings(start=deep).source is None  # nothing anywhere: the defaults
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(deep) is None  # a pyproject.toml without [tool.memlens] is not one
    (tmp_path / "a" / "pyproject.toml").write_text('[tool.memlens.thresholds]\nmax_rss = "1GB"\n')
    settings = load_settings(start=deep)
    assert settings.source == tmp_path / "a" / "pyproject.toml"
    assert settings.thresholds.max_rss == 1024 * MB
    assert settings.detector == DetectorConfig()
    (deep / "memlens.toml").write_text("[thresholds]\nmax_rss = 1024\n")
    assert load_settings(start=deep).thresholds.max_rss == 1024  # the nearest wins


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[thresholds]\nmax_rss = '5XB'\n", "thresholds.max_rss: '5XB' is not a size"),
        ("[thresholds]\nmax_system_memory = 150\n", "must be a percent"),
        ("[leaks]\nbogus = 1\n", "unknown setting 'leaks.bogus'"),
        ("[leaks]\npersistence = 0\n", "leaks.persistence: 0 is not a positive whole number"),
        ("[leaks]\nwindow = '1m'\n", "window must be longer than min_duration"),
        ("[leaks.severity]\nrate = { huge = '1MB/s' }\n", "unknown setting"),
        ("[other]\n", "unknown setting 'other'"),
        ("thresholds = 3\n", "thresholds must be a table"),
        ("[thresholds\n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_key(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "memlens.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=None) as caught:
        load_settings(path)
    message = str(caught.value)
    assert says in message
    assert "\n" not in message
    assert str(path) in message


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no config file"):
        load_settings(tmp_path / "nope.toml")


def test_the_live_levels_are_set_in_leaks(tmp_path: Path) -> None:
    path = tmp_path / "memlens.toml"
    path.write_text(
        '[leaks]\nyoung_age = "15m"\nyoung_wait = "12m"\nlive_keep = 0.6\n'
        'fast_rate = "20MB/min"\nyoung_fast_rate = "60MB/min"\ncost_horizon = "2h"\n'
    )
    detector = load_settings(path).detector
    assert detector.young_age == 900.0
    assert detector.young_wait == 720.0
    assert detector.live_keep == 0.6
    assert detector.fast_rate == parse_rate("20MB/min")
    assert detector.young_fast_rate == parse_rate("60MB/min")
    assert detector.cost_horizon == 7200.0


def test_a_verdict_names_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "memlens.toml"
    path.write_text("[leaks]\npersistence = 4\n")
    assert origin_of(load_settings(path)) == f"settings of {path}"
    assert origin_of(Settings()) == "default settings (no config file)"


def test_the_profiler_finds_the_config_as_the_commands_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "memlens.toml").write_text("[leaks]\npersistence = 7\n")
    monkeypatch.chdir(tmp_path)
    profiler = Profiler(tmp_path / "data")
    assert profiler.detector.persistence == 7
    assert load_settings().detector.persistence == 7  # what the commands read from here
