"""Row writers for table, CSV, JSON and JSON Lines output, and the file
handling that keeps output whole.

A new output file is written under a temporary name in the same folder and
renamed into place when the run ends. Readers therefore never see a torn row,
and a run that stops before its first result leaves an existing file untouched.
With `--resume`, rows are appended to the existing file instead, each as one
write of whole lines. A lock keeps a second run out of a file that a run is
writing.
"""

from __future__ import annotations

import csv
import fcntl
import glob
import hashlib
import io
import json
import os
import stat
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol

from rich.cells import cell_len, set_cell_size
from rich.console import Console

from kis_fetch.errors import InputError

FORMATS = ("table", "csv", "tsv", "json", "jsonl")
# Output file extensions and the format each implies.
EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
DELIMITERS = {"csv": ",", "tsv": "\t"}


def csv_text(value: object) -> str:
    """Format a value for CSV: exact decimals, ISO times, empty for unknown."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def json_value(value: object) -> Any:
    """Convert a value for JSON: numbers stay numbers, unknown is null."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _record(columns: Sequence[str], values: Sequence[object]) -> dict[str, Any]:
    return {
        column: json_value(value) for column, value in zip(columns, values, strict=True)
    }


class RowWriter(Protocol):
    def write(self, values: Sequence[object]) -> None: ...

    def write_many(self, rows: Sequence[Sequence[object]]) -> None:
        """Write `rows` with one write call, so a killed run cuts no group."""

    def close(self, keep: bool) -> None: ...


class _Target:
    """The stream rows go to: stdout, a temporary file renamed at the end, or an
    existing file opened for appending."""

    def __init__(self, path: Path | None, append: bool) -> None:
        self.path: Path | None = path
        self.append = append
        self._tmp: Path | None = None
        self.stream: IO[str]
        if path is None:
            self.stream = sys.stdout
            return
        if is_stream_path(path):
            # A device, pipe or /dev/fd entry is written in place: a rename
            # would replace it with a regular file. Appending keeps what a
            # shell redirect (>>) put there before.
            self.stream = open(path, "a", encoding="utf-8", newline="")
            self.path = None
            return
        if path.is_symlink():
            # Replace the file the link points to, never the link itself.
            path = self.path = path.resolve()
        if append:
            self.stream = open(path, "a", encoding="utf-8", newline="")
        else:
            remove_stale_parts(path)
            self._tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
            self.stream = open(self._tmp, "w", encoding="utf-8", newline="")

    def write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def close(self, keep: bool) -> None:
        if self.path is None:
            self.stream.flush()
            if self.stream is not sys.stdout:
                self.stream.close()
            return
        self.stream.close()
        if self._tmp is not None:
            if keep:
                _copy_mode(self.path, self._tmp)
                os.replace(self._tmp, self.path)
            else:
                self._tmp.unlink(missing_ok=True)


def _copy_mode(source: Path, target: Path) -> None:
    """Give `target` the permission bits of `source`, when `source` exists."""
    try:
        os.chmod(target, stat.S_IMODE(source.stat().st_mode))
    except OSError:
        pass


# Paths that name this process's standard output.
STDOUT_PATHS = frozenset({"/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"})


def is_stream_path(path: Path) -> bool:
    """Return whether `path` is written in place rather than replaced: an
    entry under /dev or /proc, or an existing file that is not a regular one
    (a named pipe)."""
    if Path(os.path.abspath(path)).parts[1:2] in (("dev",), ("proc",)):
        return True
    return path.exists() and not path.resolve().is_file()


def remove_stale_parts(path: Path) -> None:
    """Delete temporary files for `path` left by runs that were killed (SIGKILL,
    power loss) before they could clean up, judged by the PID in each name."""
    prefix = f".{path.name}."
    try:
        candidates = list(path.parent.glob(f"{glob.escape(prefix)}*.part"))
    except OSError:
        return
    for candidate in candidates:
        pid_text = candidate.name[len(prefix) : -len(".part")]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        candidate.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputLock:
    """An exclusive lock on one output file for the length of a run.

    Two runs resuming into one file would both skip the same finished symbols
    and write the rest twice, and a run that replaces the file would cut off
    the rows another run is still appending. The lock file lives in
    `lock_dir`, named by a hash of the output's resolved path, so the output
    folder stays clean.
    """

    def __init__(self, path: Path, lock_dir: Path) -> None:
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
        lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(lock_dir / f"{digest}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise InputError(
                f"another kis-fetch run is writing {path}: wait for it to end "
                "or pass a different -o file"
            ) from None

    def release(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class CsvWriter:
    def __init__(
        self,
        target: _Target,
        columns: Sequence[str],
        header: bool,
        delimiter: str = ",",
    ) -> None:
        self._target = target
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, delimiter=delimiter, lineterminator="\n")
        if header:
            self.write(columns)

    def write(self, values: Sequence[object]) -> None:
        self.write_many([values])

    def write_many(self, rows: Sequence[Sequence[object]]) -> None:
        for values in rows:
            self._csv.writerow([csv_text(value) for value in values])
        self._target.write(self._buffer.getvalue())
        self._buffer.seek(0)
        self._buffer.truncate()

    def close(self, keep: bool) -> None:
        self._target.close(keep)


class JsonLinesWriter:
    def __init__(self, target: _Target, columns: Sequence[str]) -> None:
        self._target = target
        self._columns = columns

    def write(self, values: Sequence[object]) -> None:
        self.write_many([values])

    def write_many(self, rows: Sequence[Sequence[object]]) -> None:
        lines = [
            json.dumps(_record(self._columns, values), ensure_ascii=False) + "\n"
            for values in rows
        ]
        self._target.write("".join(lines))

    def close(self, keep: bool) -> None:
        self._target.close(keep)


class JsonWriter:
    """Writes one JSON array; it is valid whenever the writer is closed."""

    def __init__(
        self,
        target: _Target,
        columns: Sequence[str],
        existing: list[dict[str, Any]] | None = None,
    ) -> None:
        self._target = target
        self._columns = columns
        self._count = 0
        self._target.write("[")
        for record in existing or []:
            self._put(record)

    def _put(self, record: dict[str, Any]) -> None:
        self._target.write(self._text(record))

    def _text(self, record: dict[str, Any]) -> str:
        separator = "\n" if self._count == 0 else ",\n"
        self._count += 1
        return separator + json.dumps(record, ensure_ascii=False)

    def write(self, values: Sequence[object]) -> None:
        self.write_many([values])

    def write_many(self, rows: Sequence[Sequence[object]]) -> None:
        texts = [self._text(_record(self._columns, values)) for values in rows]
        self._target.write("".join(texts))

    def close(self, keep: bool) -> None:
        self._target.write("\n]\n" if self._count else "]\n")
        self._target.close(keep)


# Display widths in terminal cells; the name column is truncated to fit.
TABLE_WIDTHS = {"name": 18, "fetched_at": 8, "exchange": 4, "currency": 3}


class TableWriter:
    """Prints aligned rows as they arrive, so a long run shows progress."""

    def __init__(self, console: Console, columns: Sequence[str]) -> None:
        self._console = console
        self._columns = columns
        self._widths = [
            max(TABLE_WIDTHS.get(column, 10), len(column)) for column in columns
        ]
        header = "  ".join(
            set_cell_size(column, width)
            for column, width in zip(columns, self._widths, strict=True)
        )
        self._console.print(
            header.rstrip(), style="bold", markup=False, highlight=False, soft_wrap=True
        )

    def write(self, values: Sequence[object]) -> None:
        cells = []
        for column, value, width in zip(
            self._columns, values, self._widths, strict=True
        ):
            text = csv_text(value)
            if column == "fetched_at" and isinstance(value, datetime):
                text = value.strftime("%H:%M:%S")
            if isinstance(value, Decimal) and cell_len(text) <= width:
                cells.append(" " * (width - cell_len(text)) + text)
            else:
                cells.append(set_cell_size(text, width))
        self._console.print(
            "  ".join(cells).rstrip(), markup=False, highlight=False, soft_wrap=True
        )

    def write_many(self, rows: Sequence[Sequence[object]]) -> None:
        for values in rows:
            self.write(values)

    def close(self, keep: bool) -> None:
        self._console.file.flush()


def open_writer(
    fmt: str,
    path: Path | None,
    columns: Sequence[str],
    *,
    resume: bool = False,
    console: Console | None = None,
) -> RowWriter:
    """Open the writer for `fmt`; with `resume`, append to the file at `path`."""
    if fmt == "table":
        if path is not None:
            raise InputError(
                "--format table writes to the terminal: "
                "use csv, tsv, json or jsonl with -o"
            )
        return TableWriter(console or Console(), columns)
    append = resume and path is not None and path.exists() and path.stat().st_size > 0
    if fmt == "json":
        existing = read_json_array(path) if append and path is not None else None
        return JsonWriter(_Target(path, append=False), columns, existing)
    if append and path is not None:
        trim_torn_line(path)
    target = _Target(path, append=append)
    if fmt in ("csv", "tsv"):
        return CsvWriter(target, columns, header=not append, delimiter=DELIMITERS[fmt])
    if fmt == "jsonl":
        return JsonLinesWriter(target, columns)
    raise InputError(f"invalid --format {fmt!r}: use one of {', '.join(FORMATS)}")


def trim_torn_line(path: Path) -> None:
    """Cut a partial last line left by a run that was killed mid-write."""
    with open(path, "rb+") as stream:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        if size == 0:
            return
        stream.seek(size - 1)
        if stream.read(1) == b"\n":
            return
        data_start = max(0, size - 65536)
        stream.seek(data_start)
        tail = stream.read()
        cut = tail.rfind(b"\n")
        stream.truncate(data_start + cut + 1 if cut >= 0 else 0)


def read_json_array(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot resume {path}: it is not a valid JSON array ({exc}); "
            "move it away or run without --resume"
        ) from None
    if not isinstance(data, list):
        raise InputError(f"cannot resume {path}: expected a JSON array")
    return [record for record in data if isinstance(record, dict)]


def read_done_keys(
    fmt: str, path: Path, columns: Sequence[str]
) -> set[tuple[str, str]]:
    """Return the (symbol, exchange) pairs that already have rows in `path`."""
    if not path.exists() or path.stat().st_size == 0:
        return set()
    records: list[dict[str, Any]] = []
    try:
        if fmt == "json":
            records = read_json_array(path)
        elif fmt == "jsonl":
            with open(path, encoding="utf-8") as stream:
                for line in stream:
                    if line.endswith("\n") and line.strip():
                        try:
                            records.append(json.loads(line))
                        except ValueError:
                            continue
        elif fmt in ("csv", "tsv"):
            # utf-8-sig: a spreadsheet that saved the file adds a BOM.
            with open(path, encoding="utf-8-sig", newline="") as stream:
                text = stream.read()
            lines = text.splitlines(keepends=True)
            if lines and not lines[-1].endswith("\n"):
                lines.pop()
            reader = csv.DictReader(lines, delimiter=DELIMITERS[fmt])
            if reader.fieldnames is not None and list(reader.fieldnames) != list(
                columns
            ):
                raise InputError(
                    f"cannot resume {path}: its header does not match the "
                    f"{', '.join(columns[:3])}... columns; use a new -o file"
                )
            records = list(reader)
        else:
            raise InputError(
                "--resume needs -o FILE with --format csv, tsv, json or jsonl"
            )
    except UnicodeDecodeError:
        raise InputError(f"cannot resume {path}: it is not UTF-8 text") from None
    foreign = [r for r in records if "symbol" not in r or "exchange" not in r]
    if foreign:
        raise InputError(
            f"cannot resume {path}: it has records without symbol and exchange "
            "fields, so it was not written by this command; use a new -o file"
        )
    return {
        (str(record.get("symbol", "")), str(record.get("exchange", "")))
        for record in records
    }
