"""The `history` job: daily, weekly or monthly bars for many tickers.

- Domestic: inquire-daily-itemchartprice (tr_id FHKST03010100).
- Overseas: dailyprice (tr_id HHDFS76240000).

Both TRs return at most 100 bars per call, newest first, and neither supports
tr_cont paging, so the fetcher pages backwards with a date cursor: the next
request ends the day before the period of the oldest bar returned.

Paging plan for one symbol. The first page covers the whole range. It serves
as the not-found check and the exchange probe for a bare US symbol, and a
short first page finishes the symbol in one call. When more remains and there
are fewer symbols than workers, the rest of the range is split into spans of
100 periods (100 weekdays for daily bars, which is 20 calendar weeks). Each
span is fetched by its own task, so a few symbols still keep the rate limiter
busy. A span contains at most 100 bars on an exchange that trades Monday to
Friday, so it normally takes one call. With as many symbols as workers, each
symbol pages sequentially and spends exactly one call per 100 bars.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from kis_fetch.client import KisClient
from kis_fetch.config import Settings
from kis_fetch.errors import (
    ApiError,
    ConfigError,
    NotFoundError,
)
from kis_fetch.models import DOMESTIC, Ticker
from kis_fetch.pipeline import Job, Outcome
from kis_fetch.quotes import to_decimal
from kis_fetch.report import Reporter
from kis_fetch.resolve import Resolver
from kis_fetch.runner import JobKind, OutputOptions, run_job
from kis_fetch.session import (
    Session,
)

log = logging.getLogger(__name__)

DOMESTIC_HISTORY = (
    "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice",
    "FHKST03010100",
)
OVERSEAS_HISTORY = ("/uapi/overseas-price/v1/quotations/dailyprice", "HHDFS76240000")

PAGE_SIZE = 100
PERIODS = ("day", "week", "month")
DOMESTIC_PERIOD_CODES = {"day": "D", "week": "W", "month": "M"}
OVERSEAS_PERIOD_CODES = {"day": "0", "week": "1", "month": "2"}

# KRX held Saturday sessions until December 1998, so before 1999 a range of
# weekend days may still contain bars.
WEEKDAYS_ONLY_SINCE = date(1999, 1, 1)

KST = timezone(timedelta(hours=9))

HISTORY_COLUMNS = (
    "symbol", "exchange", "date", "open", "high", "low", "close", "volume", "value",
)  # fmt: skip

ONE_DAY = timedelta(days=1)


def today_kst() -> date:
    """Return today's date in Korea (KST has no daylight saving time)."""
    return datetime.now(KST).date()


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar as KIS sent it, with prices in the exchange's currency."""

    day: date
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal | None
    volume: Decimal | None
    value: Decimal | None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One output row of `kis-fetch history`."""

    symbol: str
    exchange: str
    bar: Bar

    def values(self) -> tuple[object, ...]:
        bar = self.bar
        return (
            self.symbol, self.exchange, bar.day, bar.open, bar.high, bar.low,
            bar.close, bar.volume, bar.value,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Page:
    """The bars of one response, newest first, and whether KIS has the symbol."""

    bars: list[Bar]
    known: bool


class BarSource(Protocol):
    """One symbol on one TR, whose `page` returns the bars ending at `end`."""

    # True when the server limits a page to dates on or after `start`, so a
    # short page proves only that [start, end] contains no more bars.
    honors_start: bool
    # The ticker as output and logs show it, such as 005930 or NAS:AAPL.
    key: str

    async def page(self, start: date, end: date) -> Page: ...


def _day(text: object) -> date | None:
    try:
        return datetime.strptime(str(text).strip(), "%Y%m%d").date()
    except ValueError:
        return None


def _items(output: Any) -> Iterator[dict[str, Any]]:
    """Yield the non-empty objects of an output2 array, which KIS pads with `{}`."""
    if not isinstance(output, list):
        return
    for item in output:
        if isinstance(item, dict) and any(str(v).strip() for v in item.values()):
            yield item


def domestic_bars(body: dict[str, Any]) -> list[Bar]:
    """Convert inquire-daily-itemchartprice `output2` items to bars."""
    bars = []
    for item in _items(body.get("output2")):
        day = _day(item.get("stck_bsop_date"))
        if day is None:
            log.debug("skipping a domestic bar without a valid date: %r", item)
            continue
        bars.append(
            Bar(
                day=day,
                open=to_decimal(item.get("stck_oprc")),
                high=to_decimal(item.get("stck_hgpr")),
                low=to_decimal(item.get("stck_lwpr")),
                close=to_decimal(item.get("stck_clpr")),
                volume=to_decimal(item.get("acml_vol")),
                value=to_decimal(item.get("acml_tr_pbmn")),
            )
        )
    return bars


def overseas_bars(body: dict[str, Any]) -> list[Bar]:
    """Convert dailyprice `output2` items to bars."""
    bars = []
    for item in _items(body.get("output2")):
        day = _day(item.get("xymd"))
        if day is None:
            log.debug("skipping an overseas bar without a valid date: %r", item)
            continue
        bars.append(
            Bar(
                day=day,
                open=to_decimal(item.get("open")),
                high=to_decimal(item.get("high")),
                low=to_decimal(item.get("low")),
                close=to_decimal(item.get("clos")),
                volume=to_decimal(item.get("tvol")),
                value=to_decimal(item.get("tamt")),
            )
        )
    return bars


class DomesticSource:
    """A KRX code on inquire-daily-itemchartprice."""

    honors_start = True

    def __init__(
        self, client: KisClient, symbol: str, period: str, adjusted: bool
    ) -> None:
        self._client = client
        self._symbol = symbol
        self.key = symbol
        self._period = DOMESTIC_PERIOD_CODES[period]
        # FID_ORG_ADJ_PRC: 0 requests adjusted prices, 1 the original ones.
        self._adjusted = "0" if adjusted else "1"

    async def page(self, start: date, end: date) -> Page:
        path, tr_id = DOMESTIC_HISTORY
        params = {
            "FID_COND_MRKT_DIV_CODE": "J",
            "FID_INPUT_ISCD": self._symbol,
            "FID_INPUT_DATE_1": start.strftime("%Y%m%d"),
            "FID_INPUT_DATE_2": end.strftime("%Y%m%d"),
            "FID_PERIOD_DIV_CODE": self._period,
            "FID_ORG_ADJ_PRC": self._adjusted,
        }
        body = await self._client.get(path, tr_id, params)
        bars = domestic_bars(body)
        # KIS returns rt_cd "0", a zero price and no bars for an unknown code.
        snapshot = body.get("output1")
        price = (
            to_decimal(snapshot.get("stck_prpr"))
            if isinstance(snapshot, dict)
            else None
        )
        return Page(bars, known=bool(bars) or bool(price))


class OverseasSource:
    """An overseas symbol on dailyprice, which has no start date parameter."""

    honors_start = False

    def __init__(
        self,
        client: KisClient,
        exchange: str,
        symbol: str,
        period: str,
        adjusted: bool,
    ) -> None:
        self._client = client
        self.exchange = exchange
        self._symbol = symbol
        self.key = f"{exchange}:{symbol}"
        self._period = OVERSEAS_PERIOD_CODES[period]
        # MODP: 1 requests adjusted prices, 0 the original ones (the opposite
        # of the domestic FID_ORG_ADJ_PRC).
        self._adjusted = "1" if adjusted else "0"

    async def page(self, start: date, end: date) -> Page:
        path, tr_id = OVERSEAS_HISTORY
        params = {
            "AUTH": "",
            "EXCD": self.exchange,
            "SYMB": self._symbol,
            "GUBN": self._period,
            "BYMD": end.strftime("%Y%m%d"),
            "MODP": self._adjusted,
        }
        body = await self._client.get(path, tr_id, params)
        snapshot = body.get("output1")
        count = (
            str(snapshot.get("nrec", "")).strip() if isinstance(snapshot, dict) else ""
        )
        # An unknown symbol or a wrong EXCD returns a blank nrec and no bars.
        # A known symbol with no bars on or before BYMD, such as a date
        # before its listing, returns a count of "0".
        # NOTE: the "0" count is what the simulator sends. Whether the real
        # server sends "0" or a blank nrec there has not been checked.
        if not count:
            return Page([], known=False)
        return Page(overseas_bars(body), known=True)


def period_start(day: date, period: str) -> date:
    """Return the first day of the day, ISO week or month that contains `day`."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def may_trade(start: date, end: date) -> bool:
    """Return False when [start, end] is empty or only weekend days after 1998."""
    if start > end:
        return False
    if start < WEEKDAYS_ONLY_SINCE:
        return True
    if (end - start).days >= 2:
        return True
    day = start
    while day <= end:
        if day.weekday() < 5:
            return True
        day += ONE_DAY
    return False


def span_floor(end: date, period: str) -> date:
    """Return the first day of the 100-period span that ends on `end`."""
    try:
        return _span_floor(end, period)
    except (OverflowError, ValueError):
        # The span would start before 0001-01-01.
        return date.min


def _span_floor(end: date, period: str) -> date:
    if period == "week":
        return period_start(end, "week") - timedelta(weeks=PAGE_SIZE - 1)
    if period == "month":
        months = end.year * 12 + end.month - 1 - (PAGE_SIZE - 1)
        return date(months // 12, months % 12 + 1, 1)
    # Any 140 consecutive days contain exactly 100 weekdays.
    day = end - timedelta(days=PAGE_SIZE // 5 * 7 - 1)
    while day.weekday() >= 5:
        day += ONE_DAY
    return day


def split_spans(start: date, end: date, period: str) -> list[tuple[date, date]]:
    """Split [start, end] into spans of 100 periods, newest first."""
    spans = []
    high = end
    while high >= start:
        low = max(span_floor(high, period), start)
        if may_trade(low, high):
            spans.append((low, high))
        if low == start:
            break
        high = low - ONE_DAY
    return spans


@dataclass
class Walk:
    """The bars found by paging one range, and where paging stopped."""

    bars: dict[date, Bar] = field(default_factory=dict)
    # True when the range needs no more pages.
    done: bool = False
    # True when a page came back with fewer than 100 bars.
    short: bool = False
    # The end of the part of the range not fetched yet, when not done.
    cursor: date | None = None


async def walk(
    source: BarSource,
    start: date,
    end: date,
    period: str,
    on_page: Callable[[], None],
    *,
    first: Page | None = None,
    max_pages: int | None = None,
) -> Walk:
    """Page backwards from `end` until `start`, a short page or no progress.

    `first` is an already fetched page for (start, end). Bars outside
    [start, end] are dropped, and a date seen twice keeps its first bar.
    """
    result = Walk()
    cursor = end
    pages = 0
    while max_pages is None or pages < max_pages:
        if first is not None:
            page, first = first, None
        else:
            page = await source.page(start, cursor)
            on_page()
        pages += 1
        inside = [bar for bar in page.bars if bar.day <= cursor]
        for bar in inside:
            if bar.day >= start:
                result.bars.setdefault(bar.day, bar)
        if len(page.bars) < PAGE_SIZE:
            result.short = True
            result.done = True
            return result
        if not inside:
            # The server ignored the cursor; asking again would loop.
            log.warning(
                "%s: stopping at %s because a page returned no bars on or before it",
                source.key,
                cursor,
            )
            result.done = True
            return result
        oldest = min(bar.day for bar in inside)
        cursor = period_start(oldest, period) - ONE_DAY
        if oldest <= start or not may_trade(start, cursor):
            result.done = True
            return result
    result.cursor = cursor
    return result


async def fetch_spans(
    source: BarSource,
    start: date,
    end: date,
    period: str,
    parallel: int,
    on_page: Callable[[], None],
) -> dict[date, Bar]:
    """Fetch [start, end] as 100-period spans, newest first, in up to `parallel` tasks.

    Two tasks start, and each span that returns bars adds one more, so a
    symbol listed inside the range wastes few calls on the spans before its
    listing. The rate limiter is busy once rate x latency requests are in
    flight, which takes a few doublings at most.

    A span with no older history stops the spans behind it. On a source
    without a start date, a short page means nothing older exists. On a
    source with one, an empty span folds the remaining older spans into one
    range, which costs one call when the symbol was not listed yet.
    """
    pending = deque(split_spans(start, end, period))
    bars: dict[date, Bar] = {}
    tasks = 0
    cap = max(1, parallel)

    async def work() -> None:
        while pending:
            low, high = pending.popleft()
            result = await walk(source, low, high, period, on_page)
            for day, bar in result.bars.items():
                bars.setdefault(day, bar)
            if not pending:
                continue
            if not source.honors_start and result.short:
                pending.clear()
            elif source.honors_start and not result.bars:
                oldest_low = pending[-1][0]
                newest_high = pending[0][1]
                pending.clear()
                pending.append((oldest_low, newest_high))
            elif result.bars and tasks < cap:
                spawn()

    try:
        async with asyncio.TaskGroup() as group:

            def spawn() -> None:
                nonlocal tasks
                tasks += 1
                group.create_task(work())

            for _ in range(min(2, cap)):
                spawn()
    except BaseExceptionGroup as errors:
        raise first_error(errors) from None
    return bars


def first_error(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    """Return the error to report from a task group: a ConfigError if any,
    because it stops the whole run, else the first one."""
    leaves = list(_leaf_errors(errors))
    for error in leaves:
        if isinstance(error, ConfigError):
            return error
    return leaves[0]


def _leaf_errors(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaf_errors(inner)
    else:
        yield error


async def fetch_bars(
    source: BarSource,
    first: Page,
    start: date,
    end: date,
    period: str,
    parallel: int,
    on_page: Callable[[], None],
) -> list[Bar]:
    """Fetch every bar of [start, end] after the first page, oldest first."""
    if parallel <= 1:
        result = await walk(source, start, end, period, on_page, first=first)
        bars = result.bars
    else:
        result = await walk(
            source, start, end, period, on_page, first=first, max_pages=1
        )
        bars = result.bars
        if not result.done and result.cursor is not None:
            rest = await fetch_spans(
                source, start, result.cursor, period, parallel, on_page
            )
            for day, bar in rest.items():
                bars.setdefault(day, bar)
    return [bars[day] for day in sorted(bars) if start <= day <= end]


@dataclass(frozen=True)
class HistoryRequest:
    """The date range and bar kind shared by every symbol of a run."""

    start: date
    end: date
    period: str = "day"
    adjusted: bool = True


class PageCounter:
    """Counts pages received and shows the count in the progress detail."""

    def __init__(self, reporter: Reporter) -> None:
        self._reporter = reporter
        self.pages = 0

    def __call__(self) -> None:
        self.pages += 1
        self._reporter.advance(0, self.detail)

    @property
    def detail(self) -> str:
        return f"{self.pages} pages"


class HistoryJobs:
    """Fetches one ticker's bars and turns failures into outcomes."""

    def __init__(
        self,
        client: KisClient,
        resolver: Resolver,
        request: HistoryRequest,
        on_page: Callable[[], None],
        parallel: int,
    ) -> None:
        self._client = client
        self._resolver = resolver
        self._request = request
        self._on_page = on_page
        self.parallel = parallel

    async def __call__(self, job: Job) -> list[Outcome[HistoryRow]]:
        outcomes: list[Outcome[HistoryRow]] = []
        for index, ticker in job.items:
            try:
                rows = await self.fetch(ticker)
            except ApiError as exc:
                outcomes.append(Outcome(index, ticker, error=str(exc)))
            else:
                notice = None if rows else self.no_bars_notice()
                outcomes.append(Outcome(index, ticker, rows=rows, notice=notice))
        return outcomes

    def no_bars_notice(self) -> str:
        """Return the stderr notice for a known symbol without bars in the range."""
        start, end = self._request.start, self._request.end
        text = f"no bars from {start.isoformat()} to {end.isoformat()}"
        if not may_trade(start, end):
            text += " because the range has only weekend days"
        return text

    async def fetch(self, ticker: Ticker) -> list[HistoryRow]:
        """Return the rows of one ticker, oldest first."""
        request = self._request
        source, first = await self._first_page(ticker)
        bars = await fetch_bars(
            source, first, request.start, request.end, request.period,
            self.parallel, self._on_page,
        )  # fmt: skip
        exchange = source.exchange if isinstance(source, OverseasSource) else DOMESTIC
        return [HistoryRow(ticker.symbol, exchange, bar) for bar in bars]

    async def _first_page(self, ticker: Ticker) -> tuple[BarSource, Page]:
        request = self._request
        if ticker.is_domestic:
            source: BarSource = DomesticSource(
                self._client, ticker.symbol, request.period, request.adjusted
            )
            first = await self._page(source)
            if not first.known:
                raise NotFoundError()
            return source, first

        if ticker.exchange is not None:
            exchanges = [ticker.exchange]
        else:
            exchanges = self._resolver.candidates(ticker)
        for exchange in exchanges:
            source = OverseasSource(
                self._client, exchange, ticker.symbol, request.period, request.adjusted
            )
            first = await self._page(source)
            if first.known:
                if ticker.exchange is None:
                    self._resolver.cache.put(ticker.symbol, exchange)
                return source, first
        raise self._resolver.not_found(ticker, f"not found on {', '.join(exchanges)}")

    async def _page(self, source: BarSource) -> Page:
        page = await source.page(self._request.start, self._request.end)
        self._on_page()
        return page


def span_parallelism(workers: int, symbols: int) -> int:
    """Return how many spans of one symbol to fetch at once.

    Enough that all symbols together keep `workers` requests in flight, and
    1 (sequential paging) when there are at least as many symbols as workers.
    """
    if symbols <= 0:
        return 1
    return max(1, math.ceil(workers / symbols))


async def run_history(
    settings: Settings,
    tickers: list[Ticker],
    request: HistoryRequest,
    output: OutputOptions,
    reporter: Reporter,
    *,
    master_dir: Path | None,
    timeout: float,
) -> int:
    """Fetch bars for `tickers`, write the rows, and return the exit code."""
    counter = PageCounter(reporter)

    def build_handler(
        session: Session, resolver: Resolver, workers: int, total: int
    ) -> HistoryJobs:
        return HistoryJobs(
            session.client, resolver, request, counter,
            span_parallelism(workers, total),
        )  # fmt: skip

    def jobs(tickers: list[Ticker], window: int) -> Iterator[Job]:
        return (Job([(index, ticker)]) for index, ticker in enumerate(tickers))

    kind: JobKind[HistoryRow] = JobKind(
        name="history",
        columns=HISTORY_COLUMNS,
        build_handler=build_handler,
        build_jobs=jobs,
        row_values=HistoryRow.values,
        progress_detail=lambda: counter.detail,
        pages=lambda: counter.pages,
    )
    return await run_job(
        kind, settings, tickers, output, reporter,
        master_dir=master_dir, timeout=timeout,
    )  # fmt: skip
