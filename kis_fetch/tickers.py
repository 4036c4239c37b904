"""Ticker parsing and reading ticker lists from arguments, files and stdin.

Accepted ticker forms:

* a KRX short code, 6 characters: a digit then digits or capital letters
  ("005930", "00088K", "0000J0");
* a KRX ETN code, Q and 6 digits ("Q500001");
* ``EXCD:SYMBOL`` with a quotation exchange code ("NAS:AAPL", "HKS:00700",
  "TSE:7203", and "KRX:005930" for a domestic code);
* a bare US symbol, letters with an optional class suffix ("AAPL", "BRK/B",
  "BRK.B"), whose exchange is resolved later.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kis_fetch.errors import InputError
from kis_fetch.models import DOMESTIC, OVERSEAS_EXCHANGES, Ticker

# The July 2023 master files have letters only in the last place ("00088K").
# Newer KRX codes also have letters in other places ("0000J0").
_DOMESTIC_RE = re.compile(r"[0-9][0-9A-Z]{5}")
_ETN_RE = re.compile(r"Q[0-9]{6}")
# The overseas price TR takes symbols of up to 16 characters.
_OVERSEAS_RE = re.compile(r"[A-Z0-9][A-Z0-9./-]{0,15}")
_US_BARE_RE = re.compile(r"[A-Z]+(?:[./-][A-Z]+)*")
_US_BARE_MAX = 16

ACCEPTED_FORMS = (
    "a 6-character KRX code (005930, 00088K), an ETN code (Q500001), "
    "EXCD:SYMBOL (NAS:AAPL, HKS:00700) or a US symbol (AAPL, BRK/B)"
)

# Header cells (lower-cased) that name the ticker column of a CSV file.
HEADER_NAMES = frozenset(
    {"symbol", "symbols", "ticker", "tickers", "code", "codes", "단축코드", "종목코드"}
)

_SEPARATORS_RE = re.compile(r"[\s,;]+")
_MASTER_SUFFIXES = (".mst", ".cod", ".mst.zip", ".cod.zip")


def parse_ticker(text: str) -> Ticker:
    """Parse one ticker in any accepted form.

    Letters are upper-cased. Digits keep their exact text, leading zeros too.
    Raises ValueError naming the value and the accepted forms.
    """
    value = text.strip().upper()
    if ":" in value:
        return _parse_qualified(text, value)
    if _DOMESTIC_RE.fullmatch(value) or _ETN_RE.fullmatch(value):
        return Ticker(value, DOMESTIC)
    if len(value) <= _US_BARE_MAX and _US_BARE_RE.fullmatch(value):
        return Ticker(value, None)
    raise ValueError(f"invalid ticker {text!r}: use {ACCEPTED_FORMS}")


def _parse_qualified(text: str, value: str) -> Ticker:
    exchange, _, symbol = value.partition(":")
    if exchange == DOMESTIC:
        if _DOMESTIC_RE.fullmatch(symbol) or _ETN_RE.fullmatch(symbol):
            return Ticker(symbol, DOMESTIC)
        raise ValueError(
            f"invalid ticker {text!r}: a KRX code has 6 characters (KRX:005930) "
            "or is an ETN code (KRX:Q500001)"
        )
    if exchange not in OVERSEAS_EXCHANGES:
        valid = ", ".join([DOMESTIC, *sorted(OVERSEAS_EXCHANGES)])
        raise ValueError(
            f"invalid ticker {text!r}: unknown exchange code {exchange!r} "
            f"(valid: {valid})"
        )
    if not _OVERSEAS_RE.fullmatch(symbol):
        raise ValueError(
            f"invalid ticker {text!r}: the symbol after {exchange}: must be 1 to "
            "16 letters, digits, '.', '/' or '-'"
        )
    return Ticker(symbol, exchange)


def is_ticker(text: str) -> bool:
    """Return whether `text` parses as a ticker."""
    try:
        parse_ticker(text)
    except ValueError:
        return False
    return True


@dataclass
class TickerList:
    """Tickers read from all sources, with the values that did not parse."""

    tickers: list[Ticker] = field(default_factory=list)
    # (location such as "list.txt:3", "stdin:2" or "argument", value)
    invalid: list[tuple[str, str]] = field(default_factory=list)
    duplicates: int = 0
    # How a file was read when its layout was guessed, for stderr.
    notes: list[str] = field(default_factory=list)

    def _add(self, location: str, value: str, seen: set[Ticker]) -> None:
        try:
            ticker = parse_ticker(value)
        except ValueError:
            self.invalid.append((location, value))
            return
        if ticker in seen:
            self.duplicates += 1
            return
        seen.add(ticker)
        self.tickers.append(ticker)


def read_tickers(
    args: Sequence[str], files: Sequence[str | Path], stdin: TextIO | None
) -> TickerList:
    """Read tickers from arguments, then files, deduplicated in first-seen order.

    An argument or file named "-" is `stdin`, read at its place. When `stdin`
    is given but no "-" appears, it is read after the files. Stdin is read
    once, however often "-" appears.
    Raises InputError when a file cannot be read or is not UTF-8.
    """
    result = TickerList()
    seen: set[Ticker] = set()
    stdin_read = False
    for arg in args:
        if arg == "-":
            if stdin is not None and not stdin_read:
                _add_entries(result, seen, "stdin", _read_stdin(stdin))
            stdin_read = True
            continue
        for token in _split_tokens(arg):
            result._add("argument", token, seen)

    for file in files:
        if str(file) == "-":
            if stdin is not None and not stdin_read:
                _add_entries(result, seen, "stdin", _read_stdin(stdin))
            stdin_read = True
            continue
        name = str(file)
        _add_entries(result, seen, name, _read_file(Path(file)))
    if stdin is not None and not stdin_read:
        _add_entries(result, seen, "stdin", _read_stdin(stdin))
    return result


def _add_entries(result: TickerList, seen: set[Ticker], name: str, text: str) -> None:
    try:
        layout = find_csv_column(text.removeprefix("\ufeff").splitlines())
        entries = list(iter_entries(text, layout))
    except UnnamedColumnError as exc:
        raise InputError(
            f"{name} looks like a table (first row: {', '.join(exc.header)}) "
            "but no column is named symbol, ticker or code: rename the column "
            "that contains the tickers"
        ) from None
    if layout is not None and layout.guessed:
        result.notes.append(
            f"{name}: read as a table with line {layout.header_line} as its "
            f"header; tickers from column {layout.column + 1} "
            f"({layout.header[layout.column]})"
        )
    for line_number, value in entries:
        result._add(f"{name}:{line_number}", value, seen)


def _read_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"cannot read {path}: {reason}") from exc
    return _decode(data, str(path))


def _read_stdin(stdin: TextIO) -> str:
    buffer = getattr(stdin, "buffer", None)
    if buffer is not None:
        return _decode(buffer.read(), "stdin")
    try:
        return stdin.read()
    except UnicodeDecodeError as exc:
        raise InputError(
            "stdin is not valid UTF-8: convert it with `iconv -f cp949 -t utf-8`"
        ) from exc


def _decode(data: bytes, name: str) -> str:
    """Decode UTF-8 with or without a byte order mark, or UTF-16 (what
    spreadsheets save as "Unicode text"), detected by its byte order mark or by
    its NUL bytes."""
    encoding = None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in data:
        # Text never contains NUL bytes, but UTF-16 without a byte order mark
        # has one beside each ASCII character: after it (LE) or before (BE).
        odd_nuls = data[1::2].count(0)
        encoding = "utf-16-le" if odd_nuls >= data[0::2].count(0) else "utf-16-be"
    if encoding is not None:
        try:
            return data.decode(encoding).removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{name} looks like UTF-16 but is not valid UTF-16: save it "
                "again as UTF-8"
            ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_number = data.count(b"\n", 0, exc.start) + 1
        where = f"{name}: line {line_number} is not valid UTF-8"
        if name.lower().endswith(_MASTER_SUFFIXES):
            raise InputError(
                f"{where}: it looks like a KIS master file (CP949), not a ticker "
                "list. List its symbols with `kis-fetch symbols --format plain` "
                "and pipe them in"
            ) from exc
        source = "ENCODING"
        try:
            data.decode("cp949")
            source = "cp949"
        except UnicodeDecodeError:
            pass
        raise InputError(
            f"{where}: convert it first, for example with "
            f"`iconv -f {source} -t utf-8 {name} > tickers.txt`"
        ) from exc


def _split_tokens(text: str) -> list[str]:
    tokens = (token.strip("'\"") for token in _SEPARATORS_RE.split(text))
    return [token for token in tokens if token]


def _strip_comment(text: str) -> str:
    return text.split("#", 1)[0]


def iter_entries(
    text: str, layout: CsvLayout | None = None
) -> Iterator[tuple[int, str]]:
    """Yield (line number, value) for each ticker candidate in a file's text.

    Plain lists hold any number of tickers per line, separated by commas,
    semicolons, spaces or tabs, with ``#`` comments. A CSV file with a header
    row yields one column per row instead: `layout`, by default the one
    `find_csv_column` finds.
    NOTE: a CSV file without a header row is read as a plain list, so its
    other columns (names, prices) come out as invalid or wrong tickers.
    """
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    if layout is None:
        layout = find_csv_column(lines)
    if layout is None:
        for line_number, line in enumerate(lines, start=1):
            for token in _split_tokens(_strip_comment(line)):
                yield line_number, token
        return

    reader = csv.reader(io.StringIO(text), delimiter=layout.delimiter)
    for row in reader:
        line_number = reader.line_num
        if line_number <= layout.header_line or not row:
            continue
        if row[0].lstrip().startswith("#") or layout.column >= len(row):
            continue
        value = _strip_comment(row[layout.column]).strip()
        if value:
            yield line_number, value


@dataclass(frozen=True)
class CsvLayout:
    """The position of the tickers in a CSV file with a header."""

    header_line: int
    column: int
    delimiter: str
    header: list[str]
    # True when no header cell names the column and the layout is inferred.
    guessed: bool


def find_csv_column(lines: list[str]) -> CsvLayout | None:
    """Return where the tickers are in a CSV file with a header, or None for a
    plain list.

    The first line that is not blank or a comment is a header when one of its
    cells is a name in HEADER_NAMES, and that column is used. Otherwise it may
    be a header when it has several cells and no KRX code or EXCD:SYMBOL
    ticker, and the rows below decide:

    * its first cell is not a ticker while a later row's first cell is: the
      first column;
    * the rows are as wide as the header, one column contains only KRX codes
      or EXCD:SYMBOL tickers and another column none: that column;
    * the rows are not all tickers and some column contains numbers under a
      word (Weight over 0.5): the first column.

    Rows made only of tickers, or with numbers on top, are a plain list. Any
    other table raises UnnamedColumnError.
    """
    numbered = [
        (number, line)
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not numbered:
        return None
    header_number, header = numbered[0]
    delimiter = _guess_delimiter(header)
    cells = [cell.strip() for cell in next(csv.reader([header], delimiter=delimiter))]

    def layout(column: int, guessed: bool = True) -> CsvLayout:
        return CsvLayout(header_number, column, delimiter, cells, guessed)

    for index, cell in enumerate(cells):
        if cell.lower() in HEADER_NAMES:
            return layout(index, guessed=False)

    if len(cells) < 2:
        return None
    if any(_is_qualified_ticker(token) for token in _split_tokens(header)):
        return None
    rows = [
        next(csv.reader([line], delimiter=delimiter), []) for _, line in numbered[1:6]
    ]
    if not is_ticker(cells[0]):
        for row in rows:
            if row and is_ticker(_cell(row[0])):
                return layout(0)
    if not rows or any(len(row) != len(cells) for row in rows):
        return None

    columns = range(len(cells))
    coded = [i for i in columns if all(_is_qualified_ticker(_cell(r[i])) for r in rows)]
    uncoded = [
        i for i in columns if not any(_is_qualified_ticker(_cell(r[i])) for r in rows)
    ]
    if len(rows) >= 2 and len(coded) == 1 and uncoded:
        return layout(coded[0])
    if all(is_ticker(_cell(cell)) for row in rows for cell in row):
        return None
    numeric = [i for i in columns if all(_is_number(_cell(r[i])) for r in rows)]
    if any(not _is_number(cells[i]) for i in numeric):
        return layout(0)
    if numeric:
        return None
    raise UnnamedColumnError(cells)


def _cell(text: str) -> str:
    return _strip_comment(text).strip()


class UnnamedColumnError(ValueError):
    """A ticker file is a table whose header names no ticker column."""

    def __init__(self, header: list[str]) -> None:
        super().__init__("no ticker column")
        self.header = header


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def _is_qualified_ticker(cell: str) -> bool:
    """Return whether `cell` is a ticker other than a bare US symbol."""
    try:
        ticker = parse_ticker(cell)
    except ValueError:
        return False
    return ticker.exchange is not None


def _guess_delimiter(line: str) -> str:
    for delimiter in (",", "\t", ";"):
        if delimiter in line:
            return delimiter
    return ","
