"""Current-price TRs and their conversion to output rows.

- Domestic, one symbol: inquire-price (tr_id FHKST01010100).
- Domestic, up to 30 symbols: intstock-multprice (tr_id FHKST11300006), real
  server only; symbols KIS does not know are absent from its `output` array.
- Overseas: price (tr_id HHDFS00000300), which has no open, high or low.

KIS sends every number as a string. Values are kept as Decimal so that CSV
output shows them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kis_fetch.client import KisClient
from kis_fetch.errors import ApiError, NotFoundError
from kis_fetch.models import CURRENCY_BY_EXCHANGE, DOMESTIC, Ticker

DOMESTIC_PRICE = ("/uapi/domestic-stock/v1/quotations/inquire-price", "FHKST01010100")
DOMESTIC_MULTI = (
    "/uapi/domestic-stock/v1/quotations/intstock-multprice",
    "FHKST11300006",
)
OVERSEAS_PRICE = ("/uapi/overseas-price/v1/quotations/price", "HHDFS00000300")
MULTI_MAX = 30

PRICE_COLUMNS = (
    "symbol", "exchange", "name", "price", "change", "change_pct", "open", "high",
    "low", "prev_close", "volume", "currency", "fetched_at",
)  # fmt: skip

# prdy_vrss_sign / sign: 4 is limit-down and 5 is down.
NEGATIVE_SIGNS = frozenset({"4", "5"})


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One output row of `kis-fetch prices`."""

    symbol: str
    exchange: str
    name: str | None
    price: Decimal
    change: Decimal | None
    change_pct: Decimal | None
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    prev_close: Decimal | None
    volume: Decimal | None
    currency: str
    fetched_at: datetime

    def values(self) -> tuple[object, ...]:
        return tuple(getattr(self, column) for column in PRICE_COLUMNS)


def to_decimal(text: object) -> Decimal | None:
    """Parse a KIS number string; empty or malformed text is None."""
    if text is None:
        return None
    stripped = str(text).strip().replace(",", "")
    if not stripped:
        return None
    try:
        value = Decimal(stripped)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def signed(value: Decimal | None, sign_code: object) -> Decimal | None:
    """Apply KIS's sign code to a change that may arrive unsigned."""
    if value is None:
        return None
    if str(sign_code).strip() in NEGATIVE_SIGNS and value > 0:
        return -value
    return value


def now() -> datetime:
    return datetime.now().astimezone().replace(microsecond=0)


async def fetch_domestic(
    client: KisClient, ticker: Ticker, name: str | None
) -> PriceRow:
    path, tr_id = DOMESTIC_PRICE
    body = await client.get(
        path, tr_id, {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": ticker.symbol}
    )
    output = body.get("output")
    if not isinstance(output, dict):
        raise ApiError(f"unexpected response from {tr_id}: no output object")
    price = to_decimal(output.get("stck_prpr"))
    if not price:
        raise NotFoundError()
    return PriceRow(
        symbol=ticker.symbol,
        exchange=DOMESTIC,
        name=name,
        price=price,
        change=signed(
            to_decimal(output.get("prdy_vrss")), output.get("prdy_vrss_sign")
        ),
        change_pct=signed(
            to_decimal(output.get("prdy_ctrt")), output.get("prdy_vrss_sign")
        ),
        open=to_decimal(output.get("stck_oprc")),
        high=to_decimal(output.get("stck_hgpr")),
        low=to_decimal(output.get("stck_lwpr")),
        prev_close=to_decimal(output.get("stck_sdpr")),
        volume=to_decimal(output.get("acml_vol")),
        currency="KRW",
        fetched_at=now(),
    )


async def fetch_domestic_many(
    client: KisClient, tickers: list[Ticker]
) -> dict[str, PriceRow]:
    """Fetch up to 30 domestic symbols in one call; absent symbols are missing
    from the result."""
    if not 0 < len(tickers) <= MULTI_MAX:
        raise ValueError(f"expected 1 to {MULTI_MAX} symbols, got {len(tickers)}")
    params: dict[str, str] = {}
    for number, ticker in enumerate(tickers, start=1):
        params[f"FID_COND_MRKT_DIV_CODE_{number}"] = "J"
        params[f"FID_INPUT_ISCD_{number}"] = ticker.symbol
    path, tr_id = DOMESTIC_MULTI
    body = await client.get(path, tr_id, params)
    output: Any = body.get("output")
    if isinstance(output, dict):
        output = [output]
    if not isinstance(output, list):
        raise ApiError(f"unexpected response from {tr_id}: no output array")

    fetched_at = now()
    rows: dict[str, PriceRow] = {}
    for item in output:
        if not isinstance(item, dict):
            continue
        code = str(item.get("inter_shrn_iscd", "")).strip()
        price = to_decimal(item.get("inter2_prpr"))
        if not code or not price:
            continue
        sign = item.get("prdy_vrss_sign")
        rows[code] = PriceRow(
            symbol=code,
            exchange=DOMESTIC,
            name=str(item.get("inter_kor_isnm") or "").strip() or None,
            price=price,
            change=signed(to_decimal(item.get("inter2_prdy_vrss")), sign),
            change_pct=signed(to_decimal(item.get("prdy_ctrt")), sign),
            open=to_decimal(item.get("inter2_oprc")),
            high=to_decimal(item.get("inter2_hgpr")),
            low=to_decimal(item.get("inter2_lwpr")),
            prev_close=to_decimal(item.get("inter2_prdy_clpr")),
            volume=to_decimal(item.get("acml_vol")),
            currency="KRW",
            fetched_at=fetched_at,
        )
    return rows


async def fetch_overseas(
    client: KisClient, symbol: str, exchange: str, name: str | None
) -> PriceRow:
    """Fetch one overseas quote; NotFoundError when KIS returns empty fields,
    which is also its response for a symbol requested on the wrong exchange."""
    path, tr_id = OVERSEAS_PRICE
    body = await client.get(path, tr_id, {"AUTH": "", "EXCD": exchange, "SYMB": symbol})
    output = body.get("output")
    if not isinstance(output, dict):
        raise NotFoundError()
    price = to_decimal(output.get("last"))
    if not price:
        raise NotFoundError()
    sign = output.get("sign")
    return PriceRow(
        symbol=symbol,
        exchange=exchange,
        name=name,
        price=price,
        change=signed(to_decimal(output.get("diff")), sign),
        change_pct=signed(to_decimal(output.get("rate")), sign),
        open=None,
        high=None,
        low=None,
        prev_close=to_decimal(output.get("base")),
        volume=to_decimal(output.get("tvol")),
        currency=CURRENCY_BY_EXCHANGE.get(exchange, ""),
        fetched_at=now(),
    )
