"""Pytest fixtures that run the KIS simulator on 127.0.0.1 in a background thread.

Import them into a test module: `from sim_fixture import sim, sim_factory`.
The master files come from the `shared/data` folder beside the repository.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kis_fetch.sim import RunningSim, SimConfig, start_in_thread

MASTER_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"

SimFactory = Callable[..., RunningSim]


@pytest.fixture
def sim_factory() -> Iterator[SimFactory]:
    """Start simulators with `SimConfig` overrides; all stop after the test."""
    started: list[RunningSim] = []

    def start(**overrides: Any) -> RunningSim:
        overrides.setdefault("master_dir", MASTER_DIR)
        running = start_in_thread(SimConfig(**overrides))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def sim(sim_factory: SimFactory) -> RunningSim:
    """A real-flavor simulator with the default settings (limit 20/s)."""
    return sim_factory()
