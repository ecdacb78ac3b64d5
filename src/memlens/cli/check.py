"""`memlens check [limits] (-- CMD ARGS | RUN)`: a CI gate on a command's memory, or on a
recording's.

A command is recorded into a temporary file that is deleted afterwards, unless `-o` or
`--db` says where to keep it: a CI job should leave nothing behind that it did not ask
for. The rules for each criterion live in memlens.analysis.gate; this face only runs the
command, reads the recording, prints the verdict and writes the report, in that order, so
a report that cannot be written still leaves the verdict on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from memlens.analysis.gate import CODE, Criterion, GateResult, TargetSeries, judge
from memlens.cli._chart import chart_format, recording_chart
from memlens.cli._child import record_command, shell_status
from memlens.cli._common import Command, parse_duration, parse_interval, parse_rate, parse_size
from memlens.cli._runs import open_run, store_path
from memlens.cli._summary import shown_name
from memlens.config import Settings, load_settings, origin_of
from memlens.config import judging as judging_of
from memlens.errors import UsageError
from memlens.formats.output import write_atomic
from memlens.outside.redact import redact_cmdline
from memlens.outside.visible import visible
from memlens.report.junit import write_junit
from memlens.store import RecordingInfo, StoreReader, load_recording
from memlens.units import human_duration

DEFAULT_INTERVAL = 0.1  # s: CI runs are short, and the short-run rule needs 24 samples


def parse_exit_code(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an exit code") from None
    if not 0 <= value <= 255:
        raise argparse.ArgumentTypeError(f"exit code {value} is out of range (0-255)")
    return value


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-rss",
        type=parse_size,
        metavar="SIZE",
        help="fail when the peak RSS goes above this (e.g. 500MB; a process tree's total "
        "is its PSS, shared pages counted once); default: [thresholds] max_rss of the config",
    )
    p.add_argument(
        "--max-growth",
        type=parse_rate,
        metavar="RATE",
        help="fail when memory grows faster than this after the warm-up (e.g. 10MB/h); "
        "default: [thresholds] max_leak_rate of the config",
    )
    p.add_argument(
        "--warmup",
        type=parse_duration,
        default=0.0,
        metavar="DURATION",
        help="leave this much of the start out of the growth and leak rules (e.g. 60s)",
    )
    p.add_argument("--junit", metavar="FILE", help="also write the verdict as JUnit XML")
    p.add_argument(
        "--chart",
        metavar="FILE",
        help="also write the chart (RSS, leak windows, marks, limits) as FILE.svg or FILE.png",
    )
    p.add_argument(
        "--allow-exit-code",
        type=parse_exit_code,
        action="append",
        default=[],
        metavar="CODE",
        help="a non-zero exit code of the command that does not fail the check (repeatable)",
    )
    p.add_argument(
        "--strict", action="store_true", help="fail when a criterion could not be judged"
    )
    p.add_argument(
        "--interval",
        type=parse_interval,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"seconds between samples of a command (default {DEFAULT_INTERVAL})",
    )
    p.add_argument("--config", metavar="FILE", help="read thresholds and detector settings here")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="keep the command's recording in this file (default: a temporary file, deleted)",
    )
    p.add_argument(
        "--db",
        metavar="PATH",
        help="keep the command's recording in this store; with RUN, the store to look it up in",
    )
    p.add_argument(
        "target",
        nargs=argparse.REMAINDER,
        metavar="-- CMD ARGS | RUN",
        help="the command to run and check, or a recording to check",
    )
    p.set_defaults(_check_parser=p)


@dataclass
class _Checked:
    """What was read for the verdict: the series, the command's exit code (as Popen
    gives it), where the recording was kept (None: nowhere), and the run's description."""

    series: dict[str, TargetSeries]
    code: int | None
    where: str | None
    about: dict[str, str]
    seconds: float | None
    settings: Settings | None = None  # a recording's own (or --config's): judged with these
    chart: bytes | None = None  # --chart's image


def run(args: argparse.Namespace) -> int:
    command, run_name = _what(args)
    if args.chart:
        chart_format(args.chart)  # a name that is no chart fails before the command runs
    settings = load_settings(args.config)
    if command is not None:
        checked = _run_command(command, args)
    else:
        assert run_name is not None
        checked = _read_recording(run_name, args)
        settings = checked.settings or settings
    max_rss = args.max_rss if args.max_rss is not None else settings.thresholds.max_rss
    max_growth = args.max_growth
    if max_growth is None:
        max_growth = settings.thresholds.max_leak_rate
    result = judge(
        checked.series,
        max_rss=max_rss,
        max_growth=max_growth,
        warmup=args.warmup,
        config=settings.detector,
        exit_code=checked.code,
        allowed_exit_codes=frozenset(args.allow_exit_code),
        strict=args.strict,
    )
    print_verdict(result, checked.about, where=checked.where, warmup=args.warmup)
    if args.junit:
        about = checked.about | {"warmup": f"{args.warmup:g}"}
        write_junit(args.junit, result, properties=about, seconds=checked.seconds)
    if args.chart and checked.chart is not None:
        write_atomic(Path(args.chart), checked.chart)
    return result.exit_code


def _chart(reader: StoreReader, info: RecordingInfo, args: argparse.Namespace) -> bytes | None:
    """--chart's image of the recording, drawn with the limit the check judged by."""
    if not args.chart:
        return None
    fmt = chart_format(args.chart)
    return recording_chart(
        load_recording(reader, info), reader, fmt, config=args.config, max_rss=args.max_rss
    )


def _run_command(command: list[str], args: argparse.Namespace) -> _Checked:
    """Run and record the command: into `-o`/`--db` when given, else a temporary file."""
    kept = Path(args.output) if args.output else (store_path(args) if args.db else None)
    with contextlib.ExitStack() as stack:
        if kept is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="memlens-check-"))
            path = Path(folder) / "check.db"
        else:
            path = kept
        settings = load_settings(args.config)
        code, recording_id = record_command(
            command, path, interval=args.interval, settings=settings
        )
        reader = stack.enter_context(StoreReader.open(path))
        info = reader.recording(recording_id)
        series = _series(reader, info)
        chart = _chart(reader, info, args)
    about = {
        "command": redact_cmdline(command),
        "exit_code": str(shell_status(code)),
        "settings": origin_of(settings),
    }
    where = f"{info.id} in {path}" if kept is not None else None
    return _Checked(series, code, where, about, _seconds(info), chart=chart)


def _read_recording(run_name: str, args: argparse.Namespace) -> _Checked:
    reader, info = open_run(run_name, args)
    with reader:
        series = _series(reader, info)
        recorded, _ = reader.judged_with(info.id)
        judging = judging_of(args.config, recorded, str(reader.path))
        chart = _chart(reader, info, args)
    where = f"{info.id} ({info.name}) in {reader.path}"
    about = {"recording": where}
    if info.command is not None:
        about["command"] = info.command
    if info.exit_code is not None:
        about["exit_code"] = str(shell_status(info.exit_code))
    about["settings"] = judging.origin
    return _Checked(series, info.exit_code, where, about, _seconds(info), judging.settings, chart)


def _seconds(info: RecordingInfo) -> float | None:
    return None if info.ended is None else max(0.0, info.ended - info.started)


def _what(args: argparse.Namespace) -> tuple[list[str] | None, str | None]:
    """(the command, None) or (None, the RUN), from the one positional list: argparse
    keeps `--` there, which is how a command is told from a recording's name."""
    target = list(args.target)
    if not target:
        raise UsageError(
            "name a command after -- (memlens check --max-rss 500MB -- pytest) or a recording"
        )
    if target[0] == "--":
        if not target[1:]:
            raise UsageError("name the command to run after --, e.g. memlens check -- pytest")
        if args.output and args.db:
            raise UsageError("-o and --db both say where to keep the recording: give one")
        return target[1:], None
    run_name, rest = target[0], target[1:]
    if rest:
        # Options after RUN went into the positional list: read them as options.
        args.target = []
        args._check_parser.parse_args(rest, namespace=args)
        if args.target:
            extra = args.target[0]
            if extra == "--":
                raise UsageError("give either a recording or a command after --, not both")
            raise UsageError(f"check one recording at a time ({extra!r} is one too many)")
    if args.output:
        raise UsageError("-o keeps a command's recording; a recording RUN is only read")
    return None, run_name


def _series(reader: StoreReader, info: RecordingInfo) -> dict[str, TargetSeries]:
    out: dict[str, TargetSeries] = {}
    for target in reader.targets(info.id):
        columns = reader.series(info.id, target.key)
        pairs = [
            (float(t), v)
            for t, v in zip(columns["t"], columns["rss"], strict=True)
            if t is not None
        ]
        honest = None
        if target.kind == "sum":
            label = f"total (pid {target.pid} + children)"
            # PSS added up, RSS where a member's was unknown; RSS alone in a recording
            # older than the budgeted PSS reads: the sampler's sum has it.
            honest = [
                p if p is not None else r
                for t, p, r in zip(columns["t"], columns["pss"], columns["rss"], strict=True)
                if t is not None
            ]
        else:
            label = f"{shown_name(target.name, 30)} (pid {target.pid})"
        out[target.key] = TargetSeries(
            label=label,
            kind=target.kind,
            times=[t for t, _ in pairs],
            values=[v for _, v in pairs],
            members=tuple(target.members),
            parent=target.parent,
            honest=honest,
        )
    return out


_WORDS = {"passed": "PASS", "failed": "FAIL", "not judged": "NOT JUDGED"}


def print_verdict(
    result: GateResult, about: dict[str, str], *, where: str | None, warmup: float
) -> None:
    """One block on stdout: the verdict, what was checked, every criterion with what was
    measured against its limit and why."""
    counts = [f"{len(result.criteria) - len(result.failed) - len(result.not_judged)} passed"]
    counts.append(f"{len(result.failed)} failed")
    if result.not_judged:
        counts.append(f"{len(result.not_judged)} not judged")
    lines = [f"memlens check: {result.verdict} ({', '.join(counts)})"]
    if "command" in about:
        lines.append(f"  command:   {shown_name(about['command'], 70)}")
    if "exit_code" in about:
        lines.append(f"  exit code: {about['exit_code']}")
    if where is not None:
        lines.append(f"  recording: {where}")
    lines.append(f"  judged:    {result.scope}")
    if "settings" in about:
        lines.append(f"  settings:  {shown_name(about['settings'], 70)}")
    if warmup > 0:
        lines.append(f"  warm-up:   {human_duration(warmup)}, left out of growth and leak")
    for criterion in result.criteria:
        lines.append(f"  {_WORDS[criterion.status.value]:<10}  {_figures(criterion)}")
        lines.append(f"  {'':<10}  {criterion.message}")
    print("\n".join(visible(line) for line in lines), flush=True)


def _figures(c: Criterion) -> str:
    head = f"{c.name:<10}  {c.target}"
    if c.unit == CODE:
        return f"{head}: exit {c.measured_text}"
    if c.measured is None and c.limit is None:
        return head
    if c.limit is None:
        return f"{head}: {c.measured_text}"
    return f"{head}: {c.measured_text}, limit {c.limit_text}"


COMMAND = Command(
    "check",
    "run a command (or read a recording) and pass or fail it on memory limits, for CI",
    configure,
    run,
)
