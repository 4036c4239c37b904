"""One fetching run from tickers to written rows, shared by `prices` and
`history`: resume, authentication before any output, the worker pipeline,
signals, output and the exit code."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from rich.console import Console

from kis_fetch.auth import make_cache_dir
from kis_fetch.config import Settings
from kis_fetch.errors import EXIT_OK, EXIT_PARTIAL
from kis_fetch.models import US_PROBE_ORDER, Ticker
from kis_fetch.output import (
    OutputLock,
    RowWriter,
    is_stream_path,
    open_writer,
    read_done_keys,
)
from kis_fetch.pipeline import Handler, Job, Outcome, Pipeline
from kis_fetch.report import Reporter, RunSummary
from kis_fetch.resolve import ExchangeCache, Resolver, load_masters
from kis_fetch.session import (
    Session,
    StopSignals,
    desired_concurrency,
    initial_concurrency,
)

log = logging.getLogger(__name__)

RowT = TypeVar("RowT")

# Seconds that requests in flight get to finish after SIGINT or SIGTERM.
GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class OutputOptions:
    """The destination and format of the rows."""

    fmt: str
    path: Path | None
    resume: bool
    console: Console


@dataclass
class JobKind(Generic[RowT]):
    """The parts in which the fetching commands differ."""

    name: str
    columns: Sequence[str]
    # Builds the handler from the session, resolver, starting workers and the
    # number of tickers to fetch.
    build_handler: Callable[[Session, Resolver, int, int], Handler[RowT]]
    # Groups the tickers into jobs; the second argument is the reorder window.
    build_jobs: Callable[[list[Ticker], int], Iterator[Job]]
    row_values: Callable[[RowT], Sequence[object]]
    progress_detail: Callable[[], str] = field(default=lambda: "")
    pages: Callable[[], int] = field(default=lambda: 0)


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


def respell(tickers: list[Ticker], resolver: Resolver) -> list[Ticker]:
    """Spell each ticker as the master files list it (BRK.B as BRK/B).

    A ticker that becomes the same as an earlier one is dropped.
    """
    spelled: dict[Ticker, None] = {}
    for ticker in tickers:
        kis_ticker = resolver.kis_spelling(ticker)
        if kis_ticker != ticker:
            log.info(
                "%s: requesting %s, as the master files spell it",
                ticker.key,
                kis_ticker.key,
            )
        spelled.setdefault(kis_ticker, None)
    return list(spelled)


async def run_job(
    kind: JobKind[RowT],
    settings: Settings,
    tickers: list[Ticker],
    output: OutputOptions,
    reporter: Reporter,
    *,
    master_dir: Path | None,
    timeout: float,
) -> int:
    """Fetch rows for `tickers`, write them, and return the exit code."""
    lock = (
        OutputLock(output.path, make_cache_dir(settings.cache_dir / "locks"))
        if output.path is not None and not is_stream_path(output.path)
        else contextlib.nullcontext()
    )
    with lock:
        resolver = Resolver(load_masters(master_dir), ExchangeCache(settings.cache_dir))
        # Rows carry KIS's spelling, so --resume compares that spelling too.
        tickers = respell(tickers, resolver)
        summary = RunSummary()
        if output.resume and output.path is not None:
            done = read_done_keys(output.fmt, output.path, kind.columns)
            tickers, summary.skipped = skip_done(tickers, done)
        summary.total = len(tickers)

        writer: RowWriter | None = None

        def open_output() -> RowWriter:
            return open_writer(
                output.fmt, output.path, kind.columns,
                resume=output.resume, console=output.console,
            )  # fmt: skip

        # (symbol, exchange) pairs written so far: a bare US symbol can resolve to
        # the same series as an explicit EXCD:SYMBOL in the same input.
        written: set[tuple[object, object]] = set()

        def emit(outcome: Outcome[RowT]) -> None:
            nonlocal writer
            if writer is None:
                writer = open_output()
            if outcome.error is not None:
                summary.failed += 1
                reporter.failure(outcome.ticker.key, outcome.error)
            else:
                if outcome.notice is not None:
                    reporter.info(f"{outcome.ticker.key}: {outcome.notice}")
                rows = [kind.row_values(row) for row in outcome.rows]
                series = (rows[0][0], rows[0][1]) if rows else None
                if series is not None and series in written:
                    summary.duplicates += 1
                else:
                    if series is not None:
                        written.add(series)
                    writer.write_many(rows)
                    summary.fetched += 1
            reporter.advance(1, kind.progress_detail())

        async with Session(settings, timeout=timeout, on_wait=reporter.info) as session:
            # Authenticate before any output exists, so that a credentials error
            # leaves an existing output file as it was.
            await session.tokens.token()

            workers = initial_concurrency(settings)
            window = max(1000, workers * 8)
            pipeline: Pipeline[RowT] = Pipeline(
                kind.build_handler(session, resolver, workers, summary.total),
                emit,
                workers=workers,
                window=window,
            )
            jobs = kind.build_jobs(tickers, window)
            reporter.start(kind.name, summary.total)
            sizer = None
            if settings.concurrency is None:
                sizer = asyncio.create_task(follow_latency(session, pipeline))
            completed = False
            try:
                with StopSignals(lambda: stop_sending(pipeline, session)) as signals:
                    completed = await pipeline.run(jobs, GRACE_SECONDS)
            finally:
                if sizer is not None:
                    sizer.cancel()
                summary.pages = kind.pages()
                summary.requests = session.client.stats.requests
                summary.throttled = session.rate.throttled
                summary.ended = time.monotonic()
                resolver.cache.save()
                if writer is None and (completed or summary.fetched or summary.failed):
                    writer = open_output()
                if writer is not None:
                    writer.close(keep=True)

        log.info(
            "rate %.1f/s configured, lowest %.1f/s after EGW00201; "
            "%d workers at the end",
            session.rate.max_rate, session.rate.lowest_rate, pipeline.worker_count,
        )  # fmt: skip
        if pipeline.fatal is not None:
            if summary.fetched or summary.failed:
                reporter.summary(summary)
            raise pipeline.fatal
        reporter.summary(summary, interrupted=signals.exit_code is not None)
        if signals.exit_code is not None:
            return signals.exit_code
        return EXIT_PARTIAL if summary.failed else EXIT_OK


def stop_sending(pipeline: Pipeline[RowT], session: Session) -> None:
    """Stop dispatching jobs and sending requests. Responses in flight still
    complete their jobs."""
    pipeline.stop()
    session.rate.stop()


async def follow_latency(session: Session, pipeline: Pipeline[RowT]) -> None:
    """Add workers when observed latency needs more requests in flight."""
    while True:
        await asyncio.sleep(0.5)
        latency = session.client.stats.recent_latency
        if latency > 0:
            pipeline.grow(desired_concurrency(session.rate.rate, latency))
