"""Readers for the KIS symbol master files.

KIS publishes one master file per market as a zip download:

* Domestic ``kospi_code.mst``, ``kosdaq_code.mst`` and ``konex_code.mst``:
  CP949 text, one issue per line. A line starts with the short code (9 bytes,
  space padded), the standard code (ISIN, 12 bytes) and the Korean name. It
  ends with a fixed-width ASCII trailer whose first two bytes are the security
  group code (ST stock, EF ETF, EN ETN, ...). The trailer is 227 bytes for
  KOSPI, 221 for KOSDAQ and 183 for KONEX, not counting the newline.
* Overseas ``NASMST.COD``, ``NYSMST.COD``, ... (prefix = quotation EXCD):
  CP949, tab-separated. Column 3 is the EXCD, column 5 the symbol, columns 7
  and 8 the Korean and English names, column 9 the security type (1 index,
  2 stock, 3 ETP, 4 warrant), column 10 the currency and column 23 the ETP
  class (001 ETF, 002 ETN, 003 ETC, 004 other, 005 VIX ETF, 006 VIX ETN).
  The published layout has 24 columns, but the September 2022 US files have
  23 because they lack the last one (tick-size detail).

`MasterIndex.load` finds these files (or their ``.zip`` downloads) below a
folder and parses each market on first use.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kis_fetch.errors import InputError
from kis_fetch.models import CURRENCY_BY_EXCHANGE, DOMESTIC, US_PROBE_ORDER

ENCODING = "cp949"

# Market name -> trailer length in bytes without the newline. The KONEX length
# comes from the published layout (184 characters with the newline).
# NOTE: no real konex_code.mst has been parsed by the tests.
DOMESTIC_TRAILER_BYTES = {"kospi": 227, "kosdaq": 221, "konex": 183}
DOMESTIC_MARKETS = tuple(DOMESTIC_TRAILER_BYTES)
US_MARKETS = tuple(code.lower() for code in US_PROBE_ORDER)

# Short code (9) + standard code (12) precede the name in a domestic line.
_SHORT_CODE_BYTES = 9
_STANDARD_CODE_END = 21

# Security group code (증권그룹구분코드) -> record type.
DOMESTIC_TYPES = {
    "ST": "stock",  # 주권
    "EF": "etf",
    "EN": "etn",
    "RT": "reit",  # 부동산투자회사
    "MF": "fund",  # 증권투자회사 (mutual fund)
    "BC": "fund",  # 수익증권 (beneficiary certificate), 9-character codes
    "SC": "ship-fund",  # 선박투자회사
    "IF": "infra",  # 사회간접자본투융자회사
    "DR": "dr",  # 주식예탁증서
    "EW": "elw",
    "SW": "warrant",  # 신주인수권증권, 9-character codes
    "SR": "rights",  # 신주인수권증서
    "FE": "foreign-etf",
    "FS": "foreign-stock",
}

# Overseas security type (column 9) -> record type. ETPs ("3") map by ETP_TYPES.
OVERSEAS_TYPES = {"1": "index", "2": "stock", "3": "etp", "4": "warrant"}
ETP_TYPES = {
    "001": "etf",
    "002": "etn",
    "003": "etc",
    "004": "etp",
    "005": "etf",  # VIX futures ETF
    "006": "etn",  # VIX futures ETN
}

# Overseas column positions (0-based).
_COL_EXCHANGE = 2
_COL_SYMBOL = 4
_COL_NAME = 6
_COL_NAME_EN = 7
_COL_SECURITY_TYPE = 8
_COL_CURRENCY = 9
_COL_BASE_PRICE = 12
_COL_ETP_CLASS = 22
# Byte offsets of the base price (9 digits) and the listing date (8 digits)
# in the domestic trailers. The KONEX layout is not mapped.
_DOMESTIC_BASE_PRICE = {"kospi": 41, "kosdaq": 36}
_DOMESTIC_LISTED = {"kospi": 105, "kosdaq": 100}

_DOMESTIC_FILE_RE = re.compile(r"^(kospi|kosdaq|konex)_code\.mst(\.zip)?$", re.I)
_OVERSEAS_FILE_RE = re.compile(r"^([a-z]{3})mst\.cod(\.zip)?$", re.I)
_ETN_DIGITS_RE = re.compile(r"^[0-9]{6}$")


@dataclass(frozen=True, slots=True)
class MasterRecord:
    """One listing from a master file.

    `symbol` is the code as the quote API takes it: a domestic short code
    ("005930", "00088K"), an ETN code with its Q prefix ("Q500055"), or an
    overseas symbol ("AAPL", "BRK/B"). Domestic funds (BC) and warrants (SW)
    have 9-character codes, which the 6-character quote API does not accept.
    """

    symbol: str
    name: str
    name_en: str
    exchange: str
    market: str
    type: str
    currency: str
    # The base price (previous close) and listing date (YYYYMMDD) on the day
    # the file was made, or 0.0 and "" where the file has none. The simulator
    # anchors its prices to them.
    base_price: float = 0.0
    listed: str = ""

    @property
    def key(self) -> str:
        """Return the ticker text for this listing: "005930" or "NAS:AAPL"."""
        if self.exchange == DOMESTIC:
            return self.symbol
        return f"{self.exchange}:{self.symbol}"


@dataclass(frozen=True, slots=True)
class _Source:
    """Location of one market's master file, inside a zip when `member` is set."""

    market: str
    path: Path
    member: str | None

    def read_bytes(self) -> bytes:
        if self.member is None:
            return self.path.read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self.member)

    def describe(self) -> str:
        if self.member is None:
            return str(self.path)
        return f"{self.path}!{self.member}"


def default_master_dir() -> Path:
    """Return the master folder: `KIS_FETCH_MASTER_DIR`, else `<cache>/masters`.

    The cache root is `KIS_FETCH_CACHE_DIR` when set, else the platform's
    user cache folder for kis-fetch.
    """
    override = os.environ.get("KIS_FETCH_MASTER_DIR")
    if override:
        return Path(override).expanduser()
    cache_root = os.environ.get("KIS_FETCH_CACHE_DIR")
    if cache_root:
        return Path(cache_root).expanduser() / "masters"
    from platformdirs import user_cache_path

    return user_cache_path("kis-fetch") / "masters"


def master_market(file_name: str) -> str | None:
    """Return the market of a master file or zip name, or None if it is not one.

    >>> master_market("NASMST.COD"), master_market("kospi_code.mst.zip")
    ('nas', 'kospi')
    """
    match = _DOMESTIC_FILE_RE.match(file_name) or _OVERSEAS_FILE_RE.match(file_name)
    if match is None:
        return None
    return match.group(1).lower()


def _zip_member(path: Path) -> str | None:
    """Return the name of the master file inside a zip download, if any."""
    expected = path.name[: -len(".zip")].lower()
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read master zip {path}: {exc}") from exc
    for name in names:
        if name.rsplit("/", 1)[-1].lower() == expected:
            return name
    return None


def _find_sources(directory: Path) -> dict[str, _Source]:
    """Find one master file per market below `directory`, the newest if several."""
    found: dict[str, tuple[float, _Source]] = {}
    for path in sorted(directory.rglob("*")):
        market = master_market(path.name)
        if market is None or not path.is_file():
            continue
        member = None
        if path.name.lower().endswith(".zip"):
            member = _zip_member(path)
            if member is None:
                continue
        mtime = path.stat().st_mtime
        if market not in found or mtime > found[market][0]:
            found[market] = (mtime, _Source(market, path, member))
    return {market: source for market, (_, source) in found.items()}


def _split_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if line.strip():
            yield number, line


def parse_domestic(data: bytes, market: str, source: str = "") -> list[MasterRecord]:
    """Parse a domestic .mst file's bytes into records, in file order.

    The trailer is cut off the end of each line in bytes before decoding, since
    the CP949 name in the middle has a variable byte length.

    Raises InputError when a line is too short or its trailer does not start
    with a two-letter group code, which is what a wrong trailer length gives.
    """
    trailer_bytes = DOMESTIC_TRAILER_BYTES[market]
    records = []
    for number, line in _split_lines(data):
        if len(line) < _STANDARD_CODE_END + trailer_bytes:
            raise InputError(
                f"{source}: line {number}: line too short ({len(line)} bytes) for "
                f"the {market} master layout; download it again with `kis-fetch "
                "symbols update`"
            )
        head, trailer = line[:-trailer_bytes], line[-trailer_bytes:]
        group = trailer[:2].decode("ascii", errors="replace")
        if not (group.isascii() and group.isalpha() and group.isupper()):
            raise InputError(
                f"{source}: line {number}: invalid security group code {group!r}, "
                f"so the file is not a {market} master file"
            )
        symbol = head[:_SHORT_CODE_BYTES].decode("ascii", errors="replace").strip()
        record_type = DOMESTIC_TYPES.get(group, group.lower())
        if record_type == "etn" and _ETN_DIGITS_RE.match(symbol):
            # The quote API takes ETN codes with a Q prefix. Current files
            # include it already; older ones listed the 6 digits alone.
            symbol = "Q" + symbol
        name = head[_STANDARD_CODE_END:].decode(ENCODING, errors="replace").strip()
        base_price, listed = 0.0, ""
        if market in _DOMESTIC_BASE_PRICE:
            base_at, listed_at = _DOMESTIC_BASE_PRICE[market], _DOMESTIC_LISTED[market]
            base_price = _number(
                trailer[base_at : base_at + 9].decode("ascii", "replace")
            )
            listed = _date_text(
                trailer[listed_at : listed_at + 8].decode("ascii", "replace")
            )
        records.append(
            MasterRecord(
                symbol=symbol,
                name=name,
                name_en="",
                exchange=DOMESTIC,
                market=market,
                type=record_type,
                currency="KRW",
                base_price=base_price,
                listed=listed,
            )
        )
    return records


def _overseas_type(security_type: str, etp_class: str) -> str:
    record_type = OVERSEAS_TYPES.get(security_type, "other")
    if record_type == "etp":
        return ETP_TYPES.get(etp_class, "etp")
    return record_type


def parse_overseas(data: bytes, market: str, source: str = "") -> list[MasterRecord]:
    """Parse an overseas .COD file's bytes into records, in file order.

    The exchange comes from column 3 of each row, falling back to the market
    name upper-cased. Raises InputError on a row with fewer than 10 columns.
    """
    records = []
    text = data.decode(ENCODING, errors="replace")
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) <= _COL_CURRENCY:
            raise InputError(
                f"{source}: line {number}: {len(columns)} tab-separated columns, "
                "expected 23 or 24, so the file is not an overseas master file"
            )
        exchange = columns[_COL_EXCHANGE].strip().upper() or market.upper()
        etp_class = ""
        if len(columns) > _COL_ETP_CLASS:
            etp_class = columns[_COL_ETP_CLASS].strip()
        currency = columns[_COL_CURRENCY].strip().upper()
        records.append(
            MasterRecord(
                symbol=columns[_COL_SYMBOL].strip(),
                name=columns[_COL_NAME].strip(),
                name_en=columns[_COL_NAME_EN].strip(),
                exchange=exchange,
                market=market,
                type=_overseas_type(columns[_COL_SECURITY_TYPE].strip(), etp_class),
                currency=currency or CURRENCY_BY_EXCHANGE.get(exchange, ""),
                base_price=_number(columns[_COL_BASE_PRICE])
                if len(columns) > _COL_BASE_PRICE
                else 0.0,
            )
        )
    return records


def _number(text: str) -> float:
    """Return `text` as a number, or 0.0 when it is blank or not a number."""
    try:
        return float(text.strip())
    except ValueError:
        return 0.0


def _date_text(text: str) -> str:
    """Return `text` when it is a YYYYMMDD date, else an empty string."""
    return (
        text if text.isdigit() and len(text) == 8 and text[:2] in ("19", "20") else ""
    )


def _market_order(market: str) -> tuple[int, str]:
    order = DOMESTIC_MARKETS + US_MARKETS
    if market in order:
        return order.index(market), market
    return len(order), market


def _symbol_variants(symbol: str) -> list[str]:
    """Return the spellings of an overseas symbol to look up, exact one first.

    Class shares are "BRK/B" in the master files; users also write "BRK.B"
    and "BRK-B".
    """
    upper = symbol.strip().upper()
    variants = [upper]
    for separator in (".", "-"):
        if separator in upper:
            variants.append(upper.replace(separator, "/"))
    return variants


class MasterIndex:
    """Master files found below one folder, parsed per market on first use."""

    def __init__(self, sources: dict[str, _Source]) -> None:
        self._sources = sources
        self._records: dict[str, list[MasterRecord]] = {}
        self._by_symbol: dict[str, dict[str, MasterRecord]] = {}

    @classmethod
    def load(cls, directory: Path) -> MasterIndex:
        """Find the master files (or their .zip downloads) anywhere below `directory`.

        File names match case-insensitively. A missing folder gives an empty
        index. Files are parsed later, when a market is first used.
        """
        if not directory.is_dir():
            return cls({})
        return cls(_find_sources(directory))

    def markets(self) -> list[str]:
        """Return the markets with a master file: domestic first, then NAS, NYS, AMS."""
        return sorted(self._sources, key=_market_order)

    def source(self, market: str) -> Path | None:
        """Return the file a market's records come from, or None if it has none."""
        found = self._sources.get(market)
        return found.path if found else None

    def _market_records(self, market: str) -> list[MasterRecord]:
        cached = self._records.get(market)
        if cached is not None:
            return cached
        source = self._sources.get(market)
        if source is None:
            return []
        try:
            data = source.read_bytes()
        except (OSError, zipfile.BadZipFile, KeyError) as exc:
            raise InputError(
                f"cannot read master file {source.describe()}: {exc}"
            ) from exc
        if market in DOMESTIC_TRAILER_BYTES:
            records = parse_domestic(data, market, source.describe())
        else:
            records = parse_overseas(data, market, source.describe())
        self._records[market] = records
        by_symbol: dict[str, MasterRecord] = {}
        for record in records:
            by_symbol.setdefault(record.symbol.upper(), record)
        self._by_symbol[market] = by_symbol
        return records

    def _lookup(self, market: str, symbol: str) -> MasterRecord | None:
        self._market_records(market)
        return self._by_symbol.get(market, {}).get(symbol)

    def records(self, markets: Iterable[str] | None = None) -> Iterator[MasterRecord]:
        """Yield the records of `markets` (default: all), each market in file order.

        Markets come in the order given; a market without a file yields nothing.
        """
        selected = self.markets() if markets is None else list(dict.fromkeys(markets))
        for market in selected:
            yield from self._market_records(market.lower())

    def domestic(self, code: str) -> MasterRecord | None:
        """Return the KOSPI, KOSDAQ or KONEX record for a short code.

        A 6-digit code that is not listed is also tried with the ETN Q prefix.
        """
        code = code.strip().upper()
        candidates = [code]
        if _ETN_DIGITS_RE.match(code):
            candidates.append("Q" + code)
        for candidate in candidates:
            for market in DOMESTIC_MARKETS:
                record = self._lookup(market, candidate)
                if record is not None:
                    return record
        return None

    def overseas(self, exchange: str, symbol: str) -> MasterRecord | None:
        """Return the record for `symbol` on a quotation exchange such as "NAS".

        The US day-session codes BAQ, BAY and BAA look in the NAS, NYS and AMS
        files. "BRK.B" and "BRK-B" also find "BRK/B".
        """
        market = exchange.strip().lower()
        market = {"baq": "nas", "bay": "nys", "baa": "ams"}.get(market, market)
        for variant in _symbol_variants(symbol):
            record = self._lookup(market, variant)
            if record is not None:
                return record
        return None

    def us_exchange(self, symbol: str) -> str | None:
        """Return NAS, NYS or AMS for a bare US symbol, or None if no file lists it."""
        for exchange in US_PROBE_ORDER:
            record = self.overseas(exchange, symbol)
            if record is not None:
                return record.exchange
        return None
