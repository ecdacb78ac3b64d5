"""`memlens top`'s list driven by Textual's pilot from ticks and alerts fed through the
same `Feed` path the session uses: a group's leak is one line however many members
leak, and the list stays within the terminal at 80×24."""

from __future__ import annotations

from textual.pilot import Pilot

from integration.test_tui import drive, screen_text
from memlens.analysis.groups import group_leak_text
from memlens.model import Alert, Reading, Target, Tick
from memlens.tui import Feed, TopApp
from memlens.tui.listing import LIST_HELP
from memlens.watch.live import LiveView

MB = 1024 * 1024
T0 = 1_700_000_000.0
WORKERS = 64


def workers_feed() -> Feed:
    """64 gunicorn workers, each leaking about 3 MB/min for ten minutes."""
    live = LiveView(interval=1.0, history_capacity=3600)
    feed = Feed(live)
    targets = [
        Target(f"{5000 + i}-1", "process", 5000 + i, T0, "gunicorn", "gunicorn: worker", ppid=1)
        for i in range(WORKERS)
    ]
    for s in range(600):
        rate = 3 * MB / 60
        samples = {
            t.key: Reading(
                int(80 * MB + s * rate), 0, 0, 0, 3, 12, 0.5, pss=int(20 * MB + s * rate)
            )
            for t in targets
        }
        feed.apply(Tick(s + 1, T0 + s, samples, tuple(targets) if s == 0 else (), ()))
    for t in targets:  # each member's own alert, as the engine sends them too
        feed.post_alert(Alert("leak", T0 + 599, t.key, {"state": "raised", "text": "LEAK"}))
    text = group_leak_text("gunicorn", WORKERS, WORKERS, 3 * MB / 60)
    data = {
        "state": "raised",
        "group": "gunicorn",
        "count": WORKERS,
        "of": WORKERS,
        "rate_each": 3 * MB / 60,
        "members": [t.key for t in targets],
        "severity": "high",
        "text": text,
    }
    feed.post_alert(Alert("group_leak", T0 + 599, None, data))
    return feed


def test_a_leaking_group_is_one_line_above_the_list() -> None:
    app = TopApp(workers_feed())
    shots: list[str] = []

    async def scenario(pilot: Pilot[None]) -> None:
        app.redraw()
        await pilot.pause()
        shots.append(screen_text(app))

    drive(app, scenario, (80, 24))
    (screen,) = shots
    lines = screen.splitlines()
    assert len(lines) == 24
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("memlens top · 64 targets · 1 group ·")
    assert lines[1] == "LEAK 64 of 64 processes of gunicorn leak, about 3.0 MB/min each"
    assert screen.count("LEAK 64 of 64") == 1
    assert "▾ gunicorn ×64" in screen
    assert "Σ3.1 GB" in screen  # the PSS added up ((20 + 30 MB grown) × 64), not 6.9 GB of RSS
    assert "+3.2 MB/s" in screen  # the group's growth: 64 × 3 MB/min
    assert lines[-1] == LIST_HELP


def test_the_list_fits_the_terminal_at_every_size() -> None:
    app = TopApp(workers_feed())

    async def scenario(pilot: Pilot[None]) -> None:
        for width, height in [(80, 24), (60, 20), (160, 40), (80, 24)]:
            await pilot.resize_terminal(width, height)
            await pilot.pause()
            app.redraw()
            await pilot.pause()
            lines = screen_text(app).splitlines()
            assert len(lines) == height
            assert all(len(line) <= width for line in lines)
            assert lines[0].startswith("memlens top · 64 targets")
            second = "command" if width >= 140 else "PID" if width >= 80 else "RSS▼"
            assert lines[2].split()[:2] == ["name", second]  # narrow: the PID gives way
            assert lines[3].startswith("> ▾ gunicorn ×64")
            shown = [line for line in lines if line.startswith("    gunicorn")]
            assert len(shown) == height - 7  # header, leak, titles, group; focus, status, keys

    drive(app, scenario, (80, 24))
