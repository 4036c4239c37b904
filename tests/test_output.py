import csv
import io
import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from rich.console import Console

from kis_fetch.errors import InputError
from kis_fetch.output import (
    OutputLock,
    csv_text,
    json_value,
    open_writer,
    read_done_keys,
    remove_stale_parts,
    trim_torn_line,
)

COLUMNS = ("symbol", "exchange", "price", "fetched_at")
KST = timezone(timedelta(hours=9))
ROW = ("005930", "KRX", Decimal("71500"), datetime(2026, 12, 4, 9, 30, tzinfo=KST))


def test_csv_text_keeps_decimals_exact() -> None:
    assert csv_text(Decimal("182.5200")) == "182.5200"
    assert csv_text(Decimal("0.1") + Decimal("0.2")) == "0.3"
    assert csv_text(Decimal("-7735")) == "-7735"
    assert csv_text(None) == ""
    assert csv_text(ROW[3]) == "2026-12-04T09:30:00+09:00"


def test_json_value_types() -> None:
    assert json_value(Decimal("71500")) == 71500
    assert isinstance(json_value(Decimal("71500")), int)
    assert json_value(Decimal("1.26")) == 1.26
    assert json_value(None) is None


def test_csv_file_written_on_close(tmp_path) -> None:
    path = tmp_path / "out.csv"
    writer = open_writer("csv", path, COLUMNS)
    writer.write(ROW)
    assert not path.exists()
    writer.close(keep=True)
    rows = list(csv.reader(path.read_text().splitlines()))
    assert rows[0] == list(COLUMNS)
    assert rows[1][0] == "005930"
    assert rows[1][2] == "71500"


def test_discarded_run_leaves_file_untouched(tmp_path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    writer = open_writer("csv", path, COLUMNS)
    writer.write(ROW)
    writer.close(keep=False)
    assert path.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [path]


def test_json_array_valid_after_close(tmp_path) -> None:
    path = tmp_path / "out.json"
    writer = open_writer("json", path, COLUMNS)
    writer.write(ROW)
    writer.write(ROW)
    writer.close(keep=True)
    data = json.loads(path.read_text())
    assert len(data) == 2
    assert data[0]["symbol"] == "005930"
    assert data[0]["price"] == 71500


def test_empty_json_array(tmp_path) -> None:
    path = tmp_path / "out.json"
    open_writer("json", path, COLUMNS).close(keep=True)
    assert json.loads(path.read_text()) == []


def test_resume_csv_appends_without_header(tmp_path) -> None:
    path = tmp_path / "out.csv"
    writer = open_writer("csv", path, COLUMNS)
    writer.write(ROW)
    writer.close(keep=True)
    with path.open("a") as stream:
        stream.write("000660,KR")  # a torn row from a killed run
    assert read_done_keys("csv", path, COLUMNS) == {("005930", "KRX")}
    writer = open_writer("csv", path, COLUMNS, resume=True)
    writer.write(("000660",) + ROW[1:])
    writer.close(keep=True)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert [line.split(",")[0] for line in lines[1:]] == ["005930", "000660"]


def test_resume_json_extends_array(tmp_path) -> None:
    path = tmp_path / "out.json"
    writer = open_writer("json", path, COLUMNS)
    writer.write(ROW)
    writer.close(keep=True)
    writer = open_writer("json", path, COLUMNS, resume=True)
    writer.write(("000660",) + ROW[1:])
    writer.close(keep=True)
    assert [r["symbol"] for r in json.loads(path.read_text())] == ["005930", "000660"]


def test_resume_rejects_other_columns(tmp_path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="header does not match"):
        read_done_keys("csv", path, COLUMNS)


def test_trim_torn_line(tmp_path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": ')
    trim_torn_line(path)
    assert path.read_bytes() == b'{"a": 1}\n'


def test_table_writer_aligns_wide_names() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200)
    writer = open_writer("table", None, ("symbol", "name", "price"), console=console)
    writer.write(("005930", "삼성전자", Decimal("71500")))
    writer.close(keep=True)
    header, line = buffer.getvalue().splitlines()
    assert line.startswith("005930")
    assert "삼성전자" in line
    assert line.endswith("71500")


def test_table_header_unwrapped_when_narrow() -> None:
    from kis_fetch.quotes import PRICE_COLUMNS

    buffer = io.StringIO()
    console = Console(file=buffer, width=80)
    writer = open_writer("table", None, PRICE_COLUMNS, console=console)
    writer.write(["005930", "KRX", "삼성전자", *[""] * (len(PRICE_COLUMNS) - 3)])
    writer.close(keep=True)
    header, line = buffer.getvalue().splitlines()
    assert header.split() == list(PRICE_COLUMNS)
    assert line.startswith("005930")


def test_table_needs_terminal(tmp_path) -> None:
    with pytest.raises(InputError, match="use csv, tsv, json or jsonl"):
        open_writer("table", tmp_path / "x", COLUMNS)


def test_resume_rejects_foreign_jsonl(tmp_path) -> None:
    path = tmp_path / "other.jsonl"
    path.write_text('{"a": 1}\n')
    with pytest.raises(InputError, match="not written by this command"):
        read_done_keys("jsonl", path, COLUMNS)


def test_tsv_round_trip_for_resume(tmp_path) -> None:
    path = tmp_path / "out.tsv"
    writer = open_writer("tsv", path, COLUMNS)
    writer.write(ROW)
    writer.close(keep=True)
    assert path.read_text().splitlines()[0] == "symbol\texchange\tprice\tfetched_at"
    assert read_done_keys("tsv", path, COLUMNS) == {("005930", "KRX")}
    with pytest.raises(InputError, match="header does not match"):
        read_done_keys("csv", path, COLUMNS)


def test_stale_parts_of_dead_runs_are_removed(tmp_path) -> None:
    path = tmp_path / "out.csv"
    finished = subprocess.Popen(["true"])  # noqa: S603, S607
    finished.wait()
    stale = tmp_path / f".out.csv.{finished.pid}.part"
    live = tmp_path / f".out.csv.{os.getpid()}.part"
    other = tmp_path / f".other.csv.{finished.pid}.part"
    for file in (stale, live, other):
        file.write_text("partial\n")
    remove_stale_parts(path)
    assert not stale.exists()
    assert live.exists()
    assert other.exists()


def test_resume_lock_is_exclusive_until_released(tmp_path) -> None:
    path = tmp_path / "out.csv"
    first = OutputLock(path, tmp_path / "locks")
    with pytest.raises(InputError, match="another kis-fetch run"):
        OutputLock(path, tmp_path / "locks")
    OutputLock(tmp_path / "other.csv", tmp_path / "locks").release()
    first.release()
    OutputLock(path, tmp_path / "locks").release()


def test_resume_reads_csv_with_bom(tmp_path) -> None:
    path = tmp_path / "edited.csv"
    path.write_text("\ufeffsymbol,exchange,price,fetched_at\n005930,KRX,1,x\n")
    assert read_done_keys("csv", path, COLUMNS) == {("005930", "KRX")}
