"""The `prices` job: current prices for many tickers through one session."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from kis_fetch.config import Settings
from kis_fetch.errors import ApiError, NotFoundError
from kis_fetch.models import Ticker
from kis_fetch.pipeline import Job, Outcome
from kis_fetch.quotes import (
    MULTI_MAX,
    PRICE_COLUMNS,
    PriceRow,
    fetch_domestic,
    fetch_domestic_many,
    fetch_overseas,
)
from kis_fetch.report import Reporter
from kis_fetch.resolve import Resolver
from kis_fetch.runner import JobKind, OutputOptions, run_job
from kis_fetch.session import Session

log = logging.getLogger(__name__)


def build_jobs(tickers: list[Ticker], batch_size: int, window: int) -> Iterator[Job]:
    """Group domestic tickers into batches; every other ticker is its own job.

    A batch is sent early when later tickers have moved `window / 2` positions
    past its first one, so ordered output never waits on an unsent batch.
    """
    pending: list[tuple[int, Ticker]] = []
    for index, ticker in enumerate(tickers):
        if ticker.is_domestic and batch_size > 1:
            pending.append((index, ticker))
            if len(pending) == batch_size:
                yield Job(pending)
                pending = []
            continue
        if pending and index - pending[0][0] >= window // 2:
            yield Job(pending)
            pending = []
        yield Job([(index, ticker)])
    if pending:
        yield Job(pending)


class PriceJobs:
    """Fetches one job's tickers and turns failures into outcomes."""

    def __init__(self, session: Session, resolver: Resolver, batch: bool) -> None:
        self._client = session.client
        self._resolver = resolver
        self.batch = batch

    async def __call__(self, job: Job) -> list[Outcome[PriceRow]]:
        if self.batch and job.items[0][1].is_domestic:
            return await self._domestic_batch(job)
        outcomes: list[Outcome[PriceRow]] = []
        for index, ticker in job.items:
            try:
                row = await self._one(ticker)
            except ApiError as exc:
                outcomes.append(Outcome(index, ticker, error=str(exc)))
            else:
                outcomes.append(Outcome(index, ticker, rows=[row]))
        return outcomes

    async def _domestic_batch(self, job: Job) -> list[Outcome[PriceRow]]:
        tickers = [ticker for _, ticker in job.items]
        try:
            rows = await fetch_domestic_many(self._client, tickers)
        except ApiError as exc:
            return [
                Outcome(index, ticker, error=str(exc)) for index, ticker in job.items
            ]
        outcomes: list[Outcome[PriceRow]] = []
        for index, ticker in job.items:
            row = rows.get(ticker.symbol)
            if row is None:
                outcomes.append(Outcome(index, ticker, error="not found"))
                continue
            if row.name is None:
                name = self._resolver.name(ticker.symbol, "KRX")
                if name:
                    row = _with_name(row, name)
            outcomes.append(Outcome(index, ticker, rows=[row]))
        return outcomes

    async def _one(self, ticker: Ticker) -> PriceRow:
        if ticker.is_domestic:
            name = self._resolver.name(ticker.symbol, "KRX")
            return await fetch_domestic(self._client, ticker, name)
        if ticker.exchange is not None:
            name = self._resolver.name(ticker.symbol, ticker.exchange)
            try:
                return await fetch_overseas(
                    self._client, ticker.symbol, ticker.exchange, name
                )
            except NotFoundError as exc:
                raise self._resolver.not_found(ticker, str(exc)) from None
        return await self._bare_us(ticker)

    async def _bare_us(self, ticker: Ticker) -> PriceRow:
        tried = []
        for exchange in self._resolver.candidates(ticker):
            tried.append(exchange)
            name = self._resolver.name(ticker.symbol, exchange)
            try:
                row = await fetch_overseas(self._client, ticker.symbol, exchange, name)
            except NotFoundError:
                continue
            self._resolver.cache.put(ticker.symbol, exchange)
            return row
        raise self._resolver.not_found(ticker, f"not found on {', '.join(tried)}")


def _with_name(row: PriceRow, name: str) -> PriceRow:
    return replace(row, name=name)


def price_kind(batch: bool) -> JobKind[PriceRow]:
    """Describe the prices job; `batch` prices domestic symbols 30 per call."""

    def build_handler(
        session: Session, resolver: Resolver, workers: int, total: int
    ) -> PriceJobs:
        return PriceJobs(session, resolver, batch)

    def jobs(tickers: list[Ticker], window: int) -> Iterator[Job]:
        return build_jobs(tickers, MULTI_MAX if batch else 1, window)

    return JobKind(
        name="prices",
        columns=PRICE_COLUMNS,
        build_handler=build_handler,
        build_jobs=jobs,
        row_values=PriceRow.values,
    )


async def run_prices(
    settings: Settings,
    tickers: list[Ticker],
    output: OutputOptions,
    reporter: Reporter,
    *,
    master_dir: Path | None,
    batch: bool | None,
    timeout: float,
) -> int:
    """Fetch prices for `tickers`, write the rows, and return the exit code.

    Batching defaults to on for the real server; the paper server does not
    offer intstock-multprice.
    """
    use_batch = (not settings.is_paper) if batch is None else batch
    return await run_job(
        price_kind(use_batch), settings, tickers, output, reporter,
        master_dir=master_dir, timeout=timeout,
    )  # fmt: skip
