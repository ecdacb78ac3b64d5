"""Every query parameter of the HTTP API, however malformed, answers 200 with JSON or a
4xx naming the parameter: never a 500. Against real servers: `serve` on a recording
(answers from SQLite) and `watch` (answers from memory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import MemlensServer, synthetic_day

ENDPOINTS = {
    "api/targets": (),
    "api/samples": ("target", "since", "limit"),
    "api/range": ("target", "start", "end", "buckets"),
    "healthz": (),
}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("rec") / "rec.db"
    _, key = synthetic_day(path, seconds=600, spike_at=300)
    return path, key


@pytest.fixture(scope="module")
def served(recording: tuple[Path, str]) -> Iterator[tuple[MemlensServer, str]]:
    srv = MemlensServer("serve", str(recording[0]), "--port", "0")
    try:
        yield srv, recording[1]
    finally:
        assert srv.stop() == 0


def values(key: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(key),
        st.text(max_size=30),
        st.integers().map(str),
        st.integers(min_value=10**15).map(str),
        st.floats().map(str),
        st.sampled_from(["", "nan", "inf", "-inf", "1e999", "-0", "0", "1", "9" * 30, "0x10"]),
    )


def check(server: MemlensServer, path: str, params: dict[str, str]) -> None:
    response = server.get(path, params=params, timeout=30)
    assert response.status_code < 500, (path, params, response.text)
    body = response.json()  # JSON either way
    if response.status_code >= 400:
        assert response.status_code in (400, 404), (path, params)
        assert isinstance(body["error"], str)
        if response.status_code == 400 and "target" in params:
            # The message names a parameter that was sent wrong, not another one.
            assert any(name in body["error"] for name in ENDPOINTS[path]), body


@st.composite
def requests(draw: st.DrawFn, key: str) -> tuple[str, dict[str, str]]:
    path = draw(st.sampled_from(sorted(ENDPOINTS)))
    names = draw(st.lists(st.sampled_from(ENDPOINTS[path] or ("x",)), unique=True))
    return path, {name: draw(values(key)) for name in names}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_serve_never_answers_500(served: tuple[MemlensServer, str], data: st.DataObject) -> None:
    server, key = served
    check(server, *data.draw(requests(key)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_watch_never_answers_500(watched: tuple[MemlensServer, str], data: st.DataObject) -> None:
    server, key = watched
    check(server, *data.draw(requests(key)))


@pytest.mark.parametrize(
    ("path", "bad", "named"),
    [
        ("api/samples", {"limit": "99999999999999999999999"}, "limit"),
        ("api/samples", {"limit": "0"}, "limit"),
        ("api/samples", {"since": "nan"}, "since"),
        ("api/range", {"start": "x", "end": "1"}, "start"),
        ("api/range", {"start": "1", "end": "inf"}, "end"),
        ("api/range", {"start": "1", "end": "2", "buckets": "-3"}, "buckets"),
        ("api/range", {"start": "1", "end": "2", "buckets": "9" * 40}, "buckets"),
        ("api/range", {"start": "2", "end": "1"}, "end"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(
    served: tuple[MemlensServer, str], path: str, bad: dict[str, str], named: str
) -> None:
    server, key = served
    response = server.get(path, params={"target": key, **bad})
    assert response.status_code == 400, response.text
    error: str = response.json()["error"]
    assert error.startswith(named), error


def test_serve_has_no_metrics_and_the_readme_says_so(served: tuple[MemlensServer, str]) -> None:
    server, _ = served
    assert server.get("metrics").status_code == 404
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "every server answers `/metrics`" not in readme
    assert "`serve` shows a recording and does not" in readme
