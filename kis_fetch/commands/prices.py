"""`kis-fetch prices`: current prices for many tickers."""

from __future__ import annotations

from pathlib import Path

import typer

from kis_fetch.commands import common
from kis_fetch.commands.config import PROFILE_OPTION


def prices(
    tickers: list[str] = typer.Argument(
        None,
        metavar="TICKER",
        help="Tickers: 005930, 00088K, Q500001, NAS:AAPL, AAPL; '-' reads stdin.",
    ),
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

    Example: kis-fetch prices 005930 000660 NAS:AAPL -o prices.csv
    """
    console = common.stderr_console()
    common.setup_logging(verbose, console)
    with common.reported_errors():
        code = _run(
            tickers or [], files, profile, env, base_url, rate, concurrency, fmt,
            output, resume, master_dir, batch, skip_invalid, timeout, quiet, console,
        )  # fmt: skip
    raise typer.Exit(code)


def _run(
    tickers: list[str],
    files: list[str],
    profile: str | None,
    env: str | None,
    base_url: str | None,
    rate: float | None,
    concurrency: int | None,
    fmt: str | None,
    output: Path | None,
    resume: bool,
    master_dir: Path | None,
    batch: bool | None,
    skip_invalid: bool,
    timeout: float,
    quiet: bool,
    console: object,
) -> int:
    import asyncio

    from rich.console import Console

    from kis_fetch.config import DOCUMENTED_RATE, resolve_settings
    from kis_fetch.errors import InputError
    from kis_fetch.prices import run_prices
    from kis_fetch.report import Reporter
    from kis_fetch.runner import OutputOptions

    assert isinstance(console, Console)
    if output is not None and str(output) == "-":
        output = None
    common.check_output_path(output)
    common.check_numbers(rate, timeout)
    if resume and output is None:
        raise InputError("--resume needs -o FILE: it appends to that file")
    chosen_format = common.pick_format(fmt, output)
    if not quiet:
        common.warn_missing_master_dir(master_dir, console)
    ticker_list = common.gather_tickers(tickers, files, skip_invalid, console)
    settings = resolve_settings(
        env=env,
        base_url=base_url,
        rate=rate,
        concurrency=concurrency,
        profile=profile,
    )
    if settings.rate > DOCUMENTED_RATE[settings.env] and not quiet:
        console.print(
            f"kis-fetch: warning: --rate {settings.rate:g} is above KIS's documented "
            f"{DOCUMENTED_RATE[settings.env]:g}/s for {settings.env}; expect "
            "EGW00201 responses",
            markup=False,
        )
    reporter = Reporter(
        console, quiet=quiet, show_progress=common.wants_progress(console, output)
    )
    out = OutputOptions(
        fmt=chosen_format, path=output, resume=resume, console=Console(highlight=False)
    )
    with reporter:
        return asyncio.run(
            run_prices(
                settings,
                ticker_list,
                out,
                reporter,
                master_dir=master_dir,
                batch=batch,
                timeout=timeout,
            )  # fmt: skip
        )


def register(app: typer.Typer) -> None:
    app.command(epilog=common.EXIT_CODES_HELP)(prices)
