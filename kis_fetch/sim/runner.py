"""Ways to run the simulator: in the foreground, or in a background thread."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Coroutine
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from kis_fetch.sim.app import Clock, SimApp
from kis_fetch.sim.catalog import Catalog
from kis_fetch.sim.config import SimConfig
from kis_fetch.sim.http import HttpServer

log = logging.getLogger("kis_fetch.sim")

T = TypeVar("T")


@lru_cache(maxsize=8)
def load_catalog(directory: Path) -> Catalog:
    """Load the master files below `directory` once per process."""
    return Catalog.load(directory)


async def start_server(
    config: SimConfig, clock: Clock = time.time
) -> tuple[SimApp, HttpServer]:
    """Build the app and start listening; return both."""
    catalog = load_catalog(config.master_dir.resolve())
    app = SimApp(config, catalog, clock)

    def count_connection() -> None:
        app.stats.connections += 1

    server = HttpServer(app.handle, config.host, config.port, count_connection)
    await server.start()
    return app, server


def run(config: SimConfig) -> None:
    """Serve until SIGINT or SIGTERM, printing the URL line once listening."""

    async def main() -> None:
        app, server = await start_server(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print(f"listening on http://{config.host}:{server.port}", flush=True)
        log.info(
            "simulator started: flavor %s, rate limit %d/s, %d domestic and %d "
            "overseas symbols",
            config.flavor,
            config.effective_rate_limit,
            len(app.catalog.domestic),
            sum(len(listings) for listings in app.catalog.overseas.values()),
        )
        await stop.wait()
        await server.close()
        log.info(
            "simulator stopped after %d requests", sum(app.stats.requests.values())
        )

    asyncio.run(main())


class RunningSim:
    """A simulator serving from a background thread with its own event loop.

    Use it as a context manager, or call `stop()` when done.
    """

    def __init__(self, config: SimConfig, clock: Clock = time.time) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._app: SimApp | None = None
        self._server: HttpServer | None = None
        self._thread = threading.Thread(
            target=self._run, args=(config, clock), name="kis-sim", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def _run(self, config: SimConfig, clock: Clock) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main(config, clock))
        except BaseException as exc:  # reported to the starting thread
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                log.exception("simulator thread failed")
        finally:
            self._loop.close()

    async def _main(self, config: SimConfig, clock: Clock) -> None:
        self._app, self._server = await start_server(config, clock)
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await self._server.close()

    @property
    def app(self) -> SimApp:
        """The app object; touch its state only through `call`."""
        assert self._app is not None
        return self._app

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"http://{self.app.config.host}:{self.port}"

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the simulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def stats(self) -> dict[str, Any]:
        """Return the same counters as GET /_sim/stats."""

        async def snapshot() -> dict[str, Any]:
            return self.app.stats_payload()

        return self.call(snapshot())

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings as POST /_sim/config does; return the new settings."""

        async def apply() -> dict[str, Any]:
            self.app.configure(changes)
            return self.app.config_summary()

        return self.call(apply())

    def reset(self, tokens: bool = False) -> None:
        """Clear counters and rate windows, and optionally all token state."""

        async def clear() -> None:
            self.app.reset(tokens=tokens)

        self.call(clear())

    def expire_tokens(self) -> int:
        """Expire every issued token now; return how many were still valid."""

        async def expire() -> int:
            return self.app.tokens.expire_all(self.app.clock())

        return self.call(expire())

    def stop(self) -> None:
        """Stop serving and join the thread; later calls do nothing."""
        if not self._thread.is_alive():
            return
        stop = self._stop
        if stop is not None:
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            log.warning("the simulator thread did not stop within 10 s")

    def __enter__(self) -> RunningSim:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_in_thread(config: SimConfig, clock: Clock = time.time) -> RunningSim:
    """Start a simulator in a background thread and return once it listens."""
    return RunningSim(config, clock)
