"""Names and exchanges for requested symbols: master files first, then a
small cache of exchanges found by probing."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from kis_fetch.errors import NotFoundError
from kis_fetch.models import DOMESTIC, US_EXCHANGES, US_PROBE_ORDER, Ticker

if TYPE_CHECKING:
    from kis_fetch.masters import MasterIndex

log = logging.getLogger(__name__)

# KIS and its master files write US class shares with '/' (BRK/B), where
# users also write '.' (BRK.B) or '-' (BRK-B).
_CLASS_SEPARATOR_RE = re.compile(r"[.-]")


def slash_spelling(symbol: str) -> str:
    """Return `symbol` with each '.' and '-' replaced by '/': BRK.B -> BRK/B."""
    return _CLASS_SEPARATOR_RE.sub("/", symbol)


def load_masters(directory: Path | None) -> MasterIndex | None:
    """Load the master files below `directory`, or the default master folder.

    Returns None when no master file is there; the run then probes exchanges.
    """
    from kis_fetch.masters import MasterIndex, default_master_dir

    folder = directory or default_master_dir()
    if not folder.is_dir():
        log.info(
            "no master files in %s: names stay empty and bare US symbols are "
            "probed on NAS, NYS, AMS (run `kis-fetch symbols update`)",
            folder,
        )
        return None
    index = MasterIndex.load(folder)
    if not index.markets():
        log.info(
            "no master files in %s: bare US symbols are probed on NAS, NYS, "
            "AMS (run `kis-fetch symbols update`)",
            folder,
        )
        return None
    log.info("master files from %s: %s", folder, ", ".join(index.markets()))
    return index


class ExchangeCache:
    """Exchanges found for bare US symbols, kept in the cache folder."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / "exchanges.json"
        self._found: dict[str, str] = {}
        self._dirty = False
        try:
            data = json.loads(self.path.read_text())
            if isinstance(data, dict):
                self._found = {str(k): str(v) for k, v in data.items()}
        except (OSError, ValueError):
            pass

    def get(self, symbol: str) -> str | None:
        return self._found.get(symbol)

    def put(self, symbol: str, exchange: str) -> None:
        if self._found.get(symbol) != exchange:
            self._found[symbol] = exchange
            self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._found, sort_keys=True))
        os.replace(tmp, self.path)
        self._dirty = False


class Resolver:
    """Looks up names and candidate exchanges for tickers."""

    def __init__(self, masters: MasterIndex | None, cache: ExchangeCache) -> None:
        self.masters = masters
        self.cache = cache

    def name(self, symbol: str, exchange: str) -> str | None:
        if self.masters is None:
            return None
        if exchange == DOMESTIC:
            record = self.masters.domestic(symbol)
        else:
            record = self.masters.overseas(exchange, symbol)
        return record.name if record is not None else None

    def candidates(self, ticker: Ticker) -> list[str]:
        """Return the exchanges to try for a bare US symbol, likeliest first."""
        if self.masters is not None:
            exchange = self.masters.us_exchange(ticker.symbol)
            if exchange is not None:
                return [exchange]
        cached = self.cache.get(ticker.symbol)
        order = list(US_PROBE_ORDER)
        if cached in order:
            order.remove(cached)
            order.insert(0, cached)
        return order

    def kis_spelling(self, ticker: Ticker) -> Ticker:
        """Return `ticker` with its symbol spelled as the master files list it.

        An overseas symbol with '.' or '-' takes the '/' spelling when a master
        file lists that one: BRK.B becomes BRK/B and NYS:BRK-B becomes
        NYS:BRK/B. Other tickers, and all tickers without master files, are
        returned unchanged.
        """
        if self.masters is None or ticker.is_domestic:
            return ticker
        if not _CLASS_SEPARATOR_RE.search(ticker.symbol):
            return ticker
        exchanges = US_PROBE_ORDER if ticker.exchange is None else (ticker.exchange,)
        for exchange in exchanges:
            record = self.masters.overseas(exchange, ticker.symbol)
            if record is not None:
                return Ticker(record.symbol, ticker.exchange)
        return ticker

    def not_found(self, ticker: Ticker, message: str = "not found") -> NotFoundError:
        """Build the error for a US symbol that KIS did not find.

        For a symbol with '.' or '-', the message suggests its '/' spelling:
        as a question when a master file lists it, as a guess when there are
        no US master files.
        """
        hint = self._class_share_hint(ticker)
        return NotFoundError(f"{message}; {hint}" if hint else message)

    def _class_share_hint(self, ticker: Ticker) -> str | None:
        if ticker.exchange is not None and ticker.exchange not in US_EXCHANGES:
            return None
        if not _CLASS_SEPARATOR_RE.search(ticker.symbol):
            return None
        spelled = slash_spelling(ticker.symbol)
        us_markets = {exchange.lower() for exchange in US_PROBE_ORDER}
        if self.masters is None or not us_markets & set(self.masters.markets()):
            guess = Ticker(spelled, ticker.exchange).key
            return f"KIS lists class shares with '/', so try {guess}"
        exchange = self.masters.us_exchange(spelled)
        if exchange is None:
            return None
        if ticker.exchange is None:
            return f"did you mean {spelled}?"
        return f"did you mean {exchange}:{spelled}?"
