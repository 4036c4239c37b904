"""The `kis-fetch` command line: option parsing and exit codes only.

Command modules import their heavy dependencies (httpx, asyncio machinery)
inside the command bodies, so `--help` and `--version` start fast.
"""

from __future__ import annotations

import typer

from kis_fetch import __version__

app = typer.Typer(
    name="kis-fetch",
    help="Bulk prices and daily history from the Korea Investment & Securities "
    "Open API, paced under the per-key rate limit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"kis-fetch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Bulk prices and daily history from the KIS Open API."""


def _register_commands() -> None:
    import importlib

    for name in ("prices", "history", "symbols", "auth", "config", "sim"):
        try:
            module = importlib.import_module(f"kis_fetch.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"kis_fetch.commands.{name}":
                raise
            continue
        module.register(app)


_register_commands()


def main() -> None:
    app(prog_name="kis-fetch")
