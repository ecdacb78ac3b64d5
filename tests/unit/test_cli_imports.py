"""What the command line loads before a command runs: `memlens watch` is long-running and
shares it, so libraries that only some commands use are imported where they are used."""

from __future__ import annotations

import subprocess
import sys

# textual (`top`), rich (printed tables) and prometheus_client (the first /metrics scrape)
# weigh about 10 MB of resident memory together.
LOADED_ON_USE = ("textual", "rich", "prometheus_client")


def test_the_command_line_and_the_watch_server_load_no_library_they_do_not_use() -> None:
    probe = (
        "import sys\n"
        "import memlens.cli, memlens.web.server, memlens.cli._dashboard\n"
        f"print(' '.join(m for m in {LOADED_ON_USE!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == []


def test_a_scrape_loads_prometheus_client_when_it_is_asked_for() -> None:
    probe = (
        "import sys\n"
        "from memlens.metrics.prometheus import LiveMetrics\n"
        "metrics = LiveMetrics()\n"
        "before = 'prometheus_client' in sys.modules\n"
        "body, kind = metrics.render()\n"
        "print(before, 'prometheus_client' in sys.modules, b'memlens_targets' in body)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "True", "True"]
