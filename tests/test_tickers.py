"""Tests for ticker parsing and ticker list reading."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from kis_fetch.errors import InputError
from kis_fetch.models import Ticker
from kis_fetch.tickers import iter_entries, parse_ticker, read_tickers

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KOSPI_CSV = DATA / "krx" / "kospi_code_mst.csv"

VALID = [
    ("005930", Ticker("005930", "KRX")),
    ("00088K", Ticker("00088K", "KRX")),
    ("00088k", Ticker("00088K", "KRX")),
    ("08537M", Ticker("08537M", "KRX")),
    ("0000J0", Ticker("0000J0", "KRX")),
    ("000000", Ticker("000000", "KRX")),
    (" 005930 ", Ticker("005930", "KRX")),
    ("Q500001", Ticker("Q500001", "KRX")),
    ("q500001", Ticker("Q500001", "KRX")),
    ("KRX:005930", Ticker("005930", "KRX")),
    ("krx:Q500001", Ticker("Q500001", "KRX")),
    ("NAS:AAPL", Ticker("AAPL", "NAS")),
    ("nas:aapl", Ticker("AAPL", "NAS")),
    ("NYS:BRK/B", Ticker("BRK/B", "NYS")),
    ("NYS:BRK.B", Ticker("BRK.B", "NYS")),
    ("AMS:SPY", Ticker("SPY", "AMS")),
    ("HKS:00700", Ticker("00700", "HKS")),
    ("TSE:7203", Ticker("7203", "TSE")),
    ("SHS:600519", Ticker("600519", "SHS")),
    ("HSX:VNM", Ticker("VNM", "HSX")),
    ("BAQ:AAPL", Ticker("AAPL", "BAQ")),
    ("AAPL", Ticker("AAPL", None)),
    ("aapl", Ticker("AAPL", None)),
    ("A", Ticker("A", None)),
    ("BRK/B", Ticker("BRK/B", None)),
    ("BRK.B", Ticker("BRK.B", None)),
    ("BRK-B", Ticker("BRK-B", None)),
    ("GOOGLE", Ticker("GOOGLE", None)),
]

INVALID = [
    "",
    "   ",
    "00593",  # 5 characters
    "0059300",  # 7 digits
    "F70101786",  # 9-character fund code
    "J0003021C",  # 9-character warrant code
    "Q50000",  # ETN with 5 digits
    "Q5000011",
    "K00088",  # domestic code starting with a letter is not a US symbol either
    "AAPL1",
    "BRK/",
    "/B",
    "BRK//B",
    "XYZ:AAPL",
    "NASD:AAPL",  # order-side exchange code
    "NAS:",
    ":AAPL",
    "NAS:AA PL",
    "NAS:AAPL:X",
    "NAS:" + "A" * 17,
    "KRX:AAPL",
    "KRX:00593",
    "삼성전자",
    "$AAPL",
    "AAPL*",
    "A" * 17,
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_parse_ticker_valid(text: str, expected: Ticker) -> None:
    assert parse_ticker(text) == expected


@pytest.mark.parametrize("text", INVALID)
def test_parse_ticker_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid ticker") as caught:
        parse_ticker(text)
    assert repr(text) in str(caught.value)


def test_parse_ticker_message_lists_forms() -> None:
    with pytest.raises(ValueError) as caught:
        parse_ticker("00593")
    message = str(caught.value)
    assert "005930" in message
    assert "Q500001" in message
    assert "NAS:AAPL" in message
    assert "BRK/B" in message


def test_parse_ticker_unknown_exchange_lists_valid() -> None:
    with pytest.raises(ValueError, match="unknown exchange code 'XYZ'") as caught:
        parse_ticker("XYZ:AAPL")
    assert "NAS" in str(caught.value)
    assert "KRX" in str(caught.value)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_read_arguments_split_and_dedup() -> None:
    result = read_tickers(
        ["005930,000660", "AAPL 005930", "nas:aapl", "bad!"], [], None
    )
    assert result.tickers == [
        Ticker("005930", "KRX"),
        Ticker("000660", "KRX"),
        Ticker("AAPL", None),
        Ticker("AAPL", "NAS"),
    ]
    assert result.duplicates == 1
    assert result.invalid == [("argument", "bad!")]


def test_read_file_comments_separators(tmp_path: Path) -> None:
    text = (
        "# my list\n"
        "\n"
        "005930 000660,035420;\tAAPL  # trailing comment\n"
        "   # indented comment\n"
        "NAS:TSLA, 00593\n"
        "005930\n"
        "'MSFT' \"IBM\"\n"
    )
    path = write(tmp_path / "list.txt", text.encode())
    result = read_tickers([], [path], None)
    assert result.tickers == [
        Ticker("005930", "KRX"),
        Ticker("000660", "KRX"),
        Ticker("035420", "KRX"),
        Ticker("AAPL", None),
        Ticker("TSLA", "NAS"),
        Ticker("MSFT", None),
        Ticker("IBM", None),
    ]
    assert result.invalid == [(f"{path}:5", "00593")]
    assert result.duplicates == 1


def test_read_file_bom_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbf005930\r\n000660\r\nbad!\r\n")
    result = read_tickers([], [path], None)
    assert result.tickers == [Ticker("005930", "KRX"), Ticker("000660", "KRX")]
    assert result.invalid == [(f"{path}:3", "bad!")]


def test_read_files_in_order_with_dedup(tmp_path: Path) -> None:
    first = write(tmp_path / "a.txt", b"005930\nAAPL\n")
    second = write(tmp_path / "b.txt", b"AAPL\n000660\n005930\n")
    result = read_tickers(["MSFT"], [first, str(second)], None)
    symbols = [ticker.symbol for ticker in result.tickers]
    assert symbols == ["MSFT", "005930", "AAPL", "000660"]
    assert result.duplicates == 2


def test_read_stdin_dash_position(tmp_path: Path) -> None:
    first = write(tmp_path / "a.txt", b"000660\n")
    stdin = io.StringIO("005930\nIBM\n")
    result = read_tickers([], ["-", first, "-"], stdin)
    symbols = [ticker.symbol for ticker in result.tickers]
    assert symbols == ["005930", "IBM", "000660"]


def test_read_stdin_after_files(tmp_path: Path) -> None:
    first = write(tmp_path / "a.txt", b"000660\n")
    result = read_tickers(["AAPL"], [first], io.StringIO("005930\nbad!\n"))
    symbols = [ticker.symbol for ticker in result.tickers]
    assert symbols == ["AAPL", "000660", "005930"]
    assert result.invalid == [("stdin:2", "bad!")]


def test_read_stdin_bytes_buffer() -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbf005930\r\nAAPL\r\n"))
    result = read_tickers([], [], stdin)
    assert result.tickers == [Ticker("005930", "KRX"), Ticker("AAPL", None)]


def test_read_stdin_not_utf8() -> None:
    stdin = io.TextIOWrapper(io.BytesIO("005930\n삼성전자\n".encode("cp949")))
    with pytest.raises(InputError, match="stdin: line 2 is not valid UTF-8"):
        read_tickers([], [], stdin)


def test_read_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.txt"
    with pytest.raises(InputError, match=f"cannot read {missing}: No such file"):
        read_tickers([], [missing], None)


def test_read_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"cannot read {tmp_path}"):
        read_tickers([], [tmp_path], None)


def test_read_cp949_file_suggests_iconv(tmp_path: Path) -> None:
    path = write(tmp_path / "list.txt", "005930\n000660 삼성\n".encode("cp949"))
    with pytest.raises(InputError) as caught:
        read_tickers([], [path], None)
    message = str(caught.value)
    assert f"{path}: line 2 is not valid UTF-8" in message
    assert "iconv -f cp949 -t utf-8" in message


def test_read_other_encoding_names_none(tmp_path: Path) -> None:
    # A lone 0x80 byte is neither UTF-8 nor CP949.
    path = write(tmp_path / "list.txt", b"005930\n\x80\n")
    with pytest.raises(InputError) as caught:
        read_tickers([], [path], None)
    message = str(caught.value)
    assert f"{path}: line 2 is not valid UTF-8" in message
    assert "iconv -f ENCODING -t utf-8" in message


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_read_utf16_with_bom(tmp_path: Path, encoding: str) -> None:
    data = "\ufeff005930\r\nNAS:AAPL\r\n".encode(encoding)
    path = write(tmp_path / "sheet.txt", data)
    result = read_tickers([], [path], None)
    assert result.tickers == [Ticker("005930", "KRX"), Ticker("AAPL", "NAS")]
    assert result.invalid == []


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_read_utf16_without_bom(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path / "sheet.txt", "005930\nNAS:AAPL\n".encode(encoding))
    result = read_tickers([], [path], None)
    assert result.tickers == [Ticker("005930", "KRX"), Ticker("AAPL", "NAS")]
    assert result.invalid == []


def test_read_stdin_at_dash_position() -> None:
    first = read_tickers(["-", "000660"], [], io.StringIO("005930\n"))
    assert [t.symbol for t in first.tickers] == ["005930", "000660"]
    last = read_tickers(["000660", "-"], [], io.StringIO("005930\n"))
    assert [t.symbol for t in last.tickers] == ["000660", "005930"]


@pytest.mark.parametrize("header", ["name,price", "company,krx"])
def test_read_table_of_words_and_codes(tmp_path: Path, header: str) -> None:
    text = f"{header}\nSamsung,005930\nHynix,000660\n"
    path = write(tmp_path / "nh.csv", text.encode())
    result = read_tickers([], [path], None)
    assert result.tickers == [Ticker("005930", "KRX"), Ticker("000660", "KRX")]
    assert result.invalid == []
    assert len(result.notes) == 1
    assert f"{path}: read as a table with line 1 as its header" in result.notes[0]
    assert "column 2" in result.notes[0]


def test_read_master_file_suggests_symbols(tmp_path: Path) -> None:
    path = write(tmp_path / "kospi_code.mst", "005930 삼성전자\n".encode("cp949"))
    with pytest.raises(InputError) as caught:
        read_tickers([], [path], None)
    message = str(caught.value)
    assert "kis-fetch symbols" in message
    assert "iconv" not in message


def test_read_table_finds_code_column(tmp_path: Path) -> None:
    text = "Stock,Weight\n005930,0.5\nNAS:AAPL,0.3\n"
    path = write(tmp_path / "weights.csv", text.encode())
    result = read_tickers([], [path], None)
    assert result.tickers == [Ticker("005930", "KRX"), Ticker("AAPL", "NAS")]
    assert result.invalid == []


def test_read_table_header_over_numbers(tmp_path: Path) -> None:
    text = "Stock,Weight\nAAPL,0.5\nMSFT,0.3\n"
    path = write(tmp_path / "weights.csv", text.encode())
    result = read_tickers([], [path], None)
    assert [t.symbol for t in result.tickers] == ["AAPL", "MSFT"]
    assert result.invalid == []


def test_read_rows_with_numbers_stay_data(tmp_path: Path) -> None:
    path = write(tmp_path / "weights.csv", b"AAPL,0.5\nMSFT,0.3\n")
    result = read_tickers([], [path], None)
    assert [t.symbol for t in result.tickers] == ["AAPL", "MSFT"]
    assert result.invalid == [(f"{path}:1", "0.5"), (f"{path}:2", "0.3")]


def test_read_table_without_ticker_column(tmp_path: Path) -> None:
    text = "Name,Sector\nSamsung Electronics,Tech\nApple,Tech\n"
    path = write(tmp_path / "sectors.csv", text.encode())
    with pytest.raises(InputError) as caught:
        read_tickers([], [path], None)
    message = str(caught.value)
    assert f"{path} looks like a table (first row: Name, Sector)" in message
    assert "rename the column" in message


def test_read_rows_of_symbols_stay_a_list(tmp_path: Path) -> None:
    path = write(tmp_path / "list.csv", b"AAPL,MSFT\nGOOG,AMZN # big\n")
    result = read_tickers([], [path], None)
    assert [t.symbol for t in result.tickers] == ["AAPL", "MSFT", "GOOG", "AMZN"]
    assert result.invalid == []


def test_read_csv_header_column(tmp_path: Path) -> None:
    text = "Name,Ticker,Weight\n삼성전자,005930,0.5\nApple,NAS:AAPL,0.3\nBad,00593,1\n"
    path = write(tmp_path / "weights.csv", text.encode())
    result = read_tickers([], [path], None)
    assert result.tickers == [Ticker("005930", "KRX"), Ticker("AAPL", "NAS")]
    assert result.invalid == [(f"{path}:4", "00593")]
    assert result.notes == []


def test_read_csv_quoted_cells(tmp_path: Path) -> None:
    text = 'symbol,name\n"005930","Samsung, Electronics"\n"AAPL","Apple # Inc"\n'
    path = write(tmp_path / "quoted.csv", text.encode())
    result = read_tickers([], [path], None)
    assert result.tickers == [Ticker("005930", "KRX"), Ticker("AAPL", None)]
    assert result.invalid == []


def test_read_csv_unnamed_header(tmp_path: Path) -> None:
    text = "종목,이름\n005930,삼성전자\n000660,SK하이닉스\n"
    path = write(tmp_path / "korean.csv", text.encode())
    result = read_tickers([], [path], None)
    assert result.tickers == [Ticker("005930", "KRX"), Ticker("000660", "KRX")]
    assert result.invalid == []


def test_read_tab_separated_header(tmp_path: Path) -> None:
    text = "# exported\ncode\tname\n005930\t삼성 전자\n"
    path = write(tmp_path / "list.tsv", text.encode())
    result = read_tickers([], [path], None)
    assert result.tickers == [Ticker("005930", "KRX")]
    assert result.invalid == []


def test_plain_list_with_bad_first_token(tmp_path: Path) -> None:
    # A bad first value next to a KRX code is a typo, not a header to skip.
    path = write(tmp_path / "list.txt", b"00593, 000660\n005380\n")
    result = read_tickers([], [path], None)
    assert result.tickers == [Ticker("000660", "KRX"), Ticker("005380", "KRX")]
    assert result.invalid == [(f"{path}:1", "00593")]


def test_single_column_bad_first_line(tmp_path: Path) -> None:
    path = write(tmp_path / "list.txt", b"00593\n005380\n")
    result = read_tickers([], [path], None)
    assert result.invalid == [(f"{path}:1", "00593")]


def test_iter_entries_line_numbers() -> None:
    entries = list(iter_entries("\ufeff# c\n\nAAPL MSFT\n\n005930\n"))
    assert entries == [(3, "AAPL"), (3, "MSFT"), (5, "005930")]


@pytest.mark.skipif(not KOSPI_CSV.is_file(), reason=f"{KOSPI_CSV} missing")
def test_read_real_kospi_csv() -> None:
    with open(KOSPI_CSV, encoding="utf-8", newline="") as handle:
        codes = [row["단축코드"] for row in csv.DictReader(handle)]
    result = read_tickers([], [KOSPI_CSV], None)
    symbols = [ticker.symbol for ticker in result.tickers]
    invalid = [value for _, value in result.invalid]
    assert symbols == [code for code in codes if len(code) != 9]
    assert invalid == [code for code in codes if len(code) == 9]
    assert len(invalid) == 94
    assert all(ticker.exchange == "KRX" for ticker in result.tickers)
    assert "00088K" in symbols
    assert "Q500055" in symbols
    assert result.duplicates == 0
    assert result.invalid[0] == (f"{KOSPI_CSV}:2", "F70101786")
