"""Terminal output on stderr: progress, per-ticker failures and the summary."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@dataclass
class RunSummary:
    """Counts for the closing line and the exit code."""

    total: int = 0
    fetched: int = 0
    failed: int = 0
    # Symbols already in the output file of a --resume run.
    skipped: int = 0
    # Tickers whose series another ticker of the input already wrote, such as
    # AAPL next to NAS:AAPL.
    duplicates: int = 0
    pages: int = 0
    requests: int = 0
    throttled: int = 0
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def line(self, *, interrupted: bool = False) -> str:
        """Return the summary text."""
        elapsed = self.elapsed
        rate = self.requests / elapsed if elapsed > 0 else 0.0
        parts = [f"fetched {self.fetched}", f"failed {self.failed}"]
        if self.skipped:
            parts.append(f"skipped {self.skipped} already in the file")
        if self.duplicates:
            plural = _plural(self.duplicates)
            parts.append(f"skipped {self.duplicates} duplicate symbol{plural}")
        if self.pages:
            parts.append(f"{self.pages} pages")
        parts += [
            f"{elapsed:.1f} s",
            f"{self.requests} request{_plural(self.requests)} ({rate:.1f}/s)",
            f"{self.throttled} throttled",
        ]
        text = ", ".join(parts)
        return f"interrupted: {text}" if interrupted else text


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


class Reporter:
    """Progress bar (only on a terminal), failure lines and the summary."""

    def __init__(
        self,
        console: Console,
        *,
        quiet: bool,
        show_progress: bool,
    ) -> None:
        self.console = console
        self.quiet = quiet
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if show_progress and not quiet:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )

    def __enter__(self) -> Reporter:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def start(self, description: str, total: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(description, total=total, detail="")

    def advance(self, count: int = 1, detail: str = "") -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=count, detail=detail)

    def failure(self, name: str, reason: str) -> None:
        self.console.print(
            f"kis-fetch: {escape(name)}: {escape(reason)}", highlight=False
        )

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"kis-fetch: {escape(message)}", highlight=False)

    def summary(self, summary: RunSummary, *, interrupted: bool = False) -> None:
        self.close()
        if not self.quiet:
            text = summary.line(interrupted=interrupted)
            self.console.print(f"kis-fetch: {text}", highlight=False)
