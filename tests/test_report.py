"""The closing summary line of a fetching run."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kis_fetch.report import Reporter, RunSummary


def summary_with(skipped: int) -> RunSummary:
    return RunSummary(fetched=3, skipped=skipped, requests=4, started=10.0, ended=12.0)


@pytest.mark.parametrize(
    ("skipped", "resume", "expected"),
    [
        (1, False, "skipped 1 duplicate symbol"),
        (2, False, "skipped 2 duplicate symbols"),
        (1, True, "skipped 1 symbol already in the file or duplicated in the input"),
        (
            5,
            True,
            "skipped 5 symbols already in the file or duplicated in the input",
        ),
    ],
)
def test_line_names_skip_reason(skipped, resume, expected) -> None:
    line = summary_with(skipped).line(resume=resume)
    assert line == (
        f"fetched 3, failed 0, {expected}, 2.0 s, 4 requests (2.0/s), 0 throttled"
    )


def test_line_without_skips() -> None:
    assert "skipped" not in summary_with(0).line()


def test_reporter_passes_resume() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, highlight=False)
    reporter = Reporter(console, quiet=False, show_progress=False, resume=True)
    reporter.summary(summary_with(1))
    assert buffer.getvalue() == (
        "kis-fetch: fetched 3, failed 0, skipped 1 symbol already in the file or "
        "duplicated in the input, 2.0 s, 4 requests (2.0/s), 0 throttled\n"
    )
