"""The `symbols` command group: list symbols from the KIS master files and
download fresh master files.

httpx is imported only inside `symbols update`, so the CLI starts without it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
import traceback
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import typer
from typer.core import TyperGroup

from kis_fetch.config import is_loopback
from kis_fetch.errors import (
    EXIT_PARTIAL,
    EXIT_SOFTWARE,
    ConfigError,
    InputError,
    KisFetchError,
)
from kis_fetch.masters import (
    DOMESTIC_MARKETS,
    DOMESTIC_TRAILER_BYTES,
    DOMESTIC_TYPES,
    ETP_TYPES,
    OVERSEAS_TYPES,
    US_MARKETS,
    MasterIndex,
    MasterRecord,
    default_master_dir,
    parse_domestic,
    parse_overseas,
)
from kis_fetch.tickers import is_ticker

DEFAULT_MASTER_URL = "https://new.real.download.dws.co.kr/common/master"

# Markets with a master file download: domestic, then overseas by file prefix.
OVERSEAS_MARKETS = (
    *US_MARKETS,
    *("hks", "tse", "shs", "shi", "szs", "szi", "hsx", "hnx"),
)
MARKETS = (*DOMESTIC_MARKETS, *OVERSEAS_MARKETS)
MARKET_ALIASES = {
    "us": US_MARKETS,
    "krx": DOMESTIC_MARKETS,
    "domestic": DOMESTIC_MARKETS,
    "all": MARKETS,
}
DEFAULT_UPDATE_MARKETS = ("kospi", "kosdaq", *US_MARKETS)

KNOWN_TYPES = frozenset(
    [*DOMESTIC_TYPES.values(), *OVERSEAS_TYPES.values(), *ETP_TYPES.values()]
)
FORMATS = ("plain", "table", "csv", "tsv", "json", "jsonl")
COLUMNS = ("symbol", "name", "exchange", "type", "market", "currency")
# CSV and TSV carry every field that JSON does. The terminal table leaves out
# the English name to stay narrow.
FILE_COLUMNS = ("symbol", "name", "name_en", "exchange", "type", "market", "currency")

F = TypeVar("F", bound=Callable[..., Any])


class _DefaultListGroup(TyperGroup):
    """Command group that runs `list` when the first word is not a subcommand.

    This lets `kis-fetch symbols kospi --type stock` work without typing
    `list`, while `kis-fetch symbols update` still reaches the update command.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = args[0] if args else None
        if first not in self.commands and first not in ctx.help_option_names:
            args = ["list", *args]
        return super().parse_args(ctx, args)


def _report_errors(function: F) -> F:
    """Print a KisFetchError as one line on stderr and exit with its code.

    Any other exception is a bug. Its traceback goes to stderr, because these
    commands have no -v option, and the exit code is EXIT_SOFTWARE.
    """

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except KisFetchError as exc:
            typer.echo(f"kis-fetch: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from exc
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            traceback.print_exc()
            typer.echo(
                f"kis-fetch: internal error: {type(exc).__name__}: {exc}", err=True
            )
            raise typer.Exit(EXIT_SOFTWARE) from None

    return wrapper  # type: ignore[return-value]


def register(app: typer.Typer) -> None:
    """Add the `symbols` command group (`list`, the default, and `update`)."""
    symbols_app = typer.Typer(
        cls=_DefaultListGroup,
        help="List symbols from the KIS master files, or download them with "
        "`symbols update`. `kis-fetch symbols MARKET...` runs `symbols list`.",
        no_args_is_help=False,
    )
    # MARKET is hidden from the Arguments list, where typer 0.29 prints the
    # Python type (<list[str]>) beside it. The command help describes it.
    symbols_app.command(
        "list",
        help="List the symbols in the master files, filtered by market, type "
        f"and text.\n\n{MARKETS_HELP} Default: every market with a "
        "master file.",
    )(_report_errors(list_symbols))
    symbols_app.command(
        "update",
        help="Download the master files and replace the local copies.\n\n"
        f"{MARKETS_HELP} Default: kospi kosdaq nas nys ams.",
    )(_report_errors(update_masters))
    app.add_typer(symbols_app, name="symbols")


MARKETS_HELP = (
    f"MARKET is one of {', '.join(MARKETS)}, or us (nas nys ams), krx or "
    "domestic (kospi kosdaq konex), all."
)
MASTER_DIR_HELP = (
    "Folder with the master files, searched recursively, .zip downloads too "
    "(default: masters/ in the kis-fetch cache folder)."
)


def list_symbols(
    markets: list[str] | None = typer.Argument(
        None,
        metavar="MARKET",
        hidden=True,
    ),
    types: list[str] = typer.Option(
        [],
        "--type",
        "-t",
        metavar="TYPE",
        help="Keep only this type (repeatable): " + ", ".join(sorted(KNOWN_TYPES)),
    ),
    search: str | None = typer.Option(
        None,
        "--search",
        "-s",
        metavar="QUERY",
        help="Keep symbols whose code, Korean or English name contains QUERY "
        "(case-insensitive).",
    ),
    output_format: str | None = typer.Option(
        None,
        "--format",
        metavar="plain|table|csv|tsv|json|jsonl",
        help="plain (one ticker per line, the input `kis-fetch prices -` reads), "
        "table, csv, tsv, json or jsonl (default: table on a terminal, else plain).",
    ),
    master_dir: Path | None = typer.Option(
        None,
        "--master-dir",
        metavar="DIR",
        envvar="KIS_FETCH_MASTER_DIR",
        help=MASTER_DIR_HELP,
    ),
) -> None:
    """List the symbols in the master files, filtered by market, type and text."""
    output_format = _check_format(output_format)
    requested = _expand_markets(markets or [])
    folder = master_dir or default_master_dir()
    index = MasterIndex.load(folder)
    selected = _select_markets(index, requested, folder)
    records = list(index.records(selected))

    selected_types = _check_types(types, records)
    needle = search.casefold() if search else None
    rows = [
        record
        for record in records
        if (not selected_types or record.type in selected_types)
        and (needle is None or _matches(record, needle))
    ]
    _write_output(rows, output_format)


def _check_format(output_format: str | None) -> str:
    if output_format is None:
        return "table" if sys.stdout.isatty() else "plain"
    normalized = output_format.lower()
    if normalized not in FORMATS:
        raise InputError(
            f"invalid --format {output_format!r}: use one of {', '.join(FORMATS)}"
        )
    return normalized


def _expand_markets(names: Iterable[str]) -> list[tuple[str, bool]]:
    """Return (market, named explicitly) pairs, aliases expanded, in given order."""
    expanded: dict[str, bool] = {}
    for name in names:
        market = name.strip().lower()
        if market in MARKET_ALIASES:
            for member in MARKET_ALIASES[market]:
                expanded.setdefault(member, False)
        elif market in MARKETS:
            expanded[market] = True
        else:
            raise InputError(
                f"unknown market {name!r}: use one of {', '.join(MARKETS)}, "
                f"{', '.join(MARKET_ALIASES)}"
            )
    return list(expanded.items())


def _select_markets(
    index: MasterIndex, requested: list[tuple[str, bool]], folder: Path
) -> list[str]:
    """Return the requested markets that have a master file.

    Raises InputError when no master file is found, or when a market named
    explicitly (not through an alias such as `us`) has none.
    """
    available = index.markets()
    if not available:
        raise InputError(
            f"no master files found in {folder}: run `kis-fetch symbols update` "
            "to download them, or pass --master-dir DIR"
        )
    if not requested:
        return available
    missing = [market for market, explicit in requested if explicit]
    missing = [market for market in missing if market not in available]
    if missing:
        raise InputError(
            f"no master file for {', '.join(missing)} in {folder} (found: "
            f"{', '.join(available)}): run `kis-fetch symbols update "
            f"{' '.join(missing)}` or pass --master-dir DIR"
        )
    selected = [market for market, _ in requested if market in available]
    if not selected:
        names = ", ".join(market for market, _ in requested)
        raise InputError(
            f"no master file for {names} in {folder} (found: "
            f"{', '.join(available)}): run `kis-fetch symbols update` or pass "
            "--master-dir DIR"
        )
    return selected


def _check_types(types: Sequence[str], records: Iterable[MasterRecord]) -> set[str]:
    requested = {value.strip().lower() for value in types}
    # Group codes missing from DOMESTIC_TYPES show up as their lower-case code.
    valid = KNOWN_TYPES | {record.type for record in records}
    unknown = sorted(requested - valid)
    if unknown:
        raise InputError(
            f"unknown --type {', '.join(unknown)}: use one of "
            f"{', '.join(sorted(valid))}"
        )
    return requested


def _matches(record: MasterRecord, needle: str) -> bool:
    return (
        needle in record.symbol.casefold()
        or needle in record.name.casefold()
        or needle in record.name_en.casefold()
    )


def _write_output(rows: list[MasterRecord], output_format: str) -> None:
    try:
        if output_format == "plain":
            _write_plain(rows)
        elif output_format == "table":
            _write_table(rows)
        elif output_format in ("csv", "tsv"):
            delimiter = "\t" if output_format == "tsv" else ","
            writer = csv.writer(sys.stdout, delimiter=delimiter, lineterminator="\n")
            writer.writerow(FILE_COLUMNS)
            for record in rows:
                writer.writerow([getattr(record, column) for column in FILE_COLUMNS])
        elif output_format == "json":
            json.dump([_fields(r) for r in rows], sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            for record in rows:
                sys.stdout.write(json.dumps(_fields(record), ensure_ascii=False))
                sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (for example `head`) closed the pipe. Point stdout at
        # /dev/null so the interpreter's final flush does not fail again.
        _silence_stdout()


def _write_plain(rows: list[MasterRecord]) -> None:
    """Write one ticker per line, skipping codes that `prices` cannot take.

    Domestic funds and warrants have 9-character codes, which the quote API
    does not accept, so the output stays valid input for `kis-fetch prices -`.
    """
    skipped = 0
    lines = []
    for record in rows:
        if is_ticker(record.key):
            lines.append(record.key)
        else:
            skipped += 1
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    if skipped:
        typer.echo(
            f"kis-fetch: left out {skipped} symbols that are not valid tickers "
            "(9-character fund and warrant codes); use --format csv to see them",
            err=True,
        )


def _fields(record: MasterRecord) -> dict[str, str]:
    return {column: getattr(record, column) for column in FILE_COLUMNS}


def _write_table(rows: list[MasterRecord]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*COLUMNS)
    for record in rows:
        table.add_row(*(getattr(record, column) for column in COLUMNS))
    Console(file=sys.stdout).print(table)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def update_masters(
    context: typer.Context,
    markets: list[str] | None = typer.Argument(
        None,
        metavar="MARKET",
        hidden=True,
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        metavar="URL",
        envvar="KIS_FETCH_MASTER_URL",
        help=f"Download folder URL (default: {DEFAULT_MASTER_URL}).",
    ),
    master_dir: Path | None = typer.Option(
        None,
        "--master-dir",
        metavar="DIR",
        envvar="KIS_FETCH_MASTER_DIR",
        help="Folder to write the master files to "
        "(default: masters/ in the kis-fetch cache folder).",
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", metavar="SECONDS", help="Seconds to wait for each download."
    ),
) -> None:
    """Download the master files and replace the local copies."""
    # Compared by name, because typer 0.29 vendors click and its
    # ParameterSource enum lives in a private module.
    source = context.get_parameter_source("base_url")
    from_flag = source is not None and source.name == "COMMANDLINE"
    base = check_download_url(base_url or DEFAULT_MASTER_URL, from_flag=from_flag)
    selected = [market for market, _ in _expand_markets(markets or [])]
    selected = selected or list(DEFAULT_UPDATE_MARKETS)
    folder = master_dir or default_master_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create master folder {folder}: {exc}") from exc

    failures = 0
    for market, outcome in download_masters(base, selected, folder, timeout):
        if isinstance(outcome, Exception):
            failures += 1
            typer.echo(f"kis-fetch: {market}: {outcome}", err=True)
        else:
            path, count = outcome
            typer.echo(f"updated {market}: {count} symbols in {path}")
    if failures:
        raise typer.Exit(EXIT_PARTIAL)


def check_download_url(url: str, *, from_flag: bool = False) -> str:
    """Validate the download URL: https anywhere, plain http only on loopback.

    An unencrypted download from a remote host could be altered on the way.
    Raises InputError (exit 2) for a --base-url flag and ConfigError (exit 3)
    for a value from KIS_FETCH_MASTER_URL.
    """
    error = InputError if from_flag else ConfigError
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise error(
            f"invalid master URL {url!r}: use https://HOST/PATH in --base-url "
            "or KIS_FETCH_MASTER_URL"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise error(
            f"rejected plain http master URL {url!r}: use https://, or http:// "
            "only for localhost or a loopback address"
        )
    return url.rstrip("/")


def master_file_name(market: str) -> str:
    """Return the file name inside a market's zip: kospi_code.mst, NASMST.COD."""
    if market in DOMESTIC_TRAILER_BYTES:
        return f"{market}_code.mst"
    return f"{market.upper()}MST.COD"


def download_masters(
    base: str, markets: Sequence[str], folder: Path, timeout: float
) -> Iterator[tuple[str, tuple[Path, int] | KisFetchError]]:
    """Download, check and install each market's master file.

    Yields (market, (path, record count)) on success and (market, error) on
    failure, so one failed market does not stop the others.
    """
    import httpx

    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for market in markets:
            url = f"{base}/{master_file_name(market).lower()}.zip"
            try:
                response = client.get(url)
                response.raise_for_status()
            except httpx.HTTPStatusError as exc:
                status = exc.response.status_code
                yield market, KisFetchError(f"download failed: HTTP {status} {url}")
                continue
            except httpx.HTTPError as exc:
                yield market, KisFetchError(f"download failed: {exc} ({url})")
                continue
            try:
                yield market, install_master(market, response.content, folder, url)
            except KisFetchError as exc:
                yield market, exc


def install_master(
    market: str, archive: bytes, folder: Path, source: str
) -> tuple[Path, int]:
    """Extract a market's master file from zip bytes into `folder` atomically.

    The file is parsed before it replaces the old copy, and is written to a
    temporary file in the same folder and then renamed over the old one.
    Returns the path and the number of records.
    """
    name = master_file_name(market)
    data = _extract_member(archive, name, source)
    if market in DOMESTIC_TRAILER_BYTES:
        records = parse_domestic(data, market, f"{source}!{name}")
    else:
        records = parse_overseas(data, market, f"{source}!{name}")
    if not records:
        raise InputError(f"{source}: {name} is empty, so the old copy is kept")

    target = folder / name
    handle = tempfile.NamedTemporaryFile(
        dir=folder, prefix=f".{name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    except OSError as exc:
        Path(handle.name).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {target}: {exc}") from exc
    return target, len(records)


def _extract_member(archive: bytes, name: str, source: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            for member in zipped.namelist():
                if member.rsplit("/", 1)[-1].lower() == name.lower():
                    return zipped.read(member)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{source} is not a valid zip file: {exc}") from exc
    raise InputError(f"{source} does not contain {name}")
