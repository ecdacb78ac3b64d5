"""A check's verdict as JUnit XML, the report format CI systems already display.

One testsuite "memlens"; one testcase per criterion per target, named
"CRITERION: TARGET" with classname "memlens.check"; a failed criterion carries
`<failure message=...>`, one not judged `<skipped message=...>`. The figures go into
properties (measured, limit, unit, status) rather than into the names, so a report's
history groups the same criterion across runs. docs/cli.md shows an example. Names and
command lines are shown with `visible` (memlens.outside.visible): XML 1.0 cannot hold most
control characters at all, and a CI page shows them as a terminal would.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from memlens.analysis.gate import Criterion, GateResult, Status
from memlens.formats.output import write_atomic
from memlens.outside.visible import visible

SUITE = "memlens"
CLASSNAME = "memlens.check"


def render_junit(
    result: GateResult, *, properties: Mapping[str, str] | None = None, seconds: float | None = None
) -> bytes:
    """The XML document, UTF-8 with its declaration. `properties` describe the run (the
    command, the recording); `seconds` is its length, when known."""
    failures = len(result.failed)
    skipped = len(result.not_judged)
    suite = ET.Element(
        "testsuite",
        {
            "name": SUITE,
            "tests": str(len(result.criteria)),
            "failures": str(failures),
            "errors": "0",
            "skipped": str(skipped),
        },
    )
    if seconds is not None:
        suite.set("time", f"{max(0.0, seconds):.3f}")
    props = ET.SubElement(suite, "properties")
    for name, value in {
        "verdict": result.verdict,
        "scope": result.scope,
        **(properties or {}),
    }.items():
        ET.SubElement(props, "property", {"name": name, "value": visible(value)})
    for criterion in result.criteria:
        _testcase(suite, criterion)
    ET.indent(suite)
    data: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _testcase(suite: ET.Element, criterion: Criterion) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {"classname": CLASSNAME, "name": visible(f"{criterion.name}: {criterion.target}")},
    )
    props = ET.SubElement(case, "properties")
    figures = {
        "status": criterion.status.value,
        "measured": _number(criterion.measured),
        "limit": _number(criterion.limit),
        "unit": criterion.unit,
        "measured_text": criterion.measured_text,
        "limit_text": criterion.limit_text,
    }
    for name, value in figures.items():
        ET.SubElement(props, "property", {"name": name, "value": visible(value)})
    message = visible(criterion.message)
    if criterion.status is Status.FAILED:
        failure = ET.SubElement(case, "failure", {"message": message})
        failure.text = _details(criterion)
    elif criterion.status is Status.NOT_JUDGED:
        ET.SubElement(case, "skipped", {"message": message})
    else:
        ET.SubElement(case, "system-out").text = message


def _details(criterion: Criterion) -> str:
    head = (
        f"{criterion.name} on {criterion.target}: measured {criterion.measured_text}, "
        f"limit {criterion.limit_text}"
    )
    return f"{visible(head)}\n{visible(criterion.message)}"


def _number(value: float | None) -> str:
    """Plain numbers a script can read back: bytes and exit codes whole, rates to 0.001."""
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}"


def write_junit(
    path: str | Path,
    result: GateResult,
    *,
    properties: Mapping[str, str] | None = None,
    seconds: float | None = None,
) -> Path:
    """Write the report whole or not at all: a temporary file beside `path`, renamed
    over it, so a CI job never reads half a report. OutputUnwritable when it cannot."""
    data = render_junit(result, properties=properties, seconds=seconds)
    return write_atomic(path, data, what="JUnit report")
