"""Real Chromium opens `memlens serve` of a recorded day: the overview is M4 buckets that
keep a single-sample spike, and zooming in fetches the raw samples of the range shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import MB, MemlensServer, synthetic_day

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

SPIKE = 900 * MB


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    path = tmp_path_factory.mktemp("day") / "day.db"
    rid, key = synthetic_day(path)
    return path, rid, key


class RangeRequests(OutsideRequests):
    """Outside requests, and the page's `/api/range` calls."""

    def __init__(self, page: Any, base: str) -> None:
        self.ranges: list[str] = []
        super().__init__(page, base)

    def inside(self, path: str, url: str) -> None:
        if path.endswith("/api/range"):
            self.ranges.append(url)


def read_card(page: Any, key: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """key => {
            const card = document.querySelector(`.target-card[data-key="${key}"]`);
            const stat = name => card.querySelector(`[data-stat="${name}"]`);
            return {
                points: Number(card.dataset.points),
                bucketed: Number(card.dataset.bucketed),
                current: Number(stat('current').dataset.bytes),
                max: Number(stat('max').dataset.bytes),
                min: Number(stat('min').dataset.bytes),
                text: card.textContent,
            };
        }""",
        key,
    )
    return result


def visible_range(page: Any) -> tuple[float, float]:
    lo, hi = page.evaluate("() => [memlens.chart().scales.x.min, memlens.chart().scales.x.max]")
    return float(lo), float(hi)


def drag_zoom(page: Any, t0: float, t1: float) -> None:
    """Mouse down at time t0 on the plot, move, up at t1: uPlot's drag-to-zoom."""
    box = page.locator("#chart .u-over").bounding_box()
    assert box is not None
    x0, x1 = page.evaluate(
        "([a, b]) => [memlens.chart().valToPos(a, 'x'), memlens.chart().valToPos(b, 'x')]",
        [t0, t1],
    )
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + x0, y)
    page.mouse.down()
    for f in (0.25, 0.5, 0.75, 1.0):
        page.mouse.move(box["x"] + x0 + (x1 - x0) * f, y)
    page.mouse.up()


def settle(page: Any) -> None:
    """Wait until no detail request is waiting or on its way, and a little more."""
    page.wait_for_function(
        "() => !memlens.detail.inflight && !memlens.detail.timer", timeout=15_000
    )
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !memlens.detail.inflight && !memlens.detail.timer", timeout=15_000
    )


def detail_requests(page: Any) -> int:
    return int(page.evaluate("document.body.dataset.detailRequests"))


def test_a_recorded_day_zooms_from_buckets_to_raw_samples(
    browser: Any, day: tuple[Path, int, str], artifacts_dir: Path
) -> None:
    path, rid, key = day
    server = MemlensServer("serve", str(path), "--port", "0")
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors = PageErrors(page)
    outside = RangeRequests(page, server.base)
    try:
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=30_000)
        page.wait_for_selector(f'.target-card[data-key="{key}"]', timeout=5_000)

        # The header says it is a recording, and the whole of it is shown.
        assert page.get_attribute("#conn-state", "data-mode") == "recording"
        assert page.inner_text("#conn-text").strip() == "recording"
        assert page.is_visible("#rec-info")
        assert page.inner_text("#rec-name") == "synthetic day"
        assert "1 d 0 h" in page.inner_text("#rec-span")
        assert page.get_attribute('button[data-window="all"]', "aria-pressed") == "true"
        assert page.evaluate("document.body.dataset.ticks") == "0"
        assert f"recording #{rid}" in page.inner_text("#foot-info")

        # The backfill is buckets; the card counts them all, and the spike survived them.
        bucketed = int(page.evaluate("document.body.dataset.bucketedPoints"))
        assert 1000 <= bucketed <= 8000
        whole = read_card(page, key)
        assert whole["points"] == bucketed
        assert whole["bucketed"] == bucketed
        assert whole["max"] == SPIKE
        assert whole["min"] == 200 * MB
        assert "last" in whole["text"]
        first, last = page.evaluate(
            "(() => { const t = memlens.store.times; return [t[0], t[t.length - 1]]; })()"
        )
        assert last - first > 86_000
        # The last real sample's fields (buckets carry only RSS) were fetched.
        page.wait_for_function(
            "key => document.querySelector(`.target-card[data-key='${key}'] "
            "[data-stat='threads']`).textContent === '4'",
            arg=key,
            timeout=10_000,
        )
        assert "downsampled" in page.inner_text("#chart-sub")
        # The whole overview is the base data: nothing to fetch for it.
        page.wait_for_timeout(400)
        assert detail_requests(page) == 0
        assert outside.ranges == []
        page.screenshot(path=str(artifacts_dir / "serve-day.png"), full_page=True)

        # Zoom to about two hours: still buckets, but finer ones, fetched for that range.
        zoom_at = first + 20_000
        drag_zoom(page, zoom_at, zoom_at + 7_200)
        page.wait_for_function(
            "() => Number(document.body.dataset.detailRequests) >= 1", timeout=15_000
        )
        lo, hi = visible_range(page)
        assert 6_000 < hi - lo < 8_400
        hours = read_card(page, key)
        coarse_in_range = bucketed * (hi - lo) / (last - first)
        assert hours["points"] > 3 * coarse_in_range  # finer than the overview there
        settle(page)
        assert len(outside.ranges) == 1  # what is shown is not asked for again
        query = outside.ranges[0]
        assert f"target={key}" in query
        assert "buckets=" in query

        # Then to about ten minutes: the server answers raw samples, one a second.
        requests_before = detail_requests(page)
        drag_zoom(page, zoom_at + 3_000, zoom_at + 3_600)
        page.wait_for_function(
            "n => Number(document.body.dataset.detailRequests) > n",
            arg=requests_before,
            timeout=15_000,
        )
        lo, hi = visible_range(page)
        assert 480 < hi - lo < 720
        zoomed = read_card(page, key)
        assert zoomed["points"] >= 500
        assert abs(zoomed["points"] - (hi - lo)) <= 3  # every raw sample in the range
        settle(page)
        assert len(outside.ranges) == 2
        assert "samples" in page.inner_text("#chart-sub")
        assert "downsampled" not in page.inner_text("#chart-sub")
        assert zoomed["max"] < SPIKE  # the spike lies outside this range
        page.mouse.move(5, 5)  # off the chart: the legend shows the last values
        page.screenshot(path=str(artifacts_dir / "serve-zoom.png"), full_page=True)

        # Panning keeps the width and moves the range; the new part is fetched in detail.
        requests_before = detail_requests(page)
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "n => Number(document.body.dataset.detailRequests) > n",
            arg=requests_before,
            timeout=15_000,
        )
        panned_lo, panned_hi = visible_range(page)
        assert abs((panned_hi - panned_lo) - (hi - lo)) < 1
        assert panned_lo - lo == pytest.approx(0.25 * (hi - lo), rel=0.05)
        settle(page)
        assert read_card(page, key)["points"] >= 500
        page.keyboard.press("ArrowLeft")
        settle(page)
        assert visible_range(page)[0] == pytest.approx(lo, abs=1)

        # Double-click resets to the whole recording: back to the base data, no fetch.
        requests_now = len(outside.ranges)
        page.dblclick("#chart .u-over")
        page.wait_for_function(
            "([key, n]) => Number(document.querySelector(`.target-card[data-key='${key}']`)"
            ".dataset.points) === n",
            arg=[key, bucketed],
            timeout=5_000,
        )
        page.wait_for_timeout(400)
        assert len(outside.ranges) == requests_now
        assert read_card(page, key)["max"] == SPIKE

        # Two zooms in quick succession: only the range shown last is drawn in detail.
        requests_before = detail_requests(page)
        drag_zoom(page, first + 60_000, first + 67_200)
        # the next frame draws it (long before the debounced request leaves)
        page.wait_for_function(
            "() => memlens.chart().scales.x.max - memlens.chart().scales.x.min < 10_000",
            timeout=5_000,
        )
        lo, hi = visible_range(page)
        drag_zoom(page, lo + 1_000, lo + 1_600)
        page.wait_for_function(
            "n => Number(document.body.dataset.detailRequests) > n",
            arg=requests_before,
            timeout=15_000,
        )
        settle(page)
        lo, hi = visible_range(page)
        assert 480 < hi - lo < 720
        assert abs(read_card(page, key)["points"] - (hi - lo)) <= 3
        assert server.proc.poll() is None
    finally:
        page.close()
        server.stop()
    assert outside.seen == []
    assert errors == []
