"""`memlens report RUN [--hours N] --format html|md|json [-o FILE]`: what a recording
says, judged: figures, verdicts, leaks, threshold violations and what to try next."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

from memlens.cli._common import Command
from memlens.cli._runs import add_db_option, open_run
from memlens.cli.export import add_group_by_option, write_file, write_stdout
from memlens.config import judging as judging_of
from memlens.outside.visible import visible
from memlens.report import Report, build_report
from memlens.report.compare import main_target
from memlens.report.heap_compare import heap_top, last_profile
from memlens.report.html import dump_report_html
from memlens.report.json import dump_report_json
from memlens.report.markdown import counted, dump_report_md
from memlens.store import StoreReader, load_recording
from memlens.units import human_bytes

WRITERS: dict[str, Callable[[Report], bytes]] = {
    "md": dump_report_md,
    "html": dump_report_html,
    "json": dump_report_json,
}
EXTENSIONS = {"md": "md", "markdown": "md", "html": "html", "htm": "html", "json": "json"}


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: the hours must be a positive number")
    return value


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run",
        metavar="RUN",
        help="the recording: a recording file, FILE#ID, or an id, a name or 'last' in the store",
    )
    p.add_argument(
        "--hours",
        type=_hours,
        metavar="N",
        help="report on the last N hours of the recording only (default: all of it)",
    )
    p.add_argument(
        "--format",
        choices=list(WRITERS),
        help="md, html or json (default: from the extension of -o, else md)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write (default: standard output; - also means standard output)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="settings file for the leak detector and max_rss (default: memlens.toml or "
        "pyproject.toml's [tool.memlens] found from the current directory up)",
    )
    add_group_by_option(p)
    add_db_option(p)


def run(args: argparse.Namespace) -> int:
    fmt = _format(args)
    reader, info = open_run(args.run, args)
    try:
        recording = load_recording(reader, info)
        recorded, limits = reader.judged_with(info.id)
        judging = judging_of(args.config, recorded, str(reader.path))
        settings = judging.settings
        report = build_report(
            recording,
            hours=args.hours,
            config=settings.detector,
            limit=settings.thresholds.max_rss,
            now=time.time(),
            limits={key: float(v) for key, v in limits.items()},
            group_by=args.group_by,
        )
        report = with_heap(report, reader)
    finally:
        reader.close()
    data = WRITERS[fmt](report)
    if args.output in (None, "-"):
        if not write_stdout(data):
            return 0  # the reader stopped early (`| head`): say nothing more
        where = "standard output"
    else:
        path = Path(args.output)
        write_file(path, data)
        where = str(path)
    print(f"memlens: {visible(_summary(report, fmt, len(data)))} to {where}", file=sys.stderr)
    print(f"memlens: judged with {visible(judging.origin)}", file=sys.stderr)
    return 0


def with_heap(report: Report, reader: StoreReader) -> Report:
    """The report with the largest stacks of the last heap profile kept of its main
    target (memlens.report.heap_compare), when the recording kept any."""
    main = main_target(report)
    kept = last_profile(reader, report.recording.id, None if main is None else main.target.key)
    if kept is None:
        return report
    names = {t.target.key: t.label for t in report.targets}
    return dataclasses.replace(report, heap=heap_top(kept, names.get(kept.key, kept.key)))


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.output and args.output != "-":
        suffix = Path(args.output).suffix.lower().lstrip(".")
        if suffix in EXTENSIONS:
            return EXTENSIONS[suffix]
    return "md"


def _summary(report: Report, fmt: str, size: int) -> str:
    info = report.recording
    leaks = report.leaks
    return (
        f"report on recording {info.id} ({info.name}): {counted(report.samples, 'sample')}, "
        f"{counted(leaks.count, 'leak')}, "
        f"{counted(len(report.thresholds.items), 'threshold violation')}, "
        f"written as {fmt} ({human_bytes(size)})"
    )


COMMAND = Command(
    "report",
    "judge a recording: memory figures, leaks, threshold violations and what to try",
    configure,
    run,
)
