"""Reading is sent on the wire by position, so its field order is the protocol's."""

from __future__ import annotations

from memlens.model import SAMPLE_FIELDS, Reading


def test_reading_fields_are_the_wire_order() -> None:
    assert Reading._fields == SAMPLE_FIELDS


def test_values_follow_the_fields_and_default_the_optional_ones_to_none() -> None:
    reading = Reading(rss=1, vms=2, shared=3, swap=None, threads=5, fds=6, cpu=0.5)
    assert reading.values() == [1, 2, 3, None, 5, 6, 0.5] + [None] * 7
    assert Reading(1, 2, 3, 0, 1, 1, None, py_heap=9).values()[SAMPLE_FIELDS.index("py_heap")] == 9
    assert dict(zip(SAMPLE_FIELDS, reading.values(), strict=True)) == reading._asdict()
