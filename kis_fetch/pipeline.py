"""A bounded work pipeline: jobs flow through a queue to a pool of workers,
and outcomes come back in input order.

Memory stays bounded for any input size: the queue contains a few jobs per
worker, and the dispatcher waits while the oldest unfinished input is more
than `window` positions behind the newest dispatched one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from kis_fetch.models import Ticker

log = logging.getLogger(__name__)

RowT = TypeVar("RowT")


@dataclass
class Outcome(Generic[RowT]):
    """The result for one input ticker: rows, or the reason it failed."""

    index: int
    ticker: Ticker
    rows: list[RowT] = field(default_factory=list)
    error: str | None = None
    # A message for stderr about a ticker that did not fail, such as one
    # without bars in the requested range.
    notice: str | None = None


@dataclass
class Job:
    """Tickers handled by one worker call, with their input positions."""

    items: list[tuple[int, Ticker]]

    @property
    def first_index(self) -> int:
        return self.items[0][0]


class Reorderer(Generic[RowT]):
    """Releases outcomes in input order as the gaps before them fill."""

    def __init__(self, emit: Callable[[Outcome[RowT]], None]) -> None:
        self._emit = emit
        self._pending: dict[int, Outcome[RowT]] = {}
        self.next_index = 0
        self.advanced = asyncio.Event()

    def add(self, outcome: Outcome[RowT]) -> None:
        self._pending[outcome.index] = outcome
        released = False
        while self.next_index in self._pending:
            self._emit(self._pending.pop(self.next_index))
            self.next_index += 1
            released = True
        if released:
            self.advanced.set()

    def flush(self) -> None:
        """Release every buffered outcome, in order, across any gaps."""
        for index in sorted(self._pending):
            self._emit(self._pending.pop(index))


Handler = Callable[[Job], Awaitable[list[Outcome[RowT]]]]


class Pipeline(Generic[RowT]):
    """Runs `handler` over jobs with a resizable pool of workers."""

    def __init__(
        self,
        handler: Handler[RowT],
        emit: Callable[[Outcome[RowT]], None],
        *,
        workers: int,
        window: int,
    ) -> None:
        self._handler = handler
        self._reorderer: Reorderer[RowT] = Reorderer(emit)
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=max(workers, 8))
        self._window = window
        self._workers: list[asyncio.Task[None]] = []
        self._target_workers = workers
        self.stopping = asyncio.Event()
        self.fatal: BaseException | None = None
        self.in_flight = 0

    @property
    def worker_count(self) -> int:
        return len(self._workers)

    def grow(self, workers: int) -> None:
        """Add workers until there are `workers` of them."""
        while len(self._workers) < workers:
            self._workers.append(asyncio.create_task(self._work()))

    async def run(self, jobs: Iterable[Job], grace: float) -> bool:
        """Process all jobs; return False when stopped early.

        After `stop()` no new job starts; jobs in flight get `grace` seconds
        to finish, then they are cancelled and buffered outcomes are flushed.
        """
        self.grow(self._target_workers)
        dispatcher = asyncio.create_task(self._dispatch(jobs))
        stop_wait = asyncio.create_task(self.stopping.wait())
        done, _ = await asyncio.wait(
            {dispatcher, stop_wait}, return_when=asyncio.FIRST_COMPLETED
        )
        completed = dispatcher in done and not self.stopping.is_set()
        if completed:
            drained = asyncio.create_task(self._queue.join())
            stopped = asyncio.create_task(self.stopping.wait())
            await asyncio.wait({drained, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if drained.done() and not self.stopping.is_set():
                # Every job is done, so the workers are idle on an empty queue.
                for task in self._workers:
                    task.cancel()
                await asyncio.gather(*self._workers, return_exceptions=True)
            else:
                drained.cancel()
                completed = False
                await self._wind_down(grace)
        else:
            dispatcher.cancel()
            await self._wind_down(grace)
        stop_wait.cancel()
        if not completed:
            self._reorderer.flush()
        return completed and self.fatal is None

    def stop(self) -> None:
        self.stopping.set()

    async def _wind_down(self, grace: float) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        # Idle workers wait on the queue forever, so wait only for jobs in
        # flight, then cancel every worker.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _dispatch(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            while job.first_index - self._reorderer.next_index > self._window:
                self._reorderer.advanced.clear()
                await self._reorderer.advanced.wait()
            await self._queue.put(job)

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                if self.stopping.is_set():
                    return
                self.in_flight += 1
                try:
                    outcomes = await self._handler(job)
                finally:
                    self.in_flight -= 1
                for outcome in outcomes:
                    self._reorderer.add(outcome)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.fatal is None:
                    self.fatal = exc
                self.stop()
                return
            finally:
                self._queue.task_done()
