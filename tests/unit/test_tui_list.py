"""The list of `memlens top`, piece by piece: the board's growth and group leak alerts,
the rows (honest group sums, search, sort, folds) and the columns at each width."""

from __future__ import annotations

from memlens.model import Reading, Target, Tick
from memlens.tui.board import Board
from memlens.tui.listing import Listing, first_match, leak_line, list_header_text
from memlens.tui.listview import SUM_MARK, cells, focus_text, header_line, layout, row_line
from memlens.tui.rows import Figures, Row, figures_of, list_rows, matches

MB = 1024 * 1024
WINDOW = 60.0


def figure(pid: int, name: str = "worker", **kw: object) -> Figures:
    values: dict[str, object] = {
        "key": f"{pid}-1",
        "kind": "process",
        "name": name,
        "pid": pid,
        "command": f"{name} --id {pid}",
        "group": name,
        "running": True,
        "state": "running",
        "rss": 100 * MB,
        "pss": 30 * MB,
        "uss": 20 * MB,
        "growth": 0.0,
        "verdict": None,
        "threads": 2,
        "fds": 7,
    }
    values.update(kw)
    return Figures(**values)  # type: ignore[arg-type]


def by_key(*figures: Figures) -> dict[str, Figures]:
    return {f.key: f for f in figures}


def pids(rows: list[Row]) -> list[int | str]:
    return [r.target.pid if r.target is not None else r.group for r in rows]


# -- the board --------------------------------------------------------------------------


def tick(seq: int, t: float, samples: dict[str, Reading]) -> Tick:
    return Tick(seq, t, samples, (), ())


def reading(rss: int) -> Reading:
    return Reading(rss, 0, 0, 0, 1, 3, 0.0)


def test_the_board_keeps_the_newest_reading_and_the_growth_over_the_window() -> None:
    board = Board([WINDOW])
    for i in range(121):  # two minutes at 1 Hz, growing 1 MB/s, and one flat
        board.observe(tick(i + 1, 1000.0 + i, {"a": reading(i * MB), "b": reading(5 * MB)}))
    assert board.readings["a"].rss == 120 * MB
    growth = board.growth("a", WINDOW)
    assert growth is not None
    assert abs(growth - MB) < 0.01 * MB
    assert board.growth("b", WINDOW) == 0.0
    assert board.growth("c", WINDOW) is None  # never seen


def test_a_growth_over_too_short_a_span_is_unknown() -> None:
    board = Board([WINDOW])
    board.observe(tick(1, 1000.0, {"a": reading(1 * MB)}))
    board.observe(tick(2, 1000.5, {"a": reading(9 * MB)}))
    assert board.growth("a", WINDOW) is None


def test_a_group_leak_is_kept_until_cleared_and_shown_as_one_line() -> None:
    board = Board([WINDOW])
    raised = {
        "type": "group_leak",
        "t": 5.0,
        "key": None,
        "state": "raised",
        "group": "gunicorn",
        "count": 64,
        "of": 64,
        "rate_each": 50_000.0,
        "members": [],
        "severity": "high",
        "text": "64 of 64 processes of gunicorn leak, about 2.9 MB/min each",
    }
    board.alert({"type": "leak", "key": "1-1", "state": "raised", "text": "x"})
    assert leak_line(board.group_leaks) == ""  # a member's own alert is not a group's
    board.alert(raised)
    board.alert({**raised, "group": "celery", "count": 2, "of": 8, "text": "2 of 8 …"})
    assert leak_line(board.group_leaks) == (
        "LEAK 64 of 64 processes of gunicorn leak, about 2.9 MB/min each (+1 more group)"
    )
    board.alert({**raised, "state": "cleared"})
    board.alert({**raised, "group": "celery", "state": "cleared"})
    assert leak_line(board.group_leaks) == ""


def test_a_group_leaks_text_is_made_visible() -> None:
    board = Board([WINDOW])
    board.alert({"type": "group_leak", "state": "raised", "group": "x", "text": "a\x1b[2Jb"})
    assert "\x1b" not in leak_line(board.group_leaks)


# -- the rows ----------------------------------------------------------------------------


def test_a_groups_memory_is_the_sum_of_its_running_members_pss() -> None:
    rows = list_rows(
        by_key(
            figure(1),
            figure(2),
            figure(3),
            figure(4, running=False, state="EXITED (code 0)"),
        )
    )
    group = rows[0]
    assert group.is_group
    assert group.total is not None
    assert (group.total.count, group.total.total, group.total.measure) == (3, 90 * MB, "pss")
    assert group.total.rss == 300 * MB  # what adding RSS up would have said
    assert cells(group)["rss"] == f"{SUM_MARK}90.0 MB"
    assert cells(group)["mean"] == "30.0 MB"
    assert cells(group)["name"] == "▾ worker ×4"
    focus = focus_text(group, 4, 4, "")
    assert "worker: 4 processes (3 running)" in focus
    assert "mean 30.0 MB" in focus
    assert "PSS: shared pages counted once" in focus
    assert pids(rows)[-1] == 4  # the exited one after those that run
    assert cells(rows[-1])["leak"] == "EXITED"


def test_without_pss_a_group_says_its_sum_is_rss() -> None:
    rows = list_rows(by_key(figure(1, pss=None), figure(2, pss=None)))
    assert rows[0].total is not None
    assert rows[0].total.measure == "rss"
    assert "RSS: the PSS was unreadable" in focus_text(rows[0], 2, 2, "")


def test_one_group_starts_open_several_start_folded_and_a_toggle_flips_one() -> None:
    alone = list_rows(by_key(figure(1), figure(2)))
    assert pids(alone) == ["worker", 1, 2]
    mixed = by_key(figure(1), figure(2), figure(3, "db"), figure(4, "db"), figure(5, "cron"))
    assert pids(list_rows(mixed, column="name")) == [5, "db", "worker"]  # a lone one, no group
    assert pids(list_rows(mixed, column="name", toggled={"db"})) == [5, "db", 3, 4, "worker"]


def test_search_finds_a_pid_by_its_start_and_names_commands_groups_by_part() -> None:
    f = figure(4242, "gunicorn", command="gunicorn: worker [shop]")
    assert matches(f, "4242")
    assert matches(f, "424")
    assert not matches(f, "242")
    assert matches(f, "GUNI")
    assert matches(f, "[shop]")
    assert not matches(f, "celery")
    rows = list_rows(by_key(figure(1), figure(4242), figure(77, "db")), query="4242")
    assert pids(rows) == ["worker", 4242]  # its group, opened, with the match alone
    assert rows[0].shown == 1
    assert cells(rows[0])["name"] == "▾ worker 1/2"
    assert first_match(rows, "4242") == "4242-1"
    wide = list_rows(by_key(figure(42), figure(4242)), query="42")
    assert first_match(wide, "4242") == "4242-1"  # the very PID, not the first to start so


def test_sorting_follows_the_figures_and_reverses() -> None:
    figures = by_key(
        figure(1, "a", group="", rss=10 * MB, growth=5.0),
        figure(2, "b", group="", rss=30 * MB, growth=1.0),
        figure(3, "c", group="", rss=20 * MB, growth=None),
    )
    assert pids(list_rows(figures, column="rss")) == [2, 3, 1]
    assert pids(list_rows(figures, column="rss", reverse=True)) == [1, 3, 2]
    assert pids(list_rows(figures, column="growth")) == [1, 2, 3]  # unknown last
    assert pids(list_rows(figures, column="growth", reverse=True)) == [2, 1, 3]
    assert pids(list_rows(figures, column="name")) == [1, 2, 3]


def test_the_listing_cycles_its_sort_and_folds_by_what_it_shows() -> None:
    listing = Listing(figures=by_key(figure(1), figure(2), figure(3, "db"), figure(4, "db")))
    assert listing.next_sort() == "growth"
    assert not listing.reverse
    listing.flip()
    assert listing.reverse
    listing.fold("db", expanded=True, now=False)
    assert "db" in listing.toggled
    listing.fold("db", expanded=True, now=True)  # already open: nothing to flip
    assert "db" in listing.toggled


def test_figures_label_a_target_the_sampler_left_unlabelled() -> None:
    targets = {
        "1-1": Target("1-1", "process", 1, 0.0, "python3", "python3 app.py", ppid=9),
        "2-1": Target("2-1", "process", 2, 0.0, "python3", "python3 app.py", group="web"),
    }
    board = Board([WINDOW])
    board.observe(tick(1, 1.0, {"1-1": reading(MB), "2-1": reading(2 * MB)}))
    figures = figures_of(targets, board, {}, window=WINDOW, group_by="command")
    assert figures["1-1"].group == "python3 app.py"
    assert figures["2-1"].group == "web"
    assert figures["2-1"].rss == 2 * MB
    header = list_header_text(figures, interval=1.0, window=WINDOW, paused=False)
    assert header == "memlens top · 2 targets · every 1 s · window 1 min · LIVE"


def test_the_header_counts_groups_of_two_or_more_and_lone_processes_apart() -> None:
    figures = by_key(
        *(figure(10 + i, "web") for i in range(3)),
        *(figure(20 + i, "celery") for i in range(2)),
        *(figure(30 + i, "cron") for i in range(2)),
        figure(40, "redis"),
    )
    rows = list_rows(figures)
    header = list_header_text(figures, interval=1.0, window=WINDOW, paused=False)
    assert sum(1 for r in rows if r.is_group) == 3
    assert header.split(" · ")[1:3] == ["8 targets", "3 groups, 1 process"]
    del figures["40-1"]
    header = list_header_text(figures, interval=1.0, window=WINDOW, paused=False)
    assert header.split(" · ")[1:3] == ["7 targets", "3 groups"]
    figures.update(by_key(figure(41, "nginx"), figure(42, "sshd")))
    header = list_header_text(figures, interval=1.0, window=WINDOW, paused=False)
    assert header.split(" · ")[1:3] == ["9 targets", "3 groups, 2 processes"]


# -- the columns -------------------------------------------------------------------------


def test_columns_give_way_in_order_as_the_terminal_narrows() -> None:
    def shown(width: int) -> list[str]:
        return [c.id for c in layout(width)[0]]

    assert shown(120) == ["pid", "rss", "mean", "growth", "leak", "threads", "fds"]
    assert shown(80) == ["pid", "rss", "growth", "leak", "threads", "fds"]
    assert shown(60) == ["rss", "growth", "leak"]
    assert shown(40) == ["rss"]
    assert layout(80)[2] == 0
    assert layout(160)[2] > 0
    rows = list_rows(by_key(figure(1), figure(2, "x" * 200)))
    for width in (40, 60, 80, 120, 160):
        assert len(header_line(width, "rss", False)) == width
        for row in rows:
            assert len(row_line(row, width, cursor=True)) == width
    assert header_line(80, "rss", False).split()[:3] == ["name", "PID", "RSS▼"]
    assert "name▲" in header_line(80, "name", False)


def test_a_wide_terminal_gives_a_groups_label_the_command_columns_room() -> None:
    label = "children of gunicorn: master process [812]"
    rows = list_rows(by_key(figure(1, group=label), figure(2, group=label)))
    group = rows[0]
    assert group.is_group
    wide = row_line(group, 160, cursor=False)
    assert len(wide) == 160
    assert f"{label} ×2" in wide  # the parent's PID is not cut off
    assert "…" not in wide
    narrow = row_line(group, 80, cursor=False)  # no command column: the name's room only
    assert len(narrow) == 80
    assert "[812]" not in narrow
