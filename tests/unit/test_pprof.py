"""The pprof writer, read back field by field with a decoder written from profile.proto
(tests/pprof_decode.py); tests/integration/test_pprof_go.py opens it in go tool pprof."""

from __future__ import annotations

import gzip
from typing import Any

from hypothesis import HealthCheck, given, settings

from heap_fixtures import MAIN, MB, T0, frame, profile, profiles, stack
from memlens.formats.heap_profile import from_dict
from memlens.formats.pprof import dump_pprof
from pprof_decode import decode

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPES = [
    ("alloc_objects", "count"),
    ("alloc_space", "bytes"),
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
]


def test_header_fields() -> None:
    p = from_dict(profile(since=T0 + 30.0, since_mark="deploy", truncated=3))
    data = dump_pprof(p)
    assert data[:2] == b"\x1f\x8b"  # gzip
    assert data == dump_pprof(p)  # deterministic
    d = decode(data)
    assert d.strings[0] == ""
    assert d.type_names() == TYPES
    assert d.s(d.default_sample_type) == "inuse_space"
    assert (d.s(d.period_type[0]), d.s(d.period_type[1])) == ("space", "bytes")
    assert d.period == 524288
    assert d.time_nanos == round((T0 + 30.0) * 1e9)
    assert d.duration_nanos == 30 * 10**9
    comments = [d.s(c) for c in d.comments]
    assert "pid 4242" in comments
    assert "since mark deploy" in comments
    assert "3 stacks left out" in comments
    assert d.mappings == [{1: 1, 5: d.strings.index("python"), 7: 1, 8: 1, 9: 1}]
    assert set(d.location_mappings.values()) == {1}


def test_samples_leaf_first_with_rounded_values() -> None:
    p = from_dict(profile())
    d = decode(dump_pprof(p))
    assert len(d.samples) == len(p.stacks)
    for (frames, values), s in zip(d.stacks(), p.stacks, strict=True):
        expected = [(f.function, f.file, f.line) for f in reversed(s.frames)]
        assert frames == (expected or [("[no Python frame]", "", 0)])
        assert values == [
            round(s.alloc_count),
            round(s.alloc_bytes),
            round(s.inuse_count),
            round(s.inuse_bytes),
        ]
    # One Function per (name, file), one Location per (function, line), each one Line.
    assert len(d.functions) == 5
    assert all(len(lines) == 1 for lines in d.locations.values())
    for name, system_name, _ in d.functions.values():
        assert name == system_name


def test_allocated_defaults_to_alloc_space_and_growth_is_signed() -> None:
    d = decode(dump_pprof(from_dict(profile(kind="allocated"))))
    assert d.s(d.default_sample_type) == "alloc_space"
    growth = profile([stack([MAIN], -6 * MB, -3, alloc=0, alloc_count=0)], kind="growth")
    d = decode(dump_pprof(from_dict(growth)))
    assert d.s(d.default_sample_type) == "inuse_space"
    assert d.samples[0][1] == [0, 0, -3, -6 * MB]


def test_tracemalloc_profile_has_period_zero_and_no_zero_samples() -> None:
    stacks = [stack([MAIN], 1.4, alloc=0, alloc_count=0), stack([frame("idle")], 0.2, 0.3)]
    doc = profile(stacks, sampler="tracemalloc", interval_bytes=0)
    d = decode(dump_pprof(from_dict(doc)))
    assert d.period == 0
    assert [v for _, v in d.samples] == [[0, 0, 1, 1]]  # the all-zero sample is left out


@FAST
@given(profiles())
def test_any_profile_decodes_to_its_stacks(doc: dict[str, Any]) -> None:
    p = from_dict(doc)
    d = decode(dump_pprof(p))
    kept = [
        s
        for s in p.stacks
        if any(round(v) for v in (s.alloc_count, s.alloc_bytes, s.inuse_count, s.inuse_bytes))
    ]
    assert [frames for frames, _ in d.stacks()] == [
        [(f.function, f.file, f.line) for f in reversed(s.frames)] or [("[no Python frame]", "", 0)]
        for s in kept
    ]
    assert len(set(d.strings)) == len(d.strings)
    assert gzip.decompress(dump_pprof(p))
