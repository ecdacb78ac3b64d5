"""Groups: labels under each --group-by, honest sums, top members and the banner."""

from __future__ import annotations

import pytest

from memlens.analysis.groups import (
    MIXED,
    PSS,
    RSS,
    check_group_by,
    command_label,
    group_label,
    group_leak_text,
    groups_of,
    honest_sum,
    top_and_others,
)

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("cmdline", "label"),
    [
        ("/usr/bin/gunicorn app:wsgi --workers 4", "gunicorn"),
        ("/usr/bin/python3.11 -u /srv/app/worker.py --id 7", "python3.11 worker.py"),
        ("python3 -m celery worker -A proj", "python3 -m celery"),
        ("java -Xmx1g -jar /opt/x.jar", "java -jar /opt/x.jar"),
        ("node", "node"),
        ("", "fallback"),
    ],
)
def test_command_label_looks_past_interpreters(cmdline: str, label: str) -> None:
    assert command_label(cmdline, "fallback") == label


def test_workers_with_different_arguments_share_a_command_group() -> None:
    a = group_label("command", "python3", "python3 worker.py --id 1")
    b = group_label("command", "python3", "python3 worker.py --id 2")
    c = group_label("command", "python3", "python3 other.py --id 1")
    assert a == b != c


def test_labels_by_name_and_parent() -> None:
    assert group_label("name", "sleep", "sleep 100") == "sleep"
    assert group_label("parent", "sleep", "", 812, "gunicorn") == "children of gunicorn [812]"
    assert group_label("parent", "init", "", None) == "no parent"
    assert len(group_label("name", "x" * 500)) == 80
    with pytest.raises(ValueError, match="name, command, parent"):
        check_group_by("user")


def test_groups_keep_first_seen_order() -> None:
    got = groups_of(["b1", "a1", "b2", "c1", "a2"], lambda s: s[0])
    assert list(got) == ["b", "a", "c"]
    assert got["b"] == ["b1", "b2"]


def test_top_and_others_is_stable_and_ranks_unknown_last() -> None:
    values = {"w1": 5.0, "w2": 9.0, "w3": None, "w4": 9.0, "w5": 1.0}
    top, rest = top_and_others(values, 2)
    assert top == ["w2", "w4"]
    assert rest == ["w1", "w5", "w3"]
    assert top_and_others(values, 0) == ([], ["w2", "w4", "w1", "w5", "w3"])


def test_a_forked_family_sums_pss_not_rss() -> None:
    # A 200 MB parent and four forked workers sharing its pages: RSS 200 MB each.
    members = [(200 * MB, 40 * MB, 1 * MB)] + [(200 * MB, 44 * MB, 4 * MB)] * 4
    s = honest_sum(members)
    assert s.measure == PSS
    assert s.total == 216 * MB
    assert s.rss == 1000 * MB
    assert s.uss == 17 * MB
    assert s.overcount is not None
    assert 4.5 < s.overcount < 4.7
    assert s.mean == s.total / 5


def test_unknown_pss_counts_with_rss_and_says_so() -> None:
    mixed = honest_sum([(10 * MB, 5 * MB, None), (8 * MB, None, None)])
    assert (mixed.measure, mixed.total, mixed.uss) == (MIXED, 13 * MB, None)
    assert honest_sum([(8 * MB, None, None)]).measure == RSS
    assert honest_sum([]).total == 0


def test_group_leak_banner() -> None:
    text = group_leak_text("gunicorn", 64, 64, 3 * MB / 60)
    assert text == "64 of 64 processes of gunicorn leak, about 3.0 MB/min each"
    assert group_leak_text("w", 1, 1, None) == "1 of 1 process of w leaks"
    assert group_leak_text("w", 0, 4, None) == "no leak among the 4 processes of w"
