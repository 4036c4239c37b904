"""Symbol lookups for the simulator's endpoints, built once from the master files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from kis_fetch.sim import quotes

DOMESTIC_MASTER_FILES = ("kospi_code.mst", "kosdaq_code.mst", "konex_code.mst")
# "Q" and six characters: the longest code inquire-price takes (an ETN).
MAX_DOMESTIC_CODE_LENGTH = 7


@dataclass(frozen=True, slots=True)
class Listing:
    """A listed symbol: the code KIS expects in requests, its name and market."""

    code: str
    name: str
    market: str
    type: str


class Catalog:
    """Domestic listings by request code and overseas listings by exchange."""

    def __init__(
        self,
        domestic: dict[str, Listing],
        overseas: dict[str, dict[str, Listing]],
        master_files: dict[str, Path],
    ) -> None:
        self.domestic = domestic
        self.overseas = overseas
        # Master file names in lower case (e.g. "nasmst.cod") to their paths.
        self.master_files = master_files

    @classmethod
    def load(cls, directory: Path) -> Catalog:
        """Load every master file found below `directory`.

        Raises FileNotFoundError when `directory` contains no master file.
        """
        from kis_fetch.masters import DOMESTIC_MARKETS, MasterIndex

        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"master directory not found: {directory}")
        master_files = find_master_files(directory)
        if not master_files:
            raise FileNotFoundError(
                f"no master files (kospi_code.mst, NASMST.COD, ...) below {directory}"
            )
        domestic: dict[str, Listing] = {}
        overseas: dict[str, dict[str, Listing]] = {}
        anchors: dict[str, quotes.Anchor] = {}
        for record in MasterIndex.load(directory).records():
            anchors[record.key] = quotes.Anchor(
                record.base_price, _listing_date(record.listed)
            )
            if record.market in DOMESTIC_MARKETS:
                # MasterIndex gives ETN codes with the Q prefix the quote API
                # expects. Fund and warrant codes have 9 characters, which the
                # quote API does not accept, so they stay unknown here.
                if len(record.symbol) <= MAX_DOMESTIC_CODE_LENGTH:
                    domestic[record.symbol] = Listing(
                        record.symbol, record.name, record.market, record.type
                    )
            else:
                listing = Listing(
                    record.symbol, record.name, record.market, record.type
                )
                overseas.setdefault(record.exchange, {})[record.symbol] = listing
        quotes.set_anchors(anchors)
        return cls(domestic, overseas, master_files)

    def overseas_listing(self, exchange: str, symbol: str) -> Listing | None:
        return self.overseas.get(exchange, {}).get(symbol)


def _listing_date(text: str) -> date | None:
    """Return a YYYYMMDD text as a date, or None when it is blank or invalid."""
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def find_master_files(directory: Path) -> dict[str, Path]:
    """Map lower-case master file names to paths anywhere below `directory`."""
    found: dict[str, Path] = {}
    for path in sorted(directory.rglob("*")):
        name = path.name.lower()
        if not path.is_file():
            continue
        if name in DOMESTIC_MASTER_FILES or name.endswith("mst.cod"):
            found.setdefault(name, path)
    return found
