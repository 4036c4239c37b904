"""The `prices` job: current prices for many tickers through one session."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from kis_fetch.config import Settings
from kis_fetch.errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    ApiError,
    NotFoundError,
)
from kis_fetch.models import US_PROBE_ORDER, Ticker
from kis_fetch.output import RowWriter, open_writer, read_done_keys
from kis_fetch.pipeline import Job, Outcome, Pipeline
from kis_fetch.quotes import (
    MULTI_MAX,
    PRICE_COLUMNS,
    PriceRow,
    fetch_domestic,
    fetch_domestic_many,
    fetch_overseas,
)
from kis_fetch.report import Reporter, RunSummary
from kis_fetch.resolve import ExchangeCache, Resolver, load_masters
from kis_fetch.session import (
    Session,
    StopSignals,
    desired_concurrency,
    initial_concurrency,
)

log = logging.getLogger(__name__)

GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class OutputOptions:
    """Where and how rows are written."""

    fmt: str
    path: Path | None
    resume: bool
    console: Console


def skip_done(
    tickers: list[Ticker], done: set[tuple[str, str]]
) -> tuple[list[Ticker], int]:
    """Drop tickers that already have rows; a bare US symbol matches any US exchange."""
    if not done:
        return tickers, 0
    us_done = {symbol for symbol, exchange in done if exchange in US_PROBE_ORDER}
    kept = []
    for ticker in tickers:
        if ticker.exchange is None:
            if ticker.symbol in us_done:
                continue
        elif (ticker.symbol, ticker.exchange) in done:
            continue
        kept.append(ticker)
    return kept, len(tickers) - len(kept)


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
            return await fetch_overseas(
                self._client, ticker.symbol, ticker.exchange, name
            )
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
        raise NotFoundError(f"not found on {', '.join(tried)}")


def _with_name(row: PriceRow, name: str) -> PriceRow:
    from dataclasses import replace

    return replace(row, name=name)


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
    """Fetch prices for `tickers`, write the rows, and return the exit code."""
    summary = RunSummary()
    if output.resume and output.path is not None:
        done = read_done_keys(output.fmt, output.path, PRICE_COLUMNS)
        tickers, summary.skipped = skip_done(tickers, done)
    summary.total = len(tickers)
    use_batch = (not settings.is_paper) if batch is None else batch

    resolver = Resolver(load_masters(master_dir), ExchangeCache(settings.cache_dir))
    writer: RowWriter | None = None

    def emit(outcome: Outcome[PriceRow]) -> None:
        nonlocal writer
        if writer is None:
            writer = open_writer(
                output.fmt, output.path, PRICE_COLUMNS,
                resume=output.resume, console=output.console,
            )  # fmt: skip
        if outcome.error is not None:
            summary.failed += 1
            reporter.failure(outcome.ticker.key, outcome.error)
        else:
            for row in outcome.rows:
                writer.write(row.values())
            summary.fetched += 1
        reporter.advance()

    async with Session(settings, timeout=timeout, on_wait=reporter.info) as session:
        # Authenticate before any output exists, so that a credentials error
        # leaves an existing output file as it was.
        await session.tokens.token()

        window = max(1000, initial_concurrency(settings) * 8)
        pipeline: Pipeline[PriceRow] = Pipeline(
            PriceJobs(session, resolver, use_batch),
            emit,
            workers=initial_concurrency(settings),
            window=window,
        )
        jobs = build_jobs(tickers, MULTI_MAX if use_batch else 1, window)
        reporter.start("prices", summary.total)
        sizer = None
        if settings.concurrency is None:
            sizer = asyncio.create_task(_follow_latency(session, pipeline))
        completed = False
        try:
            with StopSignals(pipeline.stop) as signals:
                completed = await pipeline.run(jobs, summary.total, GRACE_SECONDS)
        finally:
            if sizer is not None:
                sizer.cancel()
            summary.requests = session.client.stats.requests
            summary.throttled = session.rate.throttled
            summary.ended = time.monotonic()
            resolver.cache.save()
            if writer is None and (completed or summary.fetched or summary.failed):
                writer = open_writer(
                    output.fmt, output.path, PRICE_COLUMNS,
                    resume=output.resume, console=output.console,
                )  # fmt: skip
            if writer is not None:
                writer.close(keep=True)

    log.info(
        "rate: %.1f/s configured, lowest %.1f/s after EGW00201, %d workers at the end",
        session.rate.max_rate, session.rate.lowest_rate, pipeline.worker_count,
    )  # fmt: skip
    if pipeline.fatal is not None:
        reporter.summary(summary, interrupted=True)
        raise pipeline.fatal
    reporter.summary(summary, interrupted=signals.exit_code is not None)
    if signals.exit_code is not None:
        return signals.exit_code
    return EXIT_PARTIAL if summary.failed else EXIT_OK


async def _follow_latency(session: Session, pipeline: Pipeline[PriceRow]) -> None:
    """Add workers when observed latency needs more requests in flight."""
    while True:
        await asyncio.sleep(0.5)
        latency = session.client.stats.recent_latency
        if latency > 0:
            pipeline.grow(desired_concurrency(session.rate.rate, latency))
