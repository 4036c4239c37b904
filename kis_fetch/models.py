"""Value types shared by the fetcher, the writers and the simulator."""

from __future__ import annotations

from dataclasses import dataclass

DOMESTIC = "KRX"

# Overseas quotation exchange codes (EXCD) that the price TR accepts.
OVERSEAS_EXCHANGES = frozenset(
    {
        "NAS", "NYS", "AMS", "HKS", "TSE", "SHS", "SZS", "SHI", "SZI",
        "HSX", "HNX", "BAQ", "BAY", "BAA",
    }
)  # fmt: skip

# Exchanges tried in turn for a bare US symbol when no master file lists it.
US_PROBE_ORDER = ("NAS", "NYS", "AMS")

# US quotation exchange codes: the three markets and their day-session codes.
US_EXCHANGES = frozenset({*US_PROBE_ORDER, "BAQ", "BAY", "BAA"})

CURRENCY_BY_EXCHANGE = {
    DOMESTIC: "KRW",
    "NAS": "USD", "NYS": "USD", "AMS": "USD", "BAQ": "USD", "BAY": "USD",
    "BAA": "USD", "HKS": "HKD", "TSE": "JPY", "SHS": "CNY", "SZS": "CNY",
    "SHI": "CNY", "SZI": "CNY", "HSX": "VND", "HNX": "VND",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Ticker:
    """One requested symbol.

    `exchange` is "KRX" for a domestic code, a quotation EXCD such as "NAS"
    for an overseas symbol, or None for a bare US symbol whose exchange is
    not known yet.
    """

    symbol: str
    exchange: str | None

    @property
    def is_domestic(self) -> bool:
        return self.exchange == DOMESTIC

    @property
    def key(self) -> str:
        """Return the text that identifies this ticker in output and resume files."""
        if self.exchange in (None, DOMESTIC):
            return self.symbol
        return f"{self.exchange}:{self.symbol}"
