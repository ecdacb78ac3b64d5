"""Real Chromium opens the HTML report of a real recording file, offline: every chart
draws, the leak window is shaded on the leaking target's chart and only there, the alert
is marked, and the page asks for nothing outside itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import run_memlens
from integration.test_report import LEAKER, STEADY, Made, write_recording

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)


class FileOnly(OutsideRequests):
    """Anything but file: (and data:, blob:, about:) is outside for a page opened from disk."""

    def _check(self, request: Any) -> None:
        if urlsplit(request.url).scheme not in ("file", "data", "blob", "about"):
            self.seen.append(request.url)


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Made, Path]:
    folder = tmp_path_factory.mktemp("report-page")
    made = write_recording(folder / "nightly.db")
    out = folder / "report.html"
    result = run_memlens("report", str(made.db), "--format", "html", "-o", str(out), timeout=120)
    assert result.returncode == 0, result.stderr
    return made, out


def chart_state(page: Any, key: str) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(
        """key => {
            const el = document.querySelector(`.chart[data-key="${key}"]`);
            return {
                ready: el.dataset.ready,
                points: Number(el.dataset.points),
                windows: Number(el.dataset.windows || 0),
                band: el.dataset.band || "",
                marks: Number(el.dataset.marks || 0),
                canvases: el.querySelectorAll("canvas").length,
            };
        }""",
        key,
    )
    return state


def shaded_share(page: Any, key: str, x: float) -> float:
    """The share of pixels down the column `x` (CSS px from the chart's left) of the plot
    area that carry the band's colour: reddish and faint. The series' line and the grid
    cross the column in a few places."""
    share: float = page.evaluate(
        """([key, x]) => {
            const el = document.querySelector(`.chart[data-key="${key}"]`);
            const canvas = el.querySelector("canvas");
            const ratio = window.devicePixelRatio || 1;
            const [top, height] = el.dataset.plot.split(",").map(Number);
            const ctx = canvas.getContext("2d");
            let hits = 0, n = 0;
            for (let y = top + 2; y < top + height - 2; y += 3) {
                const [r, g, b, a] = ctx.getImageData(
                    Math.round(x * ratio), Math.round(y * ratio), 1, 1).data;
                n++;
                if (a > 0 && r > g + 20 && r > b + 20) hits++;
            }
            return hits / n;
        }""",
        [key, x],
    )
    return share


def test_the_report_draws_its_charts_and_marks_the_leak_window(
    browser: Any, page_file: tuple[Made, Path], artifacts_dir: Path
) -> None:
    _, path = page_file
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = PageErrors(page)
    outside = FileOnly(page, path.as_uri())
    try:
        page.goto(path.as_uri())
        page.wait_for_function("document.body.dataset.charts === '2'", timeout=15_000)

        leaker = chart_state(page, LEAKER)
        assert leaker["ready"] == "1"
        assert leaker["canvases"] >= 1
        assert leaker["points"] > 4000 * 0.5  # drawn from the samples, at most 4,000
        assert leaker["windows"] == 1
        assert leaker["marks"] >= 2  # the leak alert, the RSS threshold crossing, the exit
        x0, x1 = (float(v) for v in leaker["band"].split(","))
        assert x1 - x0 > 50  # the leak runs for the last part of the recording
        # the band is under a dense line of noisy samples, so not every pixel shows it
        assert shaded_share(page, LEAKER, (x0 + x1) / 2) > 0.5
        assert shaded_share(page, LEAKER, x0 / 2) < 0.1  # before the leak: not shaded

        steady = chart_state(page, STEADY)
        assert steady["ready"] == "1"
        assert steady["windows"] == 0
        assert steady["band"] == ""

        # The verdicts and figures are on the page as text.
        verdict = page.get_attribute(f'.target[data-key="{LEAKER}"] .verdict', "data-verdict")
        assert verdict == "leak"
        assert (
            page.get_attribute(
                f'#figures tr[data-key="{STEADY}"] [data-stat="trend"]', "data-verdict"
            )
            == "flat"
        )
        assert page.locator('[data-card="leaks"] b').inner_text() == "1"
        kinds = page.eval_on_selector_all(
            "#recommendations > li", "items => items.map(li => li.dataset.kind)"
        )
        assert kinds[0] == "leak"
        assert "system-memory" in kinds
        assert "not recorded" in page.inner_text("#system")
        assert page.evaluate("document.scripts.length") == 3

        page.locator(f'.target[data-key="{LEAKER}"]').scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "report-html.png"), full_page=True)
        assert outside.seen == []
        assert errors == []
    finally:
        page.close()
