"""Options and error handling shared by the fetching commands."""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from kis_fetch.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_SIGINT,
    EXIT_SOFTWARE,
    InputError,
    KisFetchError,
)

if TYPE_CHECKING:
    from rich.console import Console

    from kis_fetch.config import Settings
    from kis_fetch.models import Ticker
    from kis_fetch.report import Reporter
    from kis_fetch.runner import OutputOptions

log = logging.getLogger("kis_fetch")

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES_HELP = (
    "Exit codes: 0 all fetched; 1 some tickers failed (the rest are written); "
    "2 usage or input error; 3 configuration or authentication error; "
    "70 internal error (a bug in kis-fetch); 130 interrupted (SIGINT); "
    "141 output pipe closed; 143 terminated (SIGTERM)."
)

# Hidden from the Arguments list, where typer 0.29 prints the Python type
# (<list[str]>) beside it. The command docstrings describe TICKER instead.
TICKER_ARGUMENT = typer.Argument(None, metavar="TICKER", hidden=True)
FILE_OPTION = typer.Option(
    [],
    "--file",
    "-f",
    metavar="FILE",
    help="Read tickers from FILE ('-' for stdin); repeatable.",
)
ENV_OPTION = typer.Option(
    None,
    "--env",
    metavar="real|paper",
    help="KIS server: real or paper (env KIS_ENV) [default: real].",
)
BASE_URL_OPTION = typer.Option(
    None,
    "--base-url",
    metavar="URL",
    help="Server URL, overriding --env: a simulator or proxy (env KIS_BASE_URL).",
)
RATE_OPTION = typer.Option(
    None,
    "--rate",
    metavar="N",
    help="Requests per second [default: 20 on real, 1 on paper].",
)
CONCURRENCY_OPTION = typer.Option(
    None,
    "--concurrency",
    metavar="N",
    help="Requests in flight [default: sized from rate x observed latency].",
)
FORMAT_OPTION = typer.Option(
    None,
    "--format",
    metavar="table|csv|tsv|json|jsonl",
    help="Output format [default: table on a terminal, else csv; with -o, "
    "from the file extension].",
)
OUTPUT_OPTION = typer.Option(
    None, "--output", "-o", metavar="PATH", help="Write rows to PATH instead of stdout."
)
RESUME_OPTION = typer.Option(
    False, "--resume", help="With -o: skip symbols already in the file and append."
)
MASTER_DIR_OPTION = typer.Option(
    None,
    "--master-dir",
    metavar="DIR",
    envvar="KIS_FETCH_MASTER_DIR",
    help="Folder with KIS master files, for names and US exchanges.",
)
SKIP_INVALID_OPTION = typer.Option(
    False, "--skip-invalid", help="Drop malformed tickers with a warning."
)
TIMEOUT_OPTION = typer.Option(
    10.0, "--timeout", metavar="SECONDS", help="Seconds to wait for one response."
)
QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="Print nothing but errors.")
VERBOSE_OPTION = typer.Option(
    0,
    "--verbose",
    "-v",
    count=True,
    show_default=False,
    help="Add diagnostics; -vv adds debug detail.",
)


def stderr_console() -> Console:
    from rich.console import Console

    # soft_wrap keeps each message on one line when stderr is a pipe or file,
    # where rich would otherwise wrap at 80 columns.
    return Console(stderr=True, highlight=False, soft_wrap=True)


class PlainFormatter(logging.Formatter):
    """Formats a record as `kis-fetch: warning: message`."""

    def format(self, record: logging.LogRecord) -> str:
        return f"kis-fetch: {record.levelname.lower()}: {record.getMessage()}"


def setup_logging(verbose: int, console: Console) -> None:
    from rich.logging import RichHandler

    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(
            console=console, show_path=False, show_time=verbose >= 2, markup=False
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        # One unwrapped line per record, so logs stay greppable in files.
        # Without -v only warnings and errors pass, and they read like the
        # tool's other messages.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            if verbose
            else PlainFormatter()
        )
    root = logging.getLogger("kis_fetch")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # httpx logs each request URL at INFO; headers, which hold the secrets,
    # are never logged by it.
    logging.getLogger("httpx").setLevel(
        logging.INFO if verbose >= 2 else logging.WARNING
    )
    logging.getLogger("httpx").handlers[:] = [handler]


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn errors into one stderr line and the documented exit code."""
    try:
        yield
    except KisFetchError as exc:
        typer.echo(f"kis-fetch: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except BrokenPipeError:
        # The reader closed stdout (`| head`); stop quietly as a shell tool does.
        _silence_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    except KeyboardInterrupt:
        typer.echo("kis-fetch: interrupted", err=True)
        raise typer.Exit(EXIT_SIGINT) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        typer.echo(
            f"kis-fetch: internal error: {type(exc).__name__}: {exc} "
            "(run with -vv for details)",
            err=True,
        )
        raise typer.Exit(EXIT_SOFTWARE) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises no second error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def check_output_path(output: Path | None) -> None:
    """Reject an output path whose folder is missing or that is a folder."""
    if output is None or str(output) == "-":
        return
    if output.is_dir():
        raise InputError(f"invalid -o {output}: it is a folder; give a file path")
    parent = output.parent
    if not parent.is_dir():
        raise InputError(
            f"invalid -o {output}: folder {parent} does not exist; create it first"
        )


# One request a minute. A lower --rate would leave a run idle for hours.
MIN_RATE = 1 / 60


def check_numbers(rate: float | None, timeout: float) -> None:
    """Reject non-finite rates and timeouts that are not positive."""
    if rate is not None and not math.isfinite(rate):
        raise InputError(f"invalid --rate {rate}: use a finite number of requests/s")
    if rate is not None and 0 < rate < MIN_RATE:
        raise InputError(
            f"invalid --rate {rate:g}: use at least one request a minute "
            f"({MIN_RATE:.3f} requests/s)"
        )
    if not (timeout > 0 and math.isfinite(timeout)):
        raise InputError(
            f"invalid --timeout {timeout}: use a positive number of seconds"
        )


def warn_missing_master_dir(master_dir: Path | None, console: Console) -> None:
    """Warn that a given master folder does not exist; the run goes on without
    names and probes the exchange of bare US symbols."""
    if master_dir is not None and not master_dir.is_dir():
        console.print(
            f"kis-fetch: warning: master folder {master_dir} not found: names stay "
            "empty and bare US symbols are probed; run `kis-fetch symbols update`",
            markup=False,
        )


def pick_format(fmt: str | None, output: Path | None) -> str:
    """Return the output format from --format, the file extension or the terminal."""
    from kis_fetch.output import EXTENSIONS, FORMATS

    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise InputError(
                f"invalid --format {fmt!r}: use one of {', '.join(FORMATS)}"
            )
        return fmt
    if output is not None:
        suffix = output.suffix.lower()
        if not suffix or output.is_char_device() or output.is_fifo():
            return "csv"
        if suffix not in EXTENSIONS:
            raise InputError(
                f"cannot tell the format of {output} from {suffix!r}: "
                "pass --format csv, tsv, json or jsonl"
            )
        return EXTENSIONS[suffix]
    return "table" if sys.stdout.isatty() else "csv"


def gather_tickers(
    args: list[str],
    files: list[str],
    skip_invalid: bool,
    console: Console,
    quiet: bool = False,
) -> list[Ticker]:
    """Read tickers from arguments, files and stdin; reject malformed ones."""
    from kis_fetch.tickers import read_tickers

    use_stdin = (
        "-" in args
        or "-" in files
        or (not args and not files and not sys.stdin.isatty())
    )
    ticker_list = read_tickers(args, files, sys.stdin if use_stdin else None)
    if not quiet:
        for note in ticker_list.notes:
            console.print(f"kis-fetch: {note}", markup=False)
    if ticker_list.invalid:
        listed = ", ".join(
            f"{value!r} ({where})" for where, value in ticker_list.invalid[:10]
        )
        more = len(ticker_list.invalid) - 10
        if more > 0:
            listed += f" and {more} more"
        if not skip_invalid:
            raise InputError(
                f"invalid tickers: {listed}; use 6-character KRX codes (005930), "
                "EXCD:SYMBOL (NAS:AAPL) or US symbols (AAPL), or pass --skip-invalid"
            )
        console.print(f"kis-fetch: skipping invalid tickers: {listed}", markup=False)
    if not ticker_list.tickers and ticker_list.invalid:
        raise InputError(
            "no valid tickers: every ticker was invalid and dropped by "
            "--skip-invalid; use 6-character KRX codes (005930), EXCD:SYMBOL "
            "(NAS:AAPL) or US symbols (AAPL)"
        )
    if not ticker_list.tickers and files:
        named = ", ".join(str(file) for file in files)
        raise InputError(
            f"no tickers in {named}: each needs tickers, one or more per line"
        )
    if not ticker_list.tickers:
        raise InputError(
            "no tickers given: pass TICKER arguments, -f FILE, or pipe a list on stdin"
        )
    return ticker_list.tickers


def wants_progress(console: Console, output: Path | None) -> bool:
    """Return True when a progress bar helps: stderr is a terminal and rows do
    not already stream to that terminal, where the bar would garble them."""
    rows_on_terminal = output is None and sys.stdout.isatty()
    return console.is_terminal and not rows_on_terminal


@dataclass(frozen=True)
class FetchOptions:
    """The command-line values that every fetching command shares."""

    tickers: list[str]
    files: list[str]
    profile: str | None
    env: str | None
    base_url: str | None
    rate: float | None
    concurrency: int | None
    fmt: str | None
    output: Path | None
    resume: bool
    master_dir: Path | None
    skip_invalid: bool
    timeout: float
    quiet: bool


@dataclass(frozen=True)
class PreparedRun:
    """Checked settings, tickers, output and reporter for one run."""

    settings: Settings
    tickers: list[Ticker]
    output: OutputOptions
    reporter: Reporter


def prepare_run(options: FetchOptions, console: Console) -> PreparedRun:
    """Check the shared options, read the tickers and resolve the settings.

    Every check that can fail runs here, before any request is sent.
    """
    from rich.console import Console

    from kis_fetch.auth import make_cache_dir
    from kis_fetch.config import DOCUMENTED_RATE, resolve_settings
    from kis_fetch.output import STDOUT_PATHS, is_stream_path
    from kis_fetch.report import Reporter
    from kis_fetch.runner import OutputOptions

    output = options.output
    if output is not None and (str(output) == "-" or str(output) in STDOUT_PATHS):
        output = None
    check_output_path(output)
    if options.resume and output is not None and is_stream_path(output):
        raise InputError(f"--resume needs a regular file, not {output}: pass -o FILE")
    check_numbers(options.rate, options.timeout)
    if options.resume and output is None:
        raise InputError("--resume needs -o FILE: it appends to that file")
    chosen_format = pick_format(options.fmt, output)
    if not options.quiet:
        warn_missing_master_dir(options.master_dir, console)
    tickers = gather_tickers(
        options.tickers, options.files, options.skip_invalid, console, options.quiet
    )
    settings = resolve_settings(
        env=options.env,
        base_url=options.base_url,
        rate=options.rate,
        concurrency=options.concurrency,
        profile=options.profile,
    )
    # Tokens, --resume locks, the shared request budget and the exchanges
    # found for bare US symbols live in the cache folder, so an unusable one
    # stops the run here, before any request or output.
    make_cache_dir(settings.cache_dir)
    documented = DOCUMENTED_RATE[settings.env]
    if settings.rate > documented and not options.quiet:
        console.print(
            f"kis-fetch: warning: --rate {settings.rate:g} is above KIS's documented "
            f"{documented:g}/s for {settings.env}; expect EGW00201 responses",
            markup=False,
        )
    reporter = Reporter(
        console,
        quiet=options.quiet,
        show_progress=wants_progress(console, output),
    )
    out = OutputOptions(
        fmt=chosen_format,
        path=output,
        resume=options.resume,
        console=Console(highlight=False),
    )
    return PreparedRun(settings, tickers, out, reporter)
