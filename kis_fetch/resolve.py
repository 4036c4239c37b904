"""Names and exchanges for requested symbols: master files first, then a
small cache of exchanges found by probing."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from kis_fetch.models import DOMESTIC, US_PROBE_ORDER, Ticker

if TYPE_CHECKING:
    from kis_fetch.masters import MasterIndex

log = logging.getLogger(__name__)


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
