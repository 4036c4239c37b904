"""`kis-fetch prices`: current prices for many tickers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kis_fetch.commands import common
from kis_fetch.commands.config import PROFILE_OPTION

if TYPE_CHECKING:
    from rich.console import Console

    from kis_fetch.config import Settings


def prices(
    tickers: list[str] = common.TICKER_ARGUMENT,
    files: list[str] = common.FILE_OPTION,
    profile: str | None = PROFILE_OPTION,
    env: str | None = common.ENV_OPTION,
    base_url: str | None = common.BASE_URL_OPTION,
    rate: float | None = common.RATE_OPTION,
    concurrency: int | None = common.CONCURRENCY_OPTION,
    fmt: str | None = common.FORMAT_OPTION,
    output: Path | None = common.OUTPUT_OPTION,
    resume: bool = common.RESUME_OPTION,
    master_dir: Path | None = common.MASTER_DIR_OPTION,
    batch: bool | None = typer.Option(
        None,
        "--batch/--no-batch",
        help="Price domestic symbols 30 per call with intstock-multprice "
        "[default: on for real, off for paper, which lacks that TR].",
    ),
    skip_invalid: bool = common.SKIP_INVALID_OPTION,
    timeout: float = common.TIMEOUT_OPTION,
    quiet: bool = common.QUIET_OPTION,
    verbose: int = common.VERBOSE_OPTION,
) -> None:
    """Fetch current prices and write one row per ticker.

    Columns: symbol, exchange, name, price, change, change_pct, open, high,
    low, prev_close, volume, currency, fetched_at.

    Each TICKER is a KRX code (005930, 00088K), an ETN code (Q500001),
    EXCD:SYMBOL (NAS:AAPL, HKS:00700) or a US symbol (AAPL, BRK/B). '-' reads
    tickers from stdin, as does a pipe when no TICKER or -f is given.

    Example: kis-fetch prices 005930 000660 NAS:AAPL -o prices.csv
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
        code = _run(options, batch, console)
    raise typer.Exit(code)


def _run(options: common.FetchOptions, batch: bool | None, console: Console) -> int:
    import asyncio

    from kis_fetch.prices import run_prices

    run = common.prepare_run(options, console)
    check_batch(batch, run.settings)
    with run.reporter:
        return asyncio.run(
            run_prices(
                run.settings,
                run.tickers,
                run.output,
                run.reporter,
                master_dir=options.master_dir,
                batch=batch,
                timeout=options.timeout,
            )  # fmt: skip
        )


def check_batch(batch: bool | None, settings: Settings) -> None:
    """Reject an explicit --batch on the paper server, which lacks the
    multi-symbol price TR (intstock-multprice)."""
    from kis_fetch.errors import InputError

    if batch and settings.is_paper:
        raise InputError(
            "invalid --batch on the paper server: it does not offer "
            "intstock-multprice; pass --no-batch, or --env real"
        )


def register(app: typer.Typer) -> None:
    app.command(epilog=common.EXIT_CODES_HELP)(prices)
