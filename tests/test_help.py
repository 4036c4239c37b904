"""`--help` of every command: metavars, not Python types."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from kis_fetch.cli import app

# Type placeholders that typer prints for options without a metavar: <str>,
# <float>, <path> and <list[str]> in typer 0.29, and click's TEXT, FLOAT and
# INTEGER in older typer versions.
TYPE_PLACEHOLDER_RE = re.compile(r"<[a-z][a-z\[\], |]*>|\b(?:TEXT|FLOAT|INTEGER)\b")


def help_text(command: str) -> str:
    words = [*command.split(), "--help"]
    result = CliRunner().invoke(app, words, env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", ["sim", "prices", "history"])
def test_help_has_no_type_placeholders(command: str) -> None:
    text = help_text(command)
    assert TYPE_PLACEHOLDER_RE.findall(text) == []
    verbose_line = next(line for line in text.splitlines() if "--verbose" in line)
    assert "default" not in verbose_line


@pytest.mark.parametrize(
    "command",
    [
        "symbols list",
        "symbols update",
        "auth login",
        "auth status",
        "auth logout",
        "config show",
        "config init",
    ],
)
def test_other_help_has_no_type_placeholders(command: str) -> None:
    text = help_text(command)
    assert TYPE_PLACEHOLDER_RE.findall(text) == []
    assert "MARKET is one of" in text or not command.startswith("symbols")


def test_sim_help_metavars() -> None:
    text = help_text("sim")
    for usage in (
        "--master-dir DIR",
        "--host ADDRESS",
        "--port PORT",
        "--flavor real|paper",
        "--rate-limit N",
        "--latency SECONDS|MIN-MAX",
        "--arrival-jitter SECONDS",
        "--token-lifetime SECONDS",
        "--fault-rate FRACTION",
        "--fault-kinds KIND,...",
        "--seed N",
        "--key KEY:SECRET[:real|paper]",
    ):
        assert usage in text, usage


@pytest.mark.parametrize("command", ["prices", "history"])
def test_fetch_help_describes_tickers(command: str) -> None:
    text = help_text(command)
    assert f"Usage: kis-fetch {command} [OPTIONS] [TICKER]..." in text
    assert "Each TICKER is a KRX code" in text
    assert "--format table|csv|tsv|json|jsonl" in text
