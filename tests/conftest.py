"""Fixtures shared by every test module: simulators on 127.0.0.1."""

from sim_fixture import sim, sim_factory

__all__ = ["sim", "sim_factory"]
