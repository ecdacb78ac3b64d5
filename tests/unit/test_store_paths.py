"""Where the recording file lives by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from memlens.store import default_db_path


def test_memlens_db_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEMLENS_DB", str(tmp_path / "x.db"))
    monkeypatch.setenv("XDG_DATA_HOME", "/elsewhere")
    assert default_db_path() == tmp_path / "x.db"


def test_xdg_data_home_then_its_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MEMLENS_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_db_path() == tmp_path / "data" / "memlens" / "memlens.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / ".local" / "share" / "memlens" / "memlens.db"
    monkeypatch.setenv("XDG_DATA_HOME", "")  # empty counts as unset, as XDG says
    assert default_db_path() == tmp_path / "home" / ".local" / "share" / "memlens" / "memlens.db"
