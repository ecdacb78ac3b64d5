"""Settings from a file: thresholds and the leak detector's tuning.

memlens reads `memlens.toml` (tables at the top level) or the `[tool.memlens]` table of
`pyproject.toml`, from `--config FILE` or else the first of those found in the current
directory and its parents, as ruff and pytest look for theirs. Options on the command
line win over the file. Sizes, rates and durations are written as people write them
("500MB", "10MB/h", "90s") or as plain numbers of bytes and seconds.

    [thresholds]
    max_rss = "500MB"            # any watched process above this
    max_system_memory = 90       # percent of the machine's memory in use
    max_leak_rate = "10MB/h"     # a leak growing faster than this
    max_gc_growth = 1000         # gc-tracked objects per minute (needs the agent)

    [leaks]
    every = "60s"                # live: seconds between evaluations of one target
    stacks_every = "30s"         # live: between two heap profiles kept for an alert
    persistence = 3              # LEAK evaluations in a row before an alert
    min_duration = "5m"
    window = "4h"

    [leaks.severity]
    rate = { low = "1MB/s", medium = "2MB/s", high = "5MB/s", critical = "10MB/s" }
    time_to_limit = { critical = "1h", high = "24h", medium = "7d" }

docs/cli.md ("Configuration") lists every key.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memlens.analysis.leakmodel import DetectorConfig, Severity
from memlens.errors import UsageError
from memlens.units import check_duration, parse_duration, parse_rate, parse_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

CONFIG_NAME = "memlens.toml"
DEFAULT_EVERY = 60.0  # s between live evaluations of one target (bench/bench_leaks.py uses it)
# s between two in-use heap profiles a live watch keeps of a process that runs the heap
# profiler, for the stacks a leak alert names (memlens.watch.heap_history)
DEFAULT_STACKS_EVERY = 30.0


@dataclass(frozen=True)
class Thresholds:
    """Limits whose crossings are events. None: not watched."""

    max_rss: int | None = None  # bytes, per watched process
    max_system_memory: float | None = None  # percent of physical memory in use
    max_leak_rate: float | None = None  # bytes/s of a detected leak
    max_gc_growth: float | None = None  # gc-tracked objects per second (agent)

    def merged(self, **overrides: float | None) -> Thresholds:
        """These thresholds with every override that is not None."""
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **given)

    def active(self) -> dict[str, float]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Settings:
    thresholds: Thresholds = field(default_factory=Thresholds)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    every: float = DEFAULT_EVERY
    source: Path | None = None
    stacks_every: float = DEFAULT_STACKS_EVERY


def find_config(start: Path) -> Path | None:
    """memlens.toml, or a pyproject.toml with a [tool.memlens] table, in `start` or the
    nearest parent that has one."""
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _tool_table(pyproject, _read(pyproject)) is not None:
            return pyproject
    return None


def load_settings(path: str | Path | None = None, *, start: Path | None = None) -> Settings:
    """Settings from `path`, or from the config file found from `start` (the current
    directory), or the defaults when there is none. A bad file is a UsageError naming it
    and the key."""
    if path is not None:
        chosen: Path | None = Path(path)
        assert chosen is not None
        if not chosen.is_file():
            raise UsageError(f"no config file {chosen}")
    else:
        chosen = find_config((start or Path.cwd()).resolve())
    if chosen is None:
        return Settings()
    data: Mapping[str, Any] = _read(chosen)
    if chosen.name == "pyproject.toml":
        data = _tool_table(chosen, data) or {}
    return parse_settings(data, source=chosen)


def parse_settings(data: Mapping[str, Any], *, source: Path | None = None) -> Settings:
    where = str(source) if source is not None else "config"
    _only(data, {"thresholds", "leaks"}, where, "")
    thresholds = _thresholds(data.get("thresholds", {}), where)
    leaks = _table(data.get("leaks", {}), where, "leaks")
    every, detector = _detector(leaks, where)
    stacks_every = _Getter(leaks, where, "leaks")("stacks_every", _duration)
    if stacks_every is not None and stacks_every < 1.0:
        raise UsageError(f"{where}: leaks.stacks_every must be at least 1s")
    return Settings(
        thresholds=thresholds,
        detector=detector,
        every=every,
        source=source,
        stacks_every=DEFAULT_STACKS_EVERY if stacks_every is None else stacks_every,
    )


# -- the tables ---------------------------------------------------------------------


def _thresholds(raw: object, where: str) -> Thresholds:
    table = _table(raw, where, "thresholds")
    _only(
        table,
        {"max_rss", "max_system_memory", "max_leak_rate", "max_gc_growth"},
        where,
        "thresholds",
    )
    get = _Getter(table, where, "thresholds")
    percent = get("max_system_memory", _number)
    if percent is not None and not 0 < percent <= 100:
        raise UsageError(f"{where}: thresholds.max_system_memory must be a percent (0-100]")
    per_minute = get("max_gc_growth", _number)
    return Thresholds(
        max_rss=get("max_rss", _size),
        max_system_memory=percent,
        max_leak_rate=get("max_leak_rate", _rate),
        max_gc_growth=None if per_minute is None else per_minute / 60.0,
    )


_WHOLE_NUMBERS = {"persistence", "min_points", "min_envelope_points"}
_SEVERITY_NAMES = {s.value: s for s in Severity if s is not Severity.NONE}


def _detector(leaks: Mapping[str, Any], where: str) -> tuple[float, DetectorConfig]:
    _only(leaks, {"every", "stacks_every", "severity", *_DETECTOR_KEYS}, where, "leaks")
    get = _Getter(leaks, where, "leaks")
    every = get("every", _duration)
    if every is not None and every <= 0:
        raise UsageError(f"{where}: leaks.every must be positive")
    changes: dict[str, Any] = {}
    for key, parse in _DETECTOR_KEYS.items():
        value = get(key, parse)
        if value is not None:
            changes[key] = int(value) if key in _WHOLE_NUMBERS else value
    severity = _table(leaks.get("severity", {}), where, "leaks.severity")
    _only(severity, {"rate", "time_to_limit"}, where, "leaks.severity")
    defaults = DetectorConfig()
    if "rate" in severity:
        bands = dict((s, v) for v, s in defaults.rate_bands)
        bands.update(_bands(severity["rate"], where, "leaks.severity.rate", _rate))
        changes["rate_bands"] = tuple(sorted((v, s) for s, v in bands.items()))
    if "time_to_limit" in severity:
        bands = dict((s, v) for v, s in defaults.limit_bands)
        bands.update(
            _bands(severity["time_to_limit"], where, "leaks.severity.time_to_limit", _duration)
        )
        changes["limit_bands"] = tuple(sorted((v, s) for s, v in bands.items()))
    try:
        config = dataclasses.replace(DetectorConfig(), **changes)
    except ValueError as e:
        raise UsageError(f"{where}: [leaks]: {e}") from None
    return (DEFAULT_EVERY if every is None else every), config


def _bands(
    raw: object, where: str, name: str, parse: Callable[[object], float]
) -> list[tuple[Severity, float]]:
    table = _table(raw, where, name)
    _only(table, set(_SEVERITY_NAMES), where, name)
    get = _Getter(table, where, name)
    out: list[tuple[Severity, float]] = []
    for label, severity in _SEVERITY_NAMES.items():
        value = get(label, parse)
        if value is not None:
            out.append((severity, value))
    return out


# -- values -------------------------------------------------------------------------


class _Getter:
    """Reads one key with a parser and turns a bad value into one readable line."""

    def __init__(self, table: Mapping[str, Any], where: str, prefix: str) -> None:
        self.table, self.where, self.prefix = table, where, prefix

    def __call__(self, key: str, parse: Callable[[object], Any]) -> Any:
        if key not in self.table:
            return None
        try:
            return parse(self.table[key])
        except (TypeError, ValueError) as e:
            raise UsageError(f"{self.where}: {self.prefix}.{key}: {e}") from None


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number")
    if not math.isfinite(value):  # TOML has nan and inf
        raise ValueError(f"{value!r} is not a finite number")
    return float(value)


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{value!r} is not a positive whole number")
    return value


def _size(value: object) -> int:
    if isinstance(value, str):
        return parse_size(value)
    return int(_number(value))


def _duration(value: object) -> float:
    if isinstance(value, str):
        return parse_duration(value)
    return check_duration(_number(value))


def _rate(value: object) -> float:
    if isinstance(value, str):
        return parse_rate(value)
    return _number(value)


_DETECTOR_KEYS: dict[str, Callable[[object], float]] = {
    "persistence": _integer,
    "min_points": _integer,
    "min_duration": _duration,
    "window": _duration,
    "alpha": _number,
    "ci_level": _number,
    "min_rate": _rate,
    "excursion_max": _duration,
    "envelope_window": _duration,
    "min_leak_window": _duration,
    "min_envelope_points": _integer,
    "young_age": _duration,
    "young_wait": _duration,
    "live_keep": _number,
    "fast_rate": _rate,
    "young_fast_rate": _rate,
    "cost_horizon": _duration,
    "live_min_growth": _size,
}


def _table(raw: object, where: str, name: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where}: {name} must be a table")
    return raw


def _only(table: Mapping[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        name = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise UsageError(f"{where}: unknown setting {name!r} (known: {', '.join(sorted(allowed))})")


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data: dict[str, Any] = tomllib.load(f)
            return data
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise UsageError(f"cannot read the config file {path}: {e.strerror or e}") from None


def _tool_table(path: Path, data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tool = data.get("tool")
    if not isinstance(tool, Mapping) or "memlens" not in tool:
        return None
    return _table(tool["memlens"], str(path), "[tool.memlens]")


# -- the settings a recording is judged with ------------------------------------------

RECORDED = "the recording's settings"
DEFAULTS = "default settings (the recording holds none)"


def judged_with(settings: Settings) -> dict[str, Any]:
    """What a recording keeps of the settings it is made with: the detector's, and the
    RSS limit that bounds its time to a limit. Plain JSON types."""
    detector = dataclasses.asdict(settings.detector)
    for name in ("rate_bands", "limit_bands"):
        detector[name] = [[value, severity.value] for value, severity in detector[name]]
    return {
        "detector": detector,
        "every": settings.every,
        "max_rss": settings.thresholds.max_rss,
    }


def recorded_settings(data: Mapping[str, Any], where: str) -> Settings:
    """The Settings a recording was made with, from `judged_with`'s JSON; a value that
    does not fit is NotARecording naming `where` (the file was changed or damaged)."""
    from memlens.errors import NotARecording

    try:
        raw = dict(data.get("detector") or {})
        known = {f.name for f in dataclasses.fields(DetectorConfig)}
        fields = {k: v for k, v in raw.items() if k in known}
        for name in ("rate_bands", "limit_bands"):
            if name in fields:
                fields[name] = tuple((float(v), Severity(s)) for v, s in fields[name])
        for name, value in fields.items():
            if name not in ("rate_bands", "limit_bands") and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"{name} is not a number")
        detector = DetectorConfig(**fields)
        every = _number(data.get("every", DEFAULT_EVERY))
        max_rss = data.get("max_rss")
        thresholds = Thresholds(max_rss=None if max_rss is None else _size(max_rss))
    except (TypeError, ValueError) as e:
        raise NotARecording(
            f"{where}: the recording's detector settings are damaged: {e}"
        ) from None
    return Settings(thresholds=thresholds, detector=detector, every=every)


@dataclass(frozen=True)
class Judging:
    """The settings a command judges a recording with, and the words that say whose."""

    settings: Settings
    origin: str


def judging(config: str | None, recorded: Mapping[str, Any] | None, where: str) -> Judging:
    """--config when given (said so); else the settings the recording was made with;
    else, for an older recording without any, the defaults (said so too)."""
    if config is not None:
        return Judging(load_settings(config), f"settings of {config} (--config)")
    if recorded is None:
        return Judging(Settings(), DEFAULTS)
    return Judging(recorded_settings(recorded, where), RECORDED)


def origin_of(settings: Settings) -> str:
    """Which settings a live verdict or a command's own run was judged with, in words:
    the config file's, or the defaults when none was found."""
    if settings.source is None:
        return "default settings (no config file)"
    return f"settings of {settings.source}"


def limit_for(max_rss: float | None, memory_limit: float | None) -> float | None:
    """The limit a leak's time to a limit (and so its severity) is measured against: the
    nearer of the RSS threshold and the target's own memory limit, where known. One rule
    for the live alerts and every judgement after the fact."""
    known = [float(v) for v in (max_rss, memory_limit) if v is not None]
    return min(known) if known else None
