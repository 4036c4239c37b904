"""Quotation endpoints: query parsing and bodies for each KIS TR.

Each handler takes the request query and the market dates of "today" and
returns (HTTP status, JSON body). Gateway checks (token, rate limit, tr_id)
happen before these run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from kis_fetch.sim import errors, payloads, quotes
from kis_fetch.sim.catalog import Catalog

DOMESTIC_MARKET_CODES = frozenset({"J", "NX", "UN", "W"})
MULTPRICE_MAX_SYMBOLS = 30
# US day-session exchange codes quote the regular listing; they have no bars.
DAY_SESSION_EXCHANGES = {"BAQ": "NAS", "BAY": "NYS", "BAA": "AMS"}
OVERSEAS_PERIODS = {"0": "D", "1": "W", "2": "M"}

Result = tuple[int, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class MarketDates:
    """The latest business day on the KRX and on US exchanges."""

    domestic: date
    us: date


def _error(code: tuple[str, str], rt_cd: str = "1") -> Result:
    return 500, {"rt_cd": rt_cd, "msg_cd": code[0], "msg1": code[1]}


def _parse_day(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def inquire_price(
    catalog: Catalog, query: dict[str, str], dates: MarketDates
) -> Result:
    if query.get("FID_COND_MRKT_DIV_CODE", "") not in DOMESTIC_MARKET_CODES:
        return _error(errors.INVALID_MARKET, rt_cd="2")
    listing = catalog.domestic.get(query.get("FID_INPUT_ISCD", "").strip())
    if listing is None:
        output = payloads.BLANK_DOMESTIC_QUOTE
    else:
        output = payloads.domestic_quote(listing, dates.domestic)
    return 200, payloads.envelope(output=output)


def intstock_multprice(
    catalog: Catalog, query: dict[str, str], dates: MarketDates
) -> Result:
    rows: list[dict[str, str]] = []
    for n in range(1, MULTPRICE_MAX_SYMBOLS + 1):
        code = query.get(f"FID_INPUT_ISCD_{n}", "").strip()
        if not code:
            continue
        market = query.get(f"FID_COND_MRKT_DIV_CODE_{n}", "")
        if market not in DOMESTIC_MARKET_CODES:
            return _error(errors.INVALID_MARKET, rt_cd="2")
        listing = catalog.domestic.get(code)
        if listing is not None:
            rows.append(payloads.multprice_row(listing, dates.domestic))
    return 200, payloads.envelope(output=rows)


def domestic_history(
    catalog: Catalog, query: dict[str, str], dates: MarketDates
) -> Result:
    if query.get("FID_COND_MRKT_DIV_CODE", "") not in DOMESTIC_MARKET_CODES:
        return _error(errors.INVALID_MARKET, rt_cd="2")
    start_text = query.get("FID_INPUT_DATE_1", "").strip()
    end_text = query.get("FID_INPUT_DATE_2", "").strip()
    start = _parse_day(start_text) if start_text else date.min
    end = _parse_day(end_text) if end_text else dates.domestic
    period = query.get("FID_PERIOD_DIV_CODE", "D") or "D"
    if start is None or end is None or period not in ("D", "W", "M", "Y"):
        return _error(errors.INVALID_FIELD)
    adjusted = query.get("FID_ORG_ADJ_PRC", "0") != "1"
    listing = catalog.domestic.get(query.get("FID_INPUT_ISCD", "").strip())
    snapshot = payloads.domestic_history_snapshot(listing, dates.domestic)
    if listing is None:
        return 200, payloads.envelope(output1=snapshot, output2=[])
    bars = quotes.domestic_bars(
        listing.code, start, end, dates.domestic, period, adjusted
    )
    rows = [payloads.domestic_bar_row(bar) for bar in bars]
    return 200, payloads.envelope(output1=snapshot, output2=rows)


def overseas_price(
    catalog: Catalog, query: dict[str, str], dates: MarketDates
) -> Result:
    exchange = query.get("EXCD", "").strip().upper()
    symbol = query.get("SYMB", "").strip().upper()
    listing_exchange = DAY_SESSION_EXCHANGES.get(exchange, exchange)
    if catalog.overseas_listing(listing_exchange, symbol) is None:
        return 200, payloads.envelope(output=dict(payloads.BLANK_OVERSEAS_QUOTE))
    output = dict(payloads.overseas_quote(listing_exchange, symbol, dates.us))
    output["rsym"] = f"D{exchange}{symbol}"
    return 200, payloads.envelope(output=output)


def overseas_history(
    catalog: Catalog, query: dict[str, str], dates: MarketDates
) -> Result:
    exchange = query.get("EXCD", "").strip().upper()
    symbol = query.get("SYMB", "").strip().upper()
    end_text = query.get("BYMD", "").strip()
    end = _parse_day(end_text) if end_text else dates.us
    if end is None:
        return _error(errors.INVALID_FIELD)
    period = OVERSEAS_PERIODS.get(query.get("GUBN", "0"), "D")
    adjusted = query.get("MODP", "0") == "1"
    if catalog.overseas_listing(exchange, symbol) is None:
        blank = {"rsym": "", "zdiv": "", "nrec": ""}
        return 200, payloads.envelope(output1=blank, output2=[])
    p = quotes.profile(f"{exchange}:{symbol}", quotes.US_DECIMALS)
    bars = quotes.overseas_bars(exchange, symbol, end, dates.us, period, adjusted)
    output1 = {
        "rsym": f"D{exchange}{symbol}",
        "zdiv": str(quotes.US_DECIMALS),
        "nrec": str(len(bars)),
    }
    rows = [payloads.overseas_bar_row(bar, p.plus_sign) for bar in bars]
    return 200, payloads.envelope(output1=output1, output2=rows)
