"""Tests for the resolver's spelling of US class shares, on the real master files."""

from __future__ import annotations

from pathlib import Path

import pytest

from kis_fetch.masters import MasterIndex
from kis_fetch.models import Ticker
from kis_fetch.resolve import ExchangeCache, Resolver, slash_spelling
from kis_fetch.runner import respell, skip_done

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = pytest.mark.skipif(
    not (DATA / "us" / "NYSMST.COD").is_file(),
    reason=f"real master files not in {DATA}",
)


@pytest.fixture(scope="module")
def index() -> MasterIndex:
    return MasterIndex.load(DATA)


@pytest.fixture
def resolver(index: MasterIndex, tmp_path: Path) -> Resolver:
    return Resolver(index, ExchangeCache(tmp_path))


@pytest.fixture
def no_masters(tmp_path: Path) -> Resolver:
    return Resolver(None, ExchangeCache(tmp_path))


def test_slash_spelling() -> None:
    assert slash_spelling("BRK.B") == "BRK/B"
    assert slash_spelling("BRK-B") == "BRK/B"
    assert slash_spelling("BRK/B") == "BRK/B"
    assert slash_spelling("AAPL") == "AAPL"


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (Ticker("BRK.B", None), Ticker("BRK/B", None)),
        (Ticker("BRK-B", None), Ticker("BRK/B", None)),
        (Ticker("BF.A", None), Ticker("BF/A", None)),
        (Ticker("BRK.B", "NYS"), Ticker("BRK/B", "NYS")),
        (Ticker("BRK.B", "BAY"), Ticker("BRK/B", "BAY")),
        (Ticker("BRK/B", None), Ticker("BRK/B", None)),
        (Ticker("AAPL", None), Ticker("AAPL", None)),
        (Ticker("005930", "KRX"), Ticker("005930", "KRX")),
    ],
)
def test_kis_spelling_from_masters(resolver, requested, expected) -> None:
    assert resolver.kis_spelling(requested) == expected


def test_kis_spelling_keeps_unlisted(resolver, no_masters) -> None:
    # BRK/B is listed on NYS only, and ZZZ/Q nowhere.
    assert resolver.kis_spelling(Ticker("BRK.B", "NAS")) == Ticker("BRK.B", "NAS")
    assert resolver.kis_spelling(Ticker("ZZZ.Q", None)) == Ticker("ZZZ.Q", None)
    assert no_masters.kis_spelling(Ticker("BRK.B", None)) == Ticker("BRK.B", None)


def test_not_found_suggests_listed_spelling(resolver) -> None:
    wrong_exchange = resolver.not_found(Ticker("BRK.B", "NAS"))
    assert str(wrong_exchange) == "not found; did you mean NYS:BRK/B?"
    bare = resolver.not_found(Ticker("BRK.B", None), "not found on NAS")
    assert str(bare) == "not found on NAS; did you mean BRK/B?"


def test_not_found_without_listed_spelling(resolver) -> None:
    assert str(resolver.not_found(Ticker("ZZZ.Q", None))) == "not found"
    assert str(resolver.not_found(Ticker("ZZZZQ", "NAS"))) == "not found"
    assert str(resolver.not_found(Ticker("0.7", "HKS"))) == "not found"


def test_not_found_guesses_without_masters(no_masters) -> None:
    bare = str(no_masters.not_found(Ticker("BRK.B", None), "not found on NAS"))
    assert bare == "not found on NAS; KIS lists class shares with '/', so try BRK/B"
    qualified = str(no_masters.not_found(Ticker("BRK-B", "NYS")))
    assert qualified.endswith("so try NYS:BRK/B")
    assert str(no_masters.not_found(Ticker("AAPL", None))) == "not found"


def test_respell_merges_spellings(resolver) -> None:
    tickers = [Ticker("BRK.B", None), Ticker("AAPL", None), Ticker("BRK/B", None)]
    assert respell(tickers, resolver) == [Ticker("BRK/B", None), Ticker("AAPL", None)]


def test_respelled_ticker_matches_resume_rows(resolver) -> None:
    # A resumed file contains the rows of an earlier run, spelled as KIS lists them.
    done = {("BRK/B", "NYS")}
    for requested in (Ticker("BRK.B", None), Ticker("BRK.B", "NYS")):
        remaining, skipped = skip_done(respell([requested], resolver), done)
        assert remaining == []
        assert skipped == 1
