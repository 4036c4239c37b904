"""Deterministic prices and daily bars derived from a hash of the symbol.

Every value is a pure function of the symbol key and a calendar date, so a
symbol gets the same numbers on every call, from every endpoint and in every
process. Prices are integers in units of 10**-decimals: KRW for domestic
symbols (decimals 0), 1/10000 USD for US symbols (decimals 4).

The current quote is the daily bar of the latest business day, so history
and quote endpoints agree with each other.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

KST = timezone(timedelta(hours=9))
# NOTE: US Eastern standard time without daylight saving, so the US market
# date rolls over an hour late in summer. The stdlib has no zone data here.
US_EASTERN = timezone(timedelta(hours=-5))

DOMESTIC_DECIMALS = 0
US_DECIMALS = 4
MAX_ROWS = 100

_EPOCH = date(1970, 1, 1)


def _unit(key: str, *salt: object) -> float:
    """Return a uniform float in [0, 1) fixed by `key` and `salt`."""
    text = "|".join([key, *map(str, salt)]).encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _units(key: str, ordinal: int) -> tuple[float, float, float, float]:
    """Return four uniform floats in [0, 1) for one symbol and day."""
    digest = hashlib.blake2b(f"{key}|{ordinal}".encode(), digest_size=16).digest()
    return (
        int.from_bytes(digest[0:4], "big") / 2**32,
        int.from_bytes(digest[4:8], "big") / 2**32,
        int.from_bytes(digest[8:12], "big") / 2**32,
        int.from_bytes(digest[12:16], "big") / 2**32,
    )


def krx_tick(price: int) -> int:
    """Return the KRX stock tick size in KRW for `price` (table of 2023-01)."""
    if price < 2000:
        return 1
    if price < 5000:
        return 5
    if price < 20000:
        return 10
    if price < 50000:
        return 50
    if price < 200000:
        return 100
    if price < 500000:
        return 500
    return 1000


def round_price(value: float, decimals: int) -> int:
    """Round a raw price to the market's tick, in units of 10**-decimals."""
    if decimals == 0:
        whole = max(int(round(value)), 1)
        tick = krx_tick(whole)
        return max(int(round(value / tick)) * tick, tick)
    units = value * 10**decimals
    # US stocks at or above $1 trade in cents.
    tick = 10 ** (decimals - 2) if value >= 1 else 1
    return max(int(round(units / tick)) * tick, tick)


def format_price(units: int, decimals: int) -> str:
    """Format a price in units of 10**-decimals as KIS text, e.g. "189.8400"."""
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}"


def is_business_day(day: date) -> bool:
    return day.weekday() < 5


def previous_business_day(day: date) -> date:
    day -= timedelta(days=1)
    while not is_business_day(day):
        day -= timedelta(days=1)
    return day


def latest_business_day(day: date) -> date:
    """Return `day` itself on Monday to Friday, else the Friday before."""
    while not is_business_day(day):
        day -= timedelta(days=1)
    return day


def domestic_today(now: float) -> date:
    """Return the KRX trading date for Unix time `now` (Mon-Fri, KST)."""
    return latest_business_day(datetime.fromtimestamp(now, UTC).astimezone(KST).date())


def us_today(now: float) -> date:
    """Return the US trading date for Unix time `now` (Mon-Fri, US Eastern)."""
    moment = datetime.fromtimestamp(now, UTC).astimezone(US_EASTERN)
    return latest_business_day(moment.date())


@dataclass(frozen=True, slots=True)
class Profile:
    """Per-symbol constants behind the generated series."""

    key: str
    decimals: int
    base: float
    listed: date
    split_date: date | None
    split_factor: int
    slow_amplitude: float
    slow_period: float
    slow_phase: float
    fast_amplitude: float
    fast_period: float
    fast_phase: float
    volume_base: float
    shares: int
    per: float
    pbr: float
    plus_sign: bool


def _date_between(key: str, salt: str, first: date, last: date) -> date:
    span = (last - first).days
    day = first + timedelta(days=int(_unit(key, salt) * span))
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


@dataclass(frozen=True, slots=True)
class Anchor:
    """A symbol's base price and listing date from its master file."""

    base: float
    listed: date | None


# Profile keys ("005930", "NAS:AAPL") to the master-file values the generated
# series start from. Symbols without one get hashed values.
_anchors: dict[str, Anchor] = {}


def set_anchors(anchors: dict[str, Anchor]) -> None:
    """Anchor the generated series to master-file prices and listing dates."""
    _anchors.clear()
    _anchors.update(anchors)
    profile.cache_clear()


@lru_cache(maxsize=65536)
def profile(key: str, decimals: int) -> Profile:
    """Return the constants of symbol `key` ("005930" or "NAS:AAPL")."""
    anchor = _anchors.get(key)
    if anchor is not None and anchor.base > 0:
        base = anchor.base
    else:
        low, high = (1000.0, 400000.0) if decimals == 0 else (2.0, 600.0)
        base = low * (high / low) ** _unit(key, "base")
    if anchor is not None and anchor.listed is not None:
        listed = anchor.listed
    elif _unit(key, "recent") < 0.2:
        # About one symbol in five listed recently; the rest before 2010.
        listed = _date_between(key, "listed", date(2024, 1, 1), date(2026, 6, 30))
    else:
        listed = _date_between(key, "listed", date(1990, 1, 1), date(2009, 12, 31))
    split_date: date | None = None
    split_factor = 1
    split_first = max(listed + timedelta(days=60), date(2012, 1, 1))
    if _unit(key, "split") < 0.25 and split_first < date(2025, 12, 31):
        split_date = _date_between(key, "split_date", split_first, date(2025, 12, 31))
        split_factor = (2, 5, 10)[int(_unit(key, "factor") * 3)]
    return Profile(
        key=key,
        decimals=decimals,
        base=base,
        listed=listed,
        split_date=split_date,
        split_factor=split_factor,
        slow_amplitude=0.1 + 0.4 * _unit(key, "slow_amplitude"),
        slow_period=200.0 + 600.0 * _unit(key, "slow_period"),
        slow_phase=2 * math.pi * _unit(key, "slow_phase"),
        fast_amplitude=0.02 + 0.06 * _unit(key, "fast_amplitude"),
        fast_period=20.0 + 40.0 * _unit(key, "fast_period"),
        fast_phase=2 * math.pi * _unit(key, "fast_phase"),
        volume_base=1000.0 * 5000.0 ** _unit(key, "volume"),
        shares=int(1_000_000 * 1000 ** _unit(key, "shares")),
        per=5.0 + 35.0 * _unit(key, "per"),
        pbr=0.3 + 4.0 * _unit(key, "pbr"),
        plus_sign=_unit(key, "plus") < 0.5,
    )


@dataclass(frozen=True, slots=True)
class Bar:
    """One daily, weekly or monthly bar; prices in units of 10**-decimals.

    `prev_close` is the close of the business day before the bar's first day,
    in the same adjustment as the bar.
    """

    day: date
    open: int
    high: int
    low: int
    close: int
    volume: int
    value: int
    prev_close: int
    split_ratio: int = 1

    @property
    def change(self) -> int:
        return self.close - self.prev_close

    @property
    def change_rate(self) -> float:
        if self.prev_close == 0:
            return 0.0
        return self.change / self.prev_close * 100


def sign_code(change: int) -> str:
    """Return the KIS sign code: 2 up, 3 unchanged, 5 down."""
    if change > 0:
        return "2"
    if change < 0:
        return "5"
    return "3"


def _scale(p: Profile, day: date) -> int:
    """Return the factor between original and adjusted prices on `day`."""
    if p.split_date is not None and day < p.split_date:
        return p.split_factor
    return 1


def _level(p: Profile, ordinal: int) -> float:
    """Return the adjusted raw price level (before tick rounding) of a day."""
    noise = _unit(p.key, "noise", ordinal) * 2 - 1
    exponent = (
        p.slow_amplitude
        * math.sin(2 * math.pi * ordinal / p.slow_period + p.slow_phase)
        + p.fast_amplitude
        * math.sin(2 * math.pi * ordinal / p.fast_period + p.fast_phase)
        + 0.02 * noise
    )
    return p.base * math.exp(exponent)


def _original_close(p: Profile, day: date) -> int:
    return round_price(_level(p, day.toordinal()) * _scale(p, day), p.decimals)


def _to_adjusted(units: int, scale: int, decimals: int) -> int:
    if scale == 1:
        return units
    return max(int(round(units / scale)), 1)


def daily_bar(p: Profile, day: date, adjusted: bool) -> Bar:
    """Build the daily bar of `day`; original prices are the traded ones."""
    ordinal = day.toordinal()
    scale = _scale(p, day)
    previous = previous_business_day(day)
    prev_scale = _scale(p, previous)
    close = _original_close(p, day)
    prev_close = _original_close(p, previous)

    u_open, u_high, u_low, u_volume = _units(p.key, ordinal)
    # The open gaps from the previous close, measured at today's share scale.
    reference = prev_close * scale / prev_scale
    raw_open = reference / 10**p.decimals * (1 + 0.02 * (u_open * 2 - 1))
    open_ = round_price(raw_open, p.decimals)
    top = max(open_, close) / 10**p.decimals * (1 + 0.025 * u_high)
    bottom = min(open_, close) / 10**p.decimals * (1 - 0.025 * u_low)
    high = max(round_price(top, p.decimals), open_, close)
    low = min(round_price(bottom, p.decimals), open_, close)
    volume = max(int(p.volume_base * math.exp(1.2 * (u_volume - 0.5)) / scale), 1)
    typical = (open_ + high + low + close) / 4 / 10**p.decimals
    value = int(volume * typical)
    split_ratio = p.split_factor if day == p.split_date else 1

    if adjusted:
        return Bar(
            day=day,
            open=_to_adjusted(open_, scale, p.decimals),
            high=_to_adjusted(high, scale, p.decimals),
            low=_to_adjusted(low, scale, p.decimals),
            close=_to_adjusted(close, scale, p.decimals),
            volume=volume * scale,
            value=value,
            prev_close=_to_adjusted(prev_close, prev_scale, p.decimals),
            split_ratio=split_ratio,
        )
    return Bar(day, open_, high, low, close, volume, value, prev_close, split_ratio)


def _period_key(day: date, period: str) -> tuple[int, int]:
    if period == "W":
        iso = day.isocalendar()
        return iso.year, iso.week
    if period == "M":
        return day.year, day.month
    if period == "Y":
        return day.year, 0
    return day.toordinal(), 0


def _aggregate(days: list[Bar]) -> Bar:
    """Merge daily bars (oldest first) into one period bar."""
    first, last = days[0], days[-1]
    return Bar(
        day=last.day,
        open=first.open,
        high=max(bar.high for bar in days),
        low=min(bar.low for bar in days),
        close=last.close,
        volume=sum(bar.volume for bar in days),
        value=sum(bar.value for bar in days),
        prev_close=first.prev_close,
    )


def bars(
    p: Profile,
    start: date,
    end: date,
    period: str,
    adjusted: bool,
    limit: int | None = MAX_ROWS,
) -> list[Bar]:
    """Return up to `limit` bars in [start, end], newest first.

    Only business days on or after the listing date count. Week ("W"),
    month ("M") and year ("Y") bars merge the daily bars of that period that
    fall inside [start, end] and carry the date of the last of them.
    """
    first = max(start, p.listed)
    day = latest_business_day(end)
    groups: list[list[Bar]] = []
    current_key: tuple[int, int] | None = None
    while day >= first:
        key = _period_key(day, period)
        if key != current_key:
            if limit is not None and len(groups) == limit:
                break
            groups.append([])
            current_key = key
        groups[-1].append(daily_bar(p, day, adjusted))
        day = previous_business_day(day)
    if period == "D":
        return [group[0] for group in groups]
    return [_aggregate(group[::-1]) for group in groups]


def domestic_bars(
    code: str,
    start: date,
    end: date,
    today: date,
    period: str = "D",
    adjusted: bool = True,
    limit: int | None = MAX_ROWS,
) -> list[Bar]:
    """Return the bars inquire-daily-itemchartprice serves for `code`.

    `code` is the short code as the master lists it (ETNs with their Q).
    Rows end at `end` or `today`, whichever is earlier.
    """
    p = profile(code, DOMESTIC_DECIMALS)
    return bars(p, start, min(end, today), period, adjusted, limit)


def overseas_bars(
    exchange: str,
    symbol: str,
    end: date,
    today: date,
    period: str = "D",
    adjusted: bool = True,
    limit: int | None = MAX_ROWS,
) -> list[Bar]:
    """Return the bars overseas dailyprice serves for `symbol` on `exchange`."""
    p = profile(f"{exchange}:{symbol}", US_DECIMALS)
    return bars(p, date.min, min(end, today), period, adjusted, limit)


def current_bar(p: Profile, today: date) -> Bar:
    """Return the adjusted daily bar of the latest business day."""
    return daily_bar(p, latest_business_day(today), adjusted=True)


def previous_bar(p: Profile, today: date) -> Bar:
    """Return the adjusted daily bar of the business day before the latest."""
    return daily_bar(p, previous_business_day(latest_business_day(today)), True)
