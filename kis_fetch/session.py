"""The objects one run shares: HTTP client, tokens, rate control, and the
signal handling that turns SIGINT and SIGTERM into a clean stop."""

from __future__ import annotations

import asyncio
import logging
import math
import signal
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType

import httpx

from kis_fetch.auth import TokenManager, make_cache_dir
from kis_fetch.client import KisClient
from kis_fetch.config import Settings
from kis_fetch.errors import EXIT_SIGINT, EXIT_SIGTERM
from kis_fetch.limiter import RateController, SharedSchedule

log = logging.getLogger(__name__)

AUTO_CONCURRENCY_CAP = 128
MIN_CONCURRENCY = 4
# Headroom over rate x latency, so that latency spikes do not starve the limiter.
CONCURRENCY_HEADROOM = 1.5


def initial_concurrency(settings: Settings) -> int:
    """Return the starting number of requests in flight.

    Without --concurrency, start with enough for two seconds of latency at
    the full rate; `desired_concurrency` then follows the observed latency.
    """
    if settings.concurrency is not None:
        return settings.concurrency
    return max(
        MIN_CONCURRENCY, min(AUTO_CONCURRENCY_CAP, math.ceil(settings.rate * 2) + 2)
    )


def desired_concurrency(rate: float, latency: float) -> int:
    """Return how many requests must be in flight to sustain `rate` at `latency`."""
    needed = math.ceil(rate * latency * CONCURRENCY_HEADROOM) + 2
    return max(MIN_CONCURRENCY, min(AUTO_CONCURRENCY_CAP, needed))


class Session:
    """Owns the httpx client and everything built on it for one run."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float,
        on_wait: Callable[[str], None] | None = None,
        shared_budget: bool = True,
    ) -> None:
        self.settings = settings
        pool_size = settings.concurrency or AUTO_CONCURRENCY_CAP
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, pool=None),
            limits=httpx.Limits(
                max_connections=pool_size, max_keepalive_connections=pool_size
            ),
            headers={"user-agent": "kis-fetch"},
        )
        self.tokens = TokenManager(self.http, settings, on_wait=on_wait)
        self._schedule: SharedSchedule | None = None
        if shared_budget:
            folder = make_cache_dir(settings.cache_dir) / "budget"
            self._schedule = SharedSchedule(
                make_cache_dir(folder) / f"{self.tokens.cache.key_id}.slot"
            )
        self.rate = RateController(settings.rate, shared=self._schedule)
        self.client = KisClient(self.http, settings, self.tokens, self.rate)
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Session:
        await self._stack.enter_async_context(self.http)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()
        if self._schedule is not None:
            self._schedule.close()


class StopSignals:
    """Calls `on_stop` on the first SIGINT or SIGTERM and remembers which."""

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self._on_stop = on_stop
        self.exit_code: int | None = None
        self._loop = asyncio.get_running_loop()

    def __enter__(self) -> StopSignals:
        for number, code in (
            (signal.SIGINT, EXIT_SIGINT),
            (signal.SIGTERM, EXIT_SIGTERM),
        ):
            self._loop.add_signal_handler(number, self._handle, code)
        return self

    def _handle(self, code: int) -> None:
        if self.exit_code is None:
            self.exit_code = code
            log.info("stopping: signal received")
            self._on_stop()

    def __exit__(self, *exc_info: object) -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._loop.remove_signal_handler(number)
