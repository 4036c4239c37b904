"""A KIS Open API gateway simulator for tests, demos and benchmarks.

It serves the quotation TRs kis-fetch calls, token issuance with KIS's
one-per-minute rule, the per-key rate limit with EGW00201 responses, and
injected faults, all on 127.0.0.1 with deterministic prices.
"""

from kis_fetch.sim.config import FAULT_KINDS, KeySpec, SimConfig
from kis_fetch.sim.quotes import (
    Bar,
    domestic_bars,
    domestic_today,
    overseas_bars,
    us_today,
)
from kis_fetch.sim.runner import RunningSim, start_in_thread

__all__ = [
    "FAULT_KINDS",
    "Bar",
    "KeySpec",
    "RunningSim",
    "SimConfig",
    "domestic_bars",
    "domestic_today",
    "overseas_bars",
    "start_in_thread",
    "us_today",
]
