"""Tests for the master file readers, run on the real KIS master files."""

from __future__ import annotations

import csv
import time
import zipfile
from datetime import date
from pathlib import Path

import pytest

from kis_fetch.errors import InputError
from kis_fetch.masters import (
    MasterIndex,
    default_master_dir,
    master_market,
    parse_domestic,
    parse_overseas,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KRX = DATA / "krx"
US = DATA / "us"

pytestmark = pytest.mark.skipif(
    not (KRX / "kospi_code.mst").is_file(), reason=f"real master files not in {DATA}"
)


@pytest.fixture(scope="module")
def index() -> MasterIndex:
    return MasterIndex.load(DATA)


def raw_lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line]


def csv_rows() -> list[dict[str, str]]:
    with open(KRX / "kospi_code_mst.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_markets_found(index: MasterIndex) -> None:
    assert index.markets() == ["kospi", "kosdaq", "nas", "nys", "ams"]


def test_record_count_per_market(index: MasterIndex) -> None:
    files = {
        "kospi": KRX / "kospi_code.mst",
        "kosdaq": KRX / "kosdaq_code.mst",
        "nas": US / "NASMST.COD",
        "nys": US / "NYSMST.COD",
        "ams": US / "AMSMST.COD",
    }
    for market, path in files.items():
        count = sum(1 for _ in index.records([market]))
        assert count == len(raw_lines(path)), market


def test_kospi_stocks_match_raw_group_code(index: MasterIndex) -> None:
    # The group code is the first 2 bytes of the 227-byte trailer.
    expected = [
        line[:9].decode("ascii").strip()
        for line in raw_lines(KRX / "kospi_code.mst")
        if line[-227:-225] == b"ST"
    ]
    stocks = [r.symbol for r in index.records(["kospi"]) if r.type == "stock"]
    assert stocks == expected
    assert len(stocks) == 915
    assert "00088K" in stocks


def test_kospi_stocks_match_csv_group_column(index: MasterIndex) -> None:
    expected = [row["단축코드"] for row in csv_rows() if row["그룹코드"] == "ST"]
    stocks = [r.symbol for r in index.records(["kospi"]) if r.type == "stock"]
    assert stocks == expected


def test_kospi_names_match_csv(index: MasterIndex) -> None:
    expected = [(row["단축코드"], row["한글명"]) for row in csv_rows()]
    parsed = [(r.symbol, r.name) for r in index.records(["kospi"])]
    assert parsed == expected


def test_kosdaq_groups(index: MasterIndex) -> None:
    expected = [
        line[-221:-219].decode("ascii") for line in raw_lines(KRX / "kosdaq_code.mst")
    ]
    types = {"ST": "stock", "FS": "foreign-stock", "DR": "dr"}
    parsed = [r.type for r in index.records(["kosdaq"])]
    assert parsed == [types[group] for group in expected]


def test_domestic_lookup(index: MasterIndex) -> None:
    samsung = index.domestic("005930")
    assert samsung is not None
    assert samsung.name == "삼성전자"
    assert samsung.exchange == "KRX"
    assert samsung.market == "kospi"
    assert samsung.type == "stock"
    assert samsung.currency == "KRW"
    assert samsung.name_en == ""
    preferred = index.domestic("00088K")
    assert preferred is not None
    assert preferred.name == "한화3우B"
    kosdaq = index.domestic("08537M")
    assert kosdaq is not None
    assert kosdaq.market == "kosdaq"
    assert index.domestic("999999") is None


def test_etn_codes_keep_q_prefix(index: MasterIndex) -> None:
    etns = [r for r in index.records(["kospi"]) if r.type == "etn"]
    assert len(etns) == 365
    assert all(r.symbol.startswith("Q") and len(r.symbol) == 7 for r in etns)
    etn = index.domestic("Q500055")
    assert etn is not None
    assert etn.type == "etn"
    # The 6 digits alone find the ETN too.
    assert index.domestic("500055") == etn


def test_fund_and_warrant_codes_have_nine_chars(index: MasterIndex) -> None:
    long_codes = [r for r in index.records(["kospi"]) if len(r.symbol) == 9]
    assert len(long_codes) == 94
    assert {r.type for r in long_codes} == {"fund", "warrant"}


def test_us_exchange(index: MasterIndex) -> None:
    assert index.us_exchange("AAPL") == "NAS"
    assert index.us_exchange("IBM") == "NYS"
    assert index.us_exchange("SPY") == "AMS"
    assert index.us_exchange("aapl") == "NAS"
    assert index.us_exchange("BRK/B") == "NYS"
    assert index.us_exchange("BRK.B") == "NYS"
    assert index.us_exchange("NOSUCHSYM") is None


def test_overseas_lookup(index: MasterIndex) -> None:
    berkshire = index.overseas("NYS", "BRK-B")
    assert berkshire is not None
    assert berkshire.symbol == "BRK/B"
    assert berkshire.name == "버크셔 해서웨이 B주"
    assert berkshire.name_en == "BERKSHIRE HATHAWAY INC"
    assert berkshire.currency == "USD"
    spy = index.overseas("ams", "SPY")
    assert spy is not None
    assert spy.type == "etf"
    assert spy.market == "ams"
    assert index.overseas("BAQ", "AAPL") == index.overseas("NAS", "AAPL")
    assert index.overseas("NAS", "IBM") is None
    assert index.overseas("HKS", "00700") is None


def test_overseas_types(index: MasterIndex) -> None:
    types = {r.type for r in index.records(["ams"])}
    assert types == {"stock", "etf", "etn", "etp"}


def test_records_order_and_selection(index: MasterIndex) -> None:
    markets = [r.market for r in index.records(["nys", "kosdaq", "nys"])]
    assert markets == ["nys"] * 3384 + ["kosdaq"] * 1633
    assert list(index.records(["konex"])) == []


def test_load_all_under_one_second() -> None:
    start = time.perf_counter()
    index = MasterIndex.load(DATA)
    total = sum(1 for _ in index.records())
    elapsed = time.perf_counter() - start
    assert total == 2084 + 1633 + 5140 + 3384 + 2816
    assert elapsed < 1.0


def test_load_from_zips(tmp_path: Path) -> None:
    nested = tmp_path / "downloads" / "2023"
    nested.mkdir(parents=True)
    with zipfile.ZipFile(nested / "KOSPI_CODE.MST.ZIP", "w") as archive:
        archive.write(KRX / "kospi_code.mst", "kospi_code.mst")
    with zipfile.ZipFile(tmp_path / "nasmst.cod.zip", "w") as archive:
        archive.write(US / "NASMST.COD", "NASMST.COD")
    index = MasterIndex.load(tmp_path)
    assert index.markets() == ["kospi", "nas"]
    assert index.us_exchange("AAPL") == "NAS"
    record = index.domestic("005930")
    assert record is not None
    assert record.name == "삼성전자"


def test_load_missing_folder(tmp_path: Path) -> None:
    index = MasterIndex.load(tmp_path / "absent")
    assert index.markets() == []
    assert index.domestic("005930") is None
    assert index.us_exchange("AAPL") is None


def test_master_market_names() -> None:
    assert master_market("kospi_code.mst") == "kospi"
    assert master_market("KOSDAQ_CODE.MST") == "kosdaq"
    assert master_market("konex_code.mst.zip") == "konex"
    assert master_market("hksmst.cod") == "hks"
    assert master_market("NASMST.COD.zip") == "nas"
    assert master_market("kospi_code_mst.csv") is None
    assert master_market("idxcode.mst") is None


def domestic_line(code: str, name: str, group: str, trailer: int = 227) -> bytes:
    head = code.ljust(9).encode() + b"KR7000000000" + name.encode("cp949")
    return head + group.encode() + b" " * (trailer - 2)


def test_parse_domestic_adds_etn_prefix() -> None:
    data = domestic_line("500001", "테스트 ETN", "EN") + b"\n"
    (record,) = parse_domestic(data, "kospi")
    assert record.symbol == "Q500001"
    assert record.type == "etn"
    assert record.name == "테스트 ETN"


def test_parse_domestic_crlf_and_unknown_group() -> None:
    data = domestic_line("123456", "가나다", "ZZ", trailer=221) + b"\r\n"
    (record,) = parse_domestic(data, "kosdaq")
    assert record.symbol == "123456"
    assert record.type == "zz"
    assert record.name == "가나다"


def test_parse_domestic_rejects_short_line() -> None:
    with pytest.raises(InputError, match="line 2"):
        parse_domestic(domestic_line("005930", "삼성", "ST") + b"\n005930\n", "kospi")


def test_parse_domestic_rejects_wrong_trailer_length() -> None:
    data = (KRX / "kospi_code.mst").read_bytes()
    with pytest.raises(InputError, match="group code"):
        parse_domestic(data, "kosdaq", "kospi_code.mst")


def test_parse_overseas_rejects_short_row() -> None:
    with pytest.raises(InputError, match="columns"):
        parse_overseas(b"US\t22\tNAS\n", "nas")


def test_default_master_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KIS_FETCH_MASTER_DIR", raising=False)
    monkeypatch.setenv("KIS_FETCH_CACHE_DIR", str(tmp_path / "cache"))
    assert default_master_dir() == tmp_path / "cache" / "masters"
    monkeypatch.setenv("KIS_FETCH_MASTER_DIR", str(tmp_path / "m"))
    assert default_master_dir() == tmp_path / "m"
    monkeypatch.delenv("KIS_FETCH_MASTER_DIR")
    monkeypatch.delenv("KIS_FETCH_CACHE_DIR")
    assert default_master_dir().name == "masters"


def test_base_price_and_listing_date(index: MasterIndex) -> None:
    samsung = index.domestic("005930")
    ecopro = index.domestic("247540")
    coke = index.overseas("NYS", "KO")
    assert samsung is not None
    assert ecopro is not None
    assert coke is not None
    assert (samsung.base_price, samsung.listed) == (61300.0, "19750611")
    assert (ecopro.base_price, ecopro.listed) == (200000.0, "20190305")
    assert (coke.base_price, coke.listed) == (63.65, "")


def test_simulated_prices_near_master_base(index: MasterIndex) -> None:
    from kis_fetch.sim import quotes
    from kis_fetch.sim.catalog import Catalog

    Catalog.load(DATA)
    today = date(2026, 12, 4)
    for key, decimals, base in (
        ("005930", quotes.DOMESTIC_DECIMALS, 61300),
        ("NYS:KO", quotes.US_DECIMALS, 63.65),
    ):
        profile = quotes.profile(key, decimals)
        close = quotes.current_bar(profile, today).close / 10**decimals
        assert base / 3 < close < base * 3, key
    assert quotes.profile("005930", quotes.DOMESTIC_DECIMALS).listed == date(
        1975, 6, 11
    )
