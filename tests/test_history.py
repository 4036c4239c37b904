"""`kis-fetch history`: paging against a scripted KIS, then the CLI end to end
against the simulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import csv
import io
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sim_fixture import MASTER_DIR
from typer.testing import CliRunner

from kis_fetch.auth import TokenManager
from kis_fetch.cli import app
from kis_fetch.client import KisClient
from kis_fetch.config import Settings
from kis_fetch.errors import NotFoundError
from kis_fetch.history import (
    HISTORY_COLUMNS,
    HistoryJobs,
    HistoryRequest,
    may_trade,
    split_spans,
)
from kis_fetch.limiter import RateController
from kis_fetch.models import Ticker
from kis_fetch.pipeline import Job
from kis_fetch.resolve import ExchangeCache, Resolver
from kis_fetch.secret import Secret

KEY = "TEST-APP-KEY"
SECRET = "test-app-secret"
DOMESTIC_PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
OVERSEAS_PATH = "/uapi/overseas-price/v1/quotations/dailyprice"
TODAY = date(2025, 12, 31)


# --- A scripted KIS server behind httpx.MockTransport -------------------------


def weekdays(first: date, last: date) -> list[date]:
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def nth_weekday_before(last: date, count: int) -> date:
    """Return the date that makes [date, last] contain exactly `count` weekdays."""
    day = last
    seen = 0
    while True:
        if day.weekday() < 5:
            seen += 1
            if seen == count:
                return day
        day -= timedelta(days=1)


def daily_volume(day: date) -> int:
    return day.toordinal() % 1000 + 1


class FakeKis:
    """Serves both history TRs for symbols listed on given dates.

    Every weekday from the listing date to TODAY has a bar whose volume comes
    from its date. Week and month bars merge the days of their period inside
    the requested range and carry the date of the last of them.
    """

    def __init__(self, listings: dict[str, date], *, ignore_cursor: bool = False):
        self.listings = listings
        self.ignore_cursor = ignore_cursor
        self.calls: list[tuple[str, dict[str, str]]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = urlsplit(str(request.url))
        if url.path == "/oauth2/tokenP":
            return httpx.Response(
                200,
                json={"access_token": "t", "token_type": "Bearer", "expires_in": 86400},
            )
        params = {
            k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()
        }
        self.calls.append((url.path, params))
        if url.path == DOMESTIC_PATH:
            return httpx.Response(200, json=self._domestic(params))
        return httpx.Response(200, json=self._overseas(params))

    def _bars(self, key: str, start: date, end: date, period: str) -> list[dict]:
        listed = self.listings.get(key)
        if listed is None:
            return []
        days = weekdays(max(start, listed), min(end, TODAY))
        groups: dict[tuple[int, int], list[date]] = {}
        for day in days:
            if period == "W":
                group = tuple(day.isocalendar())[:2]
            elif period == "M":
                group = (day.year, day.month)
            else:
                group = (day.toordinal(), 0)
            groups.setdefault(group, []).append(day)
        bars = []
        for group_days in groups.values():
            last = group_days[-1]
            volume = sum(daily_volume(day) for day in group_days)
            bars.append((last, volume))
        bars.sort(reverse=True)
        return bars[:100]

    def _domestic(self, params: dict[str, str]) -> dict:
        start = parse_day(params["FID_INPUT_DATE_1"])
        end = parse_day(params["FID_INPUT_DATE_2"])
        if self.ignore_cursor:
            end = TODAY
        code = params["FID_INPUT_ISCD"]
        bars = self._bars(code, start, end, params["FID_PERIOD_DIV_CODE"])
        rows: list[dict] = [
            {
                "stck_bsop_date": day.strftime("%Y%m%d"),
                "stck_oprc": "100",
                "stck_hgpr": "110",
                "stck_lwpr": "90",
                "stck_clpr": "105",
                "acml_vol": str(volume),
                "acml_tr_pbmn": str(volume * 100),
            }  # fmt: skip
            for day, volume in bars
        ]
        if not rows:
            rows = [{}]
        price = "105" if code in self.listings else "0"
        return {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "ok",
                "output1": {"stck_prpr": price}, "output2": rows}  # fmt: skip

    def _overseas(self, params: dict[str, str]) -> dict:
        key = f"{params['EXCD']}:{params['SYMB']}"
        end = TODAY if self.ignore_cursor else parse_day(params["BYMD"])
        period = {"0": "D", "1": "W", "2": "M"}[params["GUBN"]]
        bars = self._bars(key, date.min, end, period)
        rows = [
            {
                "xymd": day.strftime("%Y%m%d"),
                "open": "10.5000",
                "high": "11.0000",
                "low": "10.0000",
                "clos": "10.7500",
                "tvol": str(volume),
                "tamt": "",
            }  # fmt: skip
            for day, volume in bars
        ]
        nrec = str(len(rows)) if key in self.listings else ""
        return {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "ok",
                "output1": {"rsym": "", "zdiv": "4", "nrec": nrec},
                "output2": rows}  # fmt: skip

    def pages(self, path: str) -> int:
        return sum(1 for called, _ in self.calls if called == path)


def parse_day(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


def fetch(
    fake: FakeKis,
    tmp_path: Path,
    ticker: Ticker,
    request: HistoryRequest,
    *,
    parallel: int = 1,
):
    """Run HistoryJobs.fetch for one ticker through a real KisClient."""
    return run_jobs(fake, tmp_path, request, lambda jobs: jobs.fetch(ticker), parallel)


def run_jobs(fake, tmp_path, request, call, parallel=1):
    """Await `call(jobs)` on HistoryJobs with a real KisClient.

    Returns the result and the number of pages received.
    """

    async def run():
        settings = Settings(
            app_key=KEY, app_secret=Secret(SECRET), env="real",
            base_url="http://127.0.0.1:9", rate=10000.0, concurrency=None,
            cache_dir=tmp_path,
        )  # fmt: skip
        transport = httpx.MockTransport(fake.handler)
        async with httpx.AsyncClient(transport=transport) as http:
            tokens = TokenManager(http, settings)
            client = KisClient(http, settings, tokens, RateController(settings.rate))
            resolver = Resolver(None, ExchangeCache(tmp_path))
            pages = []
            jobs = HistoryJobs(
                client, resolver, request, lambda: pages.append(1), parallel
            )
            result = await call(jobs)
            return result, len(pages)

    return asyncio.run(run())


# --- Paging -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bar_count", "expected_pages"),
    [(10, 1), (99, 1), (100, 1), (101, 2), (200, 2), (201, 3), (250, 3)],
)
def test_domestic_page_boundaries(tmp_path, bar_count, expected_pages) -> None:
    fake = FakeKis({"000660": date(1990, 1, 1)})
    start = nth_weekday_before(TODAY, bar_count)
    rows, pages = fetch(
        fake, tmp_path, Ticker("000660", "KRX"), HistoryRequest(start, TODAY)
    )
    days = [row.bar.day for row in rows]
    assert days == weekdays(start, TODAY)
    assert pages == expected_pages
    assert fake.pages(DOMESTIC_PATH) == expected_pages


@pytest.mark.parametrize(
    ("bar_count", "expected_pages"), [(10, 1), (100, 1), (101, 2), (200, 2), (201, 3)]
)
def test_overseas_page_boundaries(tmp_path, bar_count, expected_pages) -> None:
    fake = FakeKis({"NAS:AAPL": date(1990, 1, 1)})
    start = nth_weekday_before(TODAY, bar_count)
    rows, pages = fetch(
        fake, tmp_path, Ticker("AAPL", "NAS"), HistoryRequest(start, TODAY)
    )
    assert [row.bar.day for row in rows] == weekdays(start, TODAY)
    assert pages == expected_pages
    cursors = [params["BYMD"] for _, params in fake.calls]
    assert len(cursors) == len(set(cursors))


def test_start_on_weekend_needs_no_extra_page(tmp_path) -> None:
    fake = FakeKis({"000660": date(1990, 1, 1)})
    monday = nth_weekday_before(date(2025, 12, 26), 100)
    assert monday.weekday() == 0
    saturday = monday - timedelta(days=2)
    request = HistoryRequest(saturday, date(2025, 12, 26))
    rows, pages = fetch(fake, tmp_path, Ticker("000660", "KRX"), request)
    assert len(rows) == 100
    assert pages == 1


def test_start_before_listing(tmp_path) -> None:
    listed = date(2025, 6, 2)
    fake = FakeKis({"000660": listed, "NAS:AAPL": listed})
    request = HistoryRequest(date(2020, 1, 1), TODAY)
    expected = weekdays(listed, TODAY)
    for ticker, path in ((Ticker("000660", "KRX"), DOMESTIC_PATH),
                         (Ticker("AAPL", "NAS"), OVERSEAS_PATH)):  # fmt: skip
        rows, _ = fetch(fake, tmp_path, ticker, request)
        assert [row.bar.day for row in rows] == expected
        assert fake.pages(path) == math.ceil(len(expected) / 100)


@pytest.mark.parametrize("parallel", [1, 8])
@pytest.mark.parametrize(
    ("period", "code", "group_of"),
    [
        ("week", "W", lambda day: tuple(day.isocalendar())[:2]),
        ("month", "M", lambda day: (day.year, day.month)),
    ],
)
def test_weekly_and_monthly_bars(tmp_path, parallel, period, code, group_of) -> None:
    fake = FakeKis({"000660": date(1990, 1, 1), "NAS:AAPL": date(1990, 1, 1)})
    start = date(2001, 1, 1)
    request = HistoryRequest(start, TODAY, period=period)
    days = weekdays(start, TODAY)
    expected: dict[tuple[int, int], int] = {}
    for day in days:
        key = group_of(day)
        expected[key] = expected.get(key, 0) + daily_volume(day)
    for ticker in (Ticker("000660", "KRX"), Ticker("AAPL", "NAS")):
        rows, pages = fetch(fake, tmp_path, ticker, request, parallel=parallel)
        got = {group_of(row.bar.day): row.bar.volume for row in rows}
        assert len(rows) == len(expected)
        assert got == {key: Decimal(volume) for key, volume in expected.items()}
        assert pages <= math.ceil(len(expected) / 100) + 1
    sent = {
        params.get("FID_PERIOD_DIV_CODE") or params.get("GUBN")
        for _, params in fake.calls
    }
    assert sent == {code, {"W": "1", "M": "2"}[code]}


@pytest.mark.parametrize(
    ("adjusted", "domestic_flag", "overseas_flag"),
    [(True, "0", "1"), (False, "1", "0")],
)
def test_adjusted_flags_on_wire(
    tmp_path, adjusted, domestic_flag, overseas_flag
) -> None:
    fake = FakeKis({"000660": date(1990, 1, 1), "NAS:AAPL": date(1990, 1, 1)})
    request = HistoryRequest(date(2025, 12, 1), TODAY, adjusted=adjusted)
    fetch(fake, tmp_path, Ticker("000660", "KRX"), request)
    fetch(fake, tmp_path, Ticker("AAPL", "NAS"), request)
    domestic = [params for path, params in fake.calls if path == DOMESTIC_PATH]
    overseas = [params for path, params in fake.calls if path == OVERSEAS_PATH]
    assert domestic[0]["FID_ORG_ADJ_PRC"] == domestic_flag
    assert domestic[0]["FID_COND_MRKT_DIV_CODE"] == "J"
    assert domestic[0]["FID_INPUT_DATE_1"] == "20251201"
    assert domestic[0]["FID_INPUT_DATE_2"] == "20251231"
    assert overseas[0]["MODP"] == overseas_flag
    assert overseas[0]["AUTH"] == ""
    assert overseas[0]["BYMD"] == "20251231"


@pytest.mark.parametrize("ticker", [Ticker("000660", "KRX"), Ticker("AAPL", "NAS")])
def test_repeated_dates_stop_paging(tmp_path, ticker) -> None:
    fake = FakeKis({"000660": date(1990, 1, 1), "NAS:AAPL": date(1990, 1, 1)},
                   ignore_cursor=True)  # fmt: skip
    request = HistoryRequest(date(2020, 1, 1), TODAY)
    rows, pages = fetch(fake, tmp_path, ticker, request)
    assert pages == 2
    assert len(rows) == 100
    assert len({row.bar.day for row in rows}) == 100


def test_fan_out_matches_sequential(tmp_path) -> None:
    fake = FakeKis({"000660": date(1990, 1, 1), "NAS:AAPL": date(1990, 1, 1)})
    request = HistoryRequest(date(2015, 3, 7), TODAY)
    expected = weekdays(request.start, TODAY)
    for ticker, path in ((Ticker("000660", "KRX"), DOMESTIC_PATH),
                         (Ticker("AAPL", "NAS"), OVERSEAS_PATH)):  # fmt: skip
        before = fake.pages(path)
        rows, pages = fetch(fake, tmp_path, ticker, request, parallel=16)
        assert [row.bar.day for row in rows] == expected
        assert fake.pages(path) - before == math.ceil(len(expected) / 100)


def test_fan_out_recent_listing_wastes_little(tmp_path) -> None:
    listed = date(2024, 9, 2)
    fake = FakeKis({"000660": listed, "NAS:AAPL": listed})
    request = HistoryRequest(date(2000, 1, 1), TODAY)
    expected = weekdays(listed, TODAY)
    for ticker, path in ((Ticker("000660", "KRX"), DOMESTIC_PATH),
                         (Ticker("AAPL", "NAS"), OVERSEAS_PATH)):  # fmt: skip
        before = fake.pages(path)
        rows, _ = fetch(fake, tmp_path, ticker, request, parallel=32)
        assert [row.bar.day for row in rows] == expected
        useful = math.ceil(len(expected) / 100)
        assert fake.pages(path) - before <= 2 * useful + 2


def test_rows_drop_empty_items_and_keep_values(tmp_path) -> None:
    fake = FakeKis({"000660": date(2025, 12, 29), "NAS:AAPL": date(2025, 12, 29)})
    request = HistoryRequest(date(2025, 12, 1), date(2025, 12, 30))
    rows, _ = fetch(fake, tmp_path, Ticker("000660", "KRX"), request)
    assert [row.values() for row in rows] == [
        ("000660", "KRX", date(2025, 12, 29), Decimal(100), Decimal(110),
         Decimal(90), Decimal(105), Decimal(daily_volume(date(2025, 12, 29))),
         Decimal(daily_volume(date(2025, 12, 29)) * 100)),
        ("000660", "KRX", date(2025, 12, 30), Decimal(100), Decimal(110),
         Decimal(90), Decimal(105), Decimal(daily_volume(date(2025, 12, 30))),
         Decimal(daily_volume(date(2025, 12, 30)) * 100)),
    ]  # fmt: skip
    overseas, _ = fetch(fake, tmp_path, Ticker("AAPL", "NAS"), request)
    assert [row.bar.day for row in overseas] == [date(2025, 12, 29), date(2025, 12, 30)]
    assert overseas[0].exchange == "NAS"
    assert overseas[0].bar.close == Decimal("10.75")
    assert overseas[0].bar.value is None

    empty = FakeKis({"000660": date(2025, 12, 31)})
    rows, pages = fetch(empty, tmp_path, Ticker("000660", "KRX"), request)
    assert rows == []
    assert pages == 1


def test_no_bars_in_range_is_notice(tmp_path) -> None:
    listed = date(2025, 6, 2)
    fake = FakeKis({"000660": listed, "NAS:AAPL": listed})
    weekend = HistoryRequest(date(2025, 12, 27), date(2025, 12, 28))
    before_listing = HistoryRequest(date(2020, 1, 6), date(2020, 1, 10))
    tickers = [Ticker("000660", "KRX"), Ticker("AAPL", "NAS"), Ticker("AAPL", None)]
    job = Job(list(enumerate(tickers)))
    for request, notice in (
        (weekend, "no bars from 2025-12-27 to 2025-12-28 because the range has "
                  "only weekend days"),
        (before_listing, "no bars from 2020-01-06 to 2020-01-10"),
    ):  # fmt: skip
        outcomes, _ = run_jobs(fake, tmp_path, request, lambda jobs: jobs(job))
        for outcome in outcomes:
            assert outcome.error is None, outcome.ticker
            assert outcome.rows == [], outcome.ticker
            assert outcome.notice == notice, outcome.ticker


def test_not_found_cases(tmp_path) -> None:
    fake = FakeKis({"NYS:IBM": date(1990, 1, 1)})
    request = HistoryRequest(date(2025, 1, 1), TODAY)
    with pytest.raises(NotFoundError):
        fetch(fake, tmp_path, Ticker("999999", "KRX"), request)
    with pytest.raises(NotFoundError):
        fetch(fake, tmp_path, Ticker("ZZZZ", "NAS"), request)
    assert fake.pages(DOMESTIC_PATH) == 1
    assert fake.pages(OVERSEAS_PATH) == 1

    rows, _ = fetch(fake, tmp_path, Ticker("IBM", None), request)
    probed = [params["EXCD"] for _, params in fake.calls[2:]]
    assert probed[:2] == ["NAS", "NYS"]
    assert rows[0].exchange == "NYS"
    assert len(rows) == len(weekdays(request.start, TODAY))


def test_split_spans_cover_range() -> None:
    start, end = date(2010, 3, 6), date(2025, 12, 31)
    for period in ("day", "week", "month"):
        spans = split_spans(start, end, period)
        assert spans[0][1] == end
        assert spans[-1][0] == start
        for (low, _), (_, older_high) in zip(spans, spans[1:], strict=False):
            assert older_high == low - timedelta(days=1)
    for low, high in split_spans(start, end, "day")[:-1]:
        assert len(weekdays(low, high)) == 100
    for period in ("day", "week", "month"):
        assert split_spans(date.min, date(1, 3, 1), period) == [
            (date.min, date(1, 3, 1))
        ]
    assert may_trade(date(2025, 12, 27), date(2025, 12, 28)) is False
    assert may_trade(date(1998, 12, 5), date(1998, 12, 6)) is True


# --- Command line -------------------------------------------------------------


def run_cli(args: list[str], *, base_url: str, cache: Path):
    environment = {
        "KIS_APP_KEY": KEY,
        "KIS_APP_SECRET": SECRET,
        "KIS_BASE_URL": base_url,
        "KIS_FETCH_CACHE_DIR": str(cache),
        "KIS_FETCH_MASTER_DIR": str(MASTER_DIR),
        "KIS_ENV": "",
    }
    return CliRunner().invoke(app, ["history", *args], env=environment)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2024-13-01"], "invalid --start '2024-13-01'"),
        (["--start", "20240101"], "expected a date as YYYY-MM-DD"),
        (["--start", "2024-01-01", "--end", "tomorrow"], "invalid --end 'tomorrow'"),
        (["--start", "2024-05-01", "--end", "2024-04-01"], "is after --end"),
        (["--start", "2024-01-01", "--period", "year"], "invalid --period 'year'"),
        (["--start", "0001-01-01"], "invalid --start 0001-01-01: use a date from"),
        (["--start", "2999-01-01"], "is after today, "),
    ],
)
def test_cli_rejects_bad_options(tmp_path, args, message) -> None:
    result = run_cli(["005930", *args], base_url="http://127.0.0.1:9", cache=tmp_path)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_ten_years_against_sim(sim_factory, tmp_path) -> None:
    from kis_fetch.sim import domestic_bars, domestic_today, overseas_bars, us_today

    sim = sim_factory(rate_limit=0)
    start, end = date(2016, 1, 1), date(2025, 12, 31)
    tickers = ["000660", "NAS:AAPL", "035420", "MSFT"]
    result = run_cli(
        [*tickers, "--start", start.isoformat(), "--end", end.isoformat(),
         "--format", "csv", "--rate", "200"],
        base_url=sim.base_url, cache=tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == list(HISTORY_COLUMNS)

    now = time.time()
    krx_today, us_date = domestic_today(now), us_today(now)
    expected_bars = {
        ("000660", "KRX"): domestic_bars("000660", start, end, krx_today, limit=None),
        ("035420", "KRX"): domestic_bars("035420", start, end, krx_today, limit=None),
        ("AAPL", "NAS"): overseas_bars("NAS", "AAPL", end, us_date, limit=None),
        ("MSFT", "NAS"): overseas_bars("NAS", "MSFT", end, us_date, limit=None),
    }
    order = [(row["symbol"], row["exchange"]) for row in rows]
    assert list(dict.fromkeys(order)) == [
        ("000660", "KRX"), ("AAPL", "NAS"), ("035420", "KRX"), ("MSFT", "NAS"),
    ]  # fmt: skip
    scale = {"KRX": Decimal(1), "NAS": Decimal(10000)}
    total_bound = 0
    for key, bars in expected_bars.items():
        wanted = [bar for bar in reversed(bars) if start <= bar.day <= end]
        got = [row for row in rows if (row["symbol"], row["exchange"]) == key]
        assert [row["date"] for row in got] == [bar.day.isoformat() for bar in wanted]
        assert len(wanted) == len(weekdays(start, end))
        unit = scale[key[1]]
        for row, bar in zip(got, wanted, strict=True):
            assert Decimal(row["open"]) == bar.open / unit
            assert Decimal(row["high"]) == bar.high / unit
            assert Decimal(row["low"]) == bar.low / unit
            assert Decimal(row["close"]) == bar.close / unit
            assert Decimal(row["volume"]) == bar.volume
            assert Decimal(row["value"]) == bar.value
        total_bound += math.ceil(len(wanted) / 100)

    requests = sim.stats()["requests"]
    calls = requests.get(DOMESTIC_PATH, 0) + requests.get(OVERSEAS_PATH, 0)
    assert requests.get(DOMESTIC_PATH, 0) <= total_bound // 2
    assert calls <= total_bound


def test_cli_class_share_dot_uses_kis_spelling(sim, tmp_path) -> None:
    result = run_cli(
        ["BRK.B", "NAS:BRK.B", "--start", "2025-12-01", "--end", "2025-12-05",
         "--format", "csv"],
        base_url=sim.base_url, cache=tmp_path,
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["date"] for row in rows] == [
        day.isoformat() for day in weekdays(date(2025, 12, 1), date(2025, 12, 5))
    ]
    assert {(row["symbol"], row["exchange"]) for row in rows} == {("BRK/B", "NYS")}
    assert "NAS:BRK.B: not found on NAS" in result.stderr
    assert "did you mean NYS:BRK/B?" in result.stderr


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        ("2025-12-27", "2025-12-28", " because the range has only weekend days"),
        ("1971-01-04", "1971-01-08", ""),
    ],
)
def test_cli_no_bars_notice_exit_0(sim, tmp_path, start, end, reason) -> None:
    # 005930 is listed in 1975; US master files give no listing date, and the
    # simulator lists those symbols in 1990 or later.
    tickers = ["005930", "NAS:AAPL", "MSFT"]
    args = [*tickers, "--start", start, "--end", end, "--format", "csv"]
    result = run_cli(args, base_url=sim.base_url, cache=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [",".join(HISTORY_COLUMNS)]
    for key in tickers:
        assert f"kis-fetch: {key}: no bars from {start} to {end}{reason}\n" in (
            result.stderr
        )
    assert "fetched 3, failed 0" in result.stderr

    quiet = run_cli([*args, "-q"], base_url=sim.base_url, cache=tmp_path)
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stderr == ""

    unknown = run_cli([*args, "999999"], base_url=sim.base_url, cache=tmp_path)
    assert unknown.exit_code == 1
    assert "999999: not found" in unknown.stderr


def test_sigint_then_resume_completes(sim_factory, tmp_path) -> None:
    # Two symbols page at a time, each at about 10 pages/s (0.1 s latency),
    # so a symbol in flight needs about 4 s and cannot finish in the 3 s
    # grace after SIGINT.
    sim = sim_factory(rate_limit=0, latency_min=0.1, latency_max=0.1)
    codes = ["000660", "035420", "NAS:AAPL", "NAS:MSFT"]
    start, end = date(2009, 1, 1), date(2025, 12, 31)
    out = tmp_path / "rows.csv"
    env = {
        **os.environ,
        "KIS_APP_KEY": KEY,
        "KIS_APP_SECRET": SECRET,
        "KIS_BASE_URL": sim.base_url,
        "KIS_FETCH_CACHE_DIR": str(tmp_path / "cache"),
        "KIS_FETCH_MASTER_DIR": str(MASTER_DIR),
    }
    args = [*codes, "--start", start.isoformat(), "--end", end.isoformat(),
            "--rate", "20", "--concurrency", "2", "-o", str(out)]  # fmt: skip

    def spawn(extra: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "kis_fetch", "history", *args, *extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def written_lines() -> int:
        return sum(
            len(part.read_text().splitlines()) for part in tmp_path.glob(".*.part")
        )

    expected_days = len(weekdays(start, end))
    process = spawn([])
    deadline = time.monotonic() + 30
    while written_lines() <= expected_days and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    first = list(csv.DictReader(io.StringIO(out.read_text())))
    first_symbols = {row["symbol"] for row in first}
    assert 0 < len(first_symbols) < len(codes)

    resumed = spawn(["--resume"])
    _, stderr = resumed.communicate(timeout=40)
    assert resumed.returncode == 0, stderr
    assert "skipped" in stderr
    text = out.read_text()
    assert text.count("symbol,exchange") == 1
    rows = list(csv.DictReader(io.StringIO(text)))
    per_symbol = Counter(row["symbol"] for row in rows)
    assert set(per_symbol) == {code.split(":")[-1] for code in codes}
    keys = [(row["symbol"], row["date"]) for row in rows]
    assert len(keys) == len(set(keys))
    for symbol, count in per_symbol.items():
        assert count == expected_days, symbol
