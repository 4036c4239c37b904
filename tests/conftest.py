"""Fixtures shared by every test module: simulators on 127.0.0.1 and an
environment that never reads the developer's own configuration."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sim_fixture import sim, sim_factory

__all__ = ["sim", "sim_factory"]


@pytest.fixture(autouse=True)
def isolated_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point the config file at an empty temporary path."""
    monkeypatch.setenv("KIS_FETCH_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("KIS_PROFILE", raising=False)


@pytest.fixture(autouse=True)
def close_installed_event_loop() -> Iterator[None]:
    """Close an event loop that earlier async tests left installed.

    pytest-asyncio 1.3 installs a loop with asyncio.get_event_loop() and never
    closes it; asyncio.run() in a later sync test then drops it unclosed, and
    the ResourceWarning fails that test under filterwarnings=error.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = None
    if loop is not None and not loop.is_running():
        loop.close()
        asyncio.set_event_loop(None)
    yield
