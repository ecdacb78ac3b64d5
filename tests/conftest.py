from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hypothesis import settings

from browser import CHROMIUM, CHROMIUM_ARGS, MISSING, chromium_missing
from helpers import Allocator, MemlensServer

# Property tests explore the same examples on every run (a failure found while writing
# code is kept as an example in its test), and no example is failed for being slow on
# a loaded machine: timings are not what these tests judge.
settings.register_profile("memlens", derandomize=True, deadline=None)
settings.load_profile("memlens")


@pytest.fixture(autouse=True)
def private_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test (and every memlens it starts) records into its own store, never ~."""
    path = tmp_path_factory.mktemp("store") / "memlens.db"
    monkeypatch.setenv("MEMLENS_DB", str(path))
    return path


@pytest.fixture(autouse=True)
def private_agents(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Python agents started by a test (and memlens looking for them) use a runtime
    directory of the test's own, never the user's: no test sees another's agents. It is
    short (Unix socket paths are limited to about 100 bytes), and no agent setting of
    the environment the tests run in is inherited."""
    path = Path(tempfile.mkdtemp(prefix="mlt-", dir="/tmp"))
    path.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    for name in ("MEMLENS_AGENT", "MEMLENS_AGENT_ADDRESS", "MEMLENS_AGENT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def runtime(private_agents: Path) -> Path:
    """The private runtime directory, by the name the agent tests use for it."""
    return private_agents


@pytest.fixture
def allocator() -> Iterator[Allocator]:
    child = Allocator()
    try:
        yield child
    finally:
        child.stop()


@pytest.fixture(scope="module")
def watched() -> Iterator[tuple[MemlensServer, str]]:
    """A real `memlens watch` of one child, for a module's worth of requests, and the
    child's target key."""
    child = Allocator()
    srv = MemlensServer("watch", str(child.pid), "--port", "0", "--no-record")
    try:
        key = srv.get("api/targets").json()["targets"][0]["key"]
        yield srv, key
    finally:
        assert srv.stop() == 0
        child.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module.

    Not per session: Playwright's sync API keeps an event loop running on the main thread
    while it is open, and later tests that call asyncio.run() would fail."""
    if chromium_missing():
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path
