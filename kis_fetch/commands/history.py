"""`kis-fetch history`: daily, weekly or monthly bars for many tickers."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kis_fetch.commands import common
from kis_fetch.commands.config import PROFILE_OPTION

if TYPE_CHECKING:
    from rich.console import Console

DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(option: str, text: str) -> date:
    """Parse a YYYY-MM-DD option value, or raise InputError naming the option."""
    from kis_fetch.errors import InputError

    stripped = text.strip()
    if DATE_PATTERN.fullmatch(stripped):
        try:
            return datetime.strptime(stripped, "%Y-%m-%d").date()
        except ValueError:
            pass
    raise InputError(f"invalid {option} {text!r}: expected a date as YYYY-MM-DD")


def history(
    tickers: list[str] = common.TICKER_ARGUMENT,
    files: list[str] = common.FILE_OPTION,
    profile: str | None = PROFILE_OPTION,
    start: str = typer.Option(
        ...,
        "--start",
        metavar="YYYY-MM-DD",
        help="First date of the range, YYYY-MM-DD (inclusive).",
    ),
    end: str | None = typer.Option(
        None,
        "--end",
        metavar="YYYY-MM-DD",
        help="Last date of the range, YYYY-MM-DD (inclusive) [default: today in KST].",
    ),
    period: str = typer.Option(
        "day",
        "--period",
        metavar="day|week|month",
        help="Bar length: day, week or month.",
    ),
    adjusted: bool = typer.Option(
        True,
        "--adjusted/--no-adjusted",
        help="Prices adjusted for splits and other capital changes, or as traded.",
    ),
    env: str | None = common.ENV_OPTION,
    base_url: str | None = common.BASE_URL_OPTION,
    rate: float | None = common.RATE_OPTION,
    concurrency: int | None = common.CONCURRENCY_OPTION,
    fmt: str | None = common.FORMAT_OPTION,
    output: Path | None = common.OUTPUT_OPTION,
    resume: bool = common.RESUME_OPTION,
    master_dir: Path | None = common.MASTER_DIR_OPTION,
    skip_invalid: bool = common.SKIP_INVALID_OPTION,
    timeout: float = common.TIMEOUT_OPTION,
    quiet: bool = common.QUIET_OPTION,
    verbose: int = common.VERBOSE_OPTION,
) -> None:
    """Fetch price bars and write one row per ticker and date.

    Columns: symbol, exchange, date, open, high, low, close, volume, value
    (traded value in the exchange's currency; empty where KIS sends none).
    Rows follow the input order of the tickers, then the date, oldest first.

    Each TICKER is a KRX code (005930, 00088K), an ETN code (Q500001),
    EXCD:SYMBOL (NAS:AAPL, HKS:00700) or a US symbol (AAPL, BRK/B). '-' reads
    tickers from stdin, as does a pipe when no TICKER or -f is given.

    Example: kis-fetch history 005930 NAS:AAPL --start 2015-01-01 -o bars.csv
    """
    console = common.stderr_console()
    common.setup_logging(verbose, console)
    options = common.FetchOptions(
        tickers=tickers or [], files=files, profile=profile, env=env,
        base_url=base_url, rate=rate, concurrency=concurrency, fmt=fmt,
        output=output, resume=resume, master_dir=master_dir,
        skip_invalid=skip_invalid, timeout=timeout, quiet=quiet,
    )  # fmt: skip
    with common.reported_errors():
        code = _run(options, start, end, period, adjusted, console)
    raise typer.Exit(code)


# No KRX or US listing in the master files predates 1900, so an earlier
# --start is a typo.
EARLIEST_DATE = date(1900, 1, 1)


def _run(
    options: common.FetchOptions,
    start_text: str,
    end_text: str | None,
    period: str,
    adjusted: bool,
    console: Console,
) -> int:
    import asyncio

    from kis_fetch.errors import InputError
    from kis_fetch.history import PERIODS, HistoryRequest, run_history, today_kst

    start = parse_date("--start", start_text)
    end = parse_date("--end", end_text) if end_text is not None else today_kst()
    if start < EARLIEST_DATE:
        raise InputError(
            f"invalid --start {start.isoformat()}: use a date from "
            f"{EARLIEST_DATE.isoformat()} on"
        )
    if start > end:
        upper = f"--end {end.isoformat()}" if end_text else f"today, {end.isoformat()}"
        raise InputError(
            f"--start {start.isoformat()} is after {upper}: "
            "the range must run from the older date to the newer one"
        )
    period = period.strip().lower()
    if period not in PERIODS:
        raise InputError(
            f"invalid --period {period!r}: use one of {', '.join(PERIODS)}"
        )
    run = common.prepare_run(options, console)
    request = HistoryRequest(start=start, end=end, period=period, adjusted=adjusted)
    with run.reporter:
        return asyncio.run(
            run_history(
                run.settings,
                run.tickers,
                request,
                run.output,
                run.reporter,
                master_dir=options.master_dir,
                timeout=options.timeout,
            )  # fmt: skip
        )


def register(app: typer.Typer) -> None:
    app.command(epilog=common.EXIT_CODES_HELP)(history)
