"""The closing summary line of a fetching run."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kis_fetch.report import Reporter, RunSummary


def summary_with(skipped: int = 0, duplicates: int = 0) -> RunSummary:
    return RunSummary(
        fetched=3,
        skipped=skipped,
        duplicates=duplicates,
        requests=4,
        started=10.0,
        ended=12.0,
    )


@pytest.mark.parametrize(
    ("skipped", "duplicates", "expected"),
    [
        (0, 1, "skipped 1 duplicate symbol"),
        (0, 2, "skipped 2 duplicate symbols"),
        (5, 0, "skipped 5 already in the file"),
        (5, 1, "skipped 5 already in the file, skipped 1 duplicate symbol"),
    ],
)
def test_line_names_skip_reason(skipped, duplicates, expected) -> None:
    line = summary_with(skipped, duplicates).line()
    assert line == (
        f"fetched 3, failed 0, {expected}, 2.0 s, 4 requests (2.0/s), 0 throttled"
    )


def test_line_without_skips() -> None:
    assert "skipped" not in summary_with().line()


def test_line_one_request_singular() -> None:
    summary = RunSummary(fetched=1, requests=1, started=10.0, ended=12.0)
    assert ", 1 request (0.5/s)," in summary.line()


def test_reporter_prints_summary() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, highlight=False)
    reporter = Reporter(console, quiet=False, show_progress=False)
    reporter.summary(summary_with(duplicates=1))
    assert buffer.getvalue() == (
        "kis-fetch: fetched 3, failed 0, skipped 1 duplicate symbol, 2.0 s, "
        "4 requests (2.0/s), 0 throttled\n"
    )
