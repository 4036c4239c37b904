"""Tests for the `symbols` command group, on the real KIS master files."""

from __future__ import annotations

import csv
import functools
import io
import json
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kis_fetch.commands.symbols import register
from kis_fetch.masters import MasterIndex
from kis_fetch.tickers import parse_ticker, read_tickers

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KRX = DATA / "krx"
US = DATA / "us"
MASTER_FILES = {
    "kospi": KRX / "kospi_code.mst",
    "kosdaq": KRX / "kosdaq_code.mst",
    "nas": US / "NASMST.COD",
    "nys": US / "NYSMST.COD",
    "ams": US / "AMSMST.COD",
}

pytestmark = pytest.mark.skipif(
    not (KRX / "kospi_code.mst").is_file(), reason=f"real master files not in {DATA}"
)


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()

    @application.callback()
    def main() -> None:
        """Test application."""

    register(application)
    return application


@pytest.fixture(autouse=True)
def no_master_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KIS_FETCH_MASTER_DIR", raising=False)
    monkeypatch.delenv("KIS_FETCH_MASTER_URL", raising=False)
    monkeypatch.setenv("KIS_FETCH_CACHE_DIR", str(tmp_path / "cache"))


def run(app: typer.Typer, *args: str, **kwargs: Any) -> Any:
    return CliRunner().invoke(app, ["symbols", *args], **kwargs)


def raw_symbols(path: Path, trailer: int, group: bytes) -> list[str]:
    lines = [line for line in path.read_bytes().split(b"\n") if line]
    return [
        line[:9].decode("ascii").strip()
        for line in lines
        if line[-trailer : -trailer + 2] == group
    ]


def test_plain_domestic_stocks(app: typer.Typer) -> None:
    result = run(app, "kospi", "kosdaq", "--type", "stock", "--master-dir", str(DATA))
    assert result.exit_code == 0, result.output
    expected = raw_symbols(KRX / "kospi_code.mst", 227, b"ST")
    expected += raw_symbols(KRX / "kosdaq_code.mst", 221, b"ST")
    assert result.stdout.splitlines() == expected
    assert "00088K" in result.stdout.splitlines()


def test_plain_output_feeds_prices(app: typer.Typer) -> None:
    result = run(app, "--master-dir", str(DATA))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    total = sum(len(path.read_bytes().splitlines()) for path in MASTER_FILES.values())
    # The 94 nine-character KOSPI fund and warrant codes are left out.
    assert len(lines) == total - 94
    assert "left out 94 symbols" in result.stderr
    for line in lines:
        parse_ticker(line)
    piped = read_tickers([], ["-"], io.StringIO(result.stdout))
    assert piped.invalid == []
    assert piped.duplicates == 0
    assert len(piped.tickers) == len(lines)


def test_plain_overseas_keys(app: typer.Typer) -> None:
    result = run(app, "us", "--master-dir", str(DATA))
    assert result.exit_code == 0, result.output
    lines = set(result.stdout.splitlines())
    assert "NAS:AAPL" in lines
    assert "NYS:IBM" in lines
    assert "AMS:SPY" in lines
    assert "NYS:BRK/B" in lines
    assert parse_ticker("NYS:BRK/B").exchange == "NYS"
    assert not any(line.isdigit() for line in lines)


def test_csv_format(app: typer.Typer) -> None:
    result = run(app, "kospi", "--format", "csv", "--master-dir", str(DATA))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 2084
    fields = ["symbol", "name", "name_en", "exchange", "type", "market", "currency"]
    assert list(rows[0]) == fields
    samsung = next(row for row in rows if row["symbol"] == "005930")
    assert samsung == {
        "symbol": "005930",
        "name": "삼성전자",
        "name_en": "",
        "exchange": "KRX",
        "type": "stock",
        "market": "kospi",
        "currency": "KRW",
    }


def test_json_format(app: typer.Typer) -> None:
    result = run(
        app,
        "nys",
        "--search",
        "berkshire",
        "--format",
        "json",
        "--master-dir",
        str(DATA),
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    symbols = [row["symbol"] for row in rows]
    assert "BRK/B" in symbols
    berkshire = next(row for row in rows if row["symbol"] == "BRK/B")
    assert berkshire["name_en"] == "BERKSHIRE HATHAWAY INC"
    assert berkshire["exchange"] == "NYS"
    assert berkshire["currency"] == "USD"


def test_jsonl_format(app: typer.Typer) -> None:
    result = run(
        app, "kospi", "--type", "etn", "--format", "jsonl", "--master-dir", str(DATA)
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 365
    assert all(row["symbol"].startswith("Q") for row in rows)
    assert {row["type"] for row in rows} == {"etn"}


def test_table_format(app: typer.Typer) -> None:
    result = run(
        app, "--search", "005930", "--format", "table", "--master-dir", str(DATA)
    )
    assert result.exit_code == 0, result.output
    assert "삼성전자" in result.stdout
    assert "symbol" in result.stdout
    assert "currency" in result.stdout


def test_search_case_insensitive(app: typer.Typer) -> None:
    result = run(app, "--search", "ApPlE", "--master-dir", str(DATA))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "NAS:AAPL" in lines
    korean = run(app, "kospi", "--search", "삼성전자", "--master-dir", str(DATA))
    assert korean.stdout.splitlines()[:2] == ["005930", "005935"]


def test_type_repeatable(app: typer.Typer) -> None:
    result = run(app, "kospi", "-t", "etf", "--type", "ETN", "--master-dir", str(DATA))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 682 + 365


def test_market_aliases(app: typer.Typer) -> None:
    result = run(app, "krx", "--format", "jsonl", "--master-dir", str(DATA))
    assert result.exit_code == 0, result.output
    markets = {json.loads(line)["market"] for line in result.stdout.splitlines()}
    assert markets == {"kospi", "kosdaq"}


def test_explicit_list_subcommand(app: typer.Typer) -> None:
    result = run(app, "list", "ams", "--type", "etn", "--master-dir", str(DATA))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 89


def test_master_dir_from_env(app: typer.Typer) -> None:
    result = run(app, "nas", env={"KIS_FETCH_MASTER_DIR": str(DATA)})
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 5140


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nasdaq"], "unknown market 'nasdaq': use one of kospi, kosdaq"),
        (["--type", "bond"], "unknown --type bond: use one of dr, elw"),
        (["--format", "xml"], "invalid --format 'xml': use one of plain, table"),
        (["konex"], "no master file for konex"),
    ],
)
def test_invalid_values_exit_2(app: typer.Typer, args: list[str], message: str) -> None:
    result = run(app, *args, "--master-dir", str(DATA))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"kis-fetch: {message}")
    assert len(result.stderr.splitlines()) == 1


def test_no_master_files(app: typer.Typer, tmp_path: Path) -> None:
    result = run(app, "--master-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "no master files found" in result.stderr
    assert "kis-fetch symbols update" in result.stderr
    assert "--master-dir" in result.stderr


def test_default_master_dir_is_cache(app: typer.Typer, tmp_path: Path) -> None:
    result = run(app)
    assert result.exit_code == 2
    assert str(tmp_path / "cache" / "masters") in result.stderr


def test_import_without_httpx() -> None:
    code = (
        "import sys, kis_fetch.commands.symbols, kis_fetch.masters, "
        "kis_fetch.tickers; print('httpx' in sys.modules)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "False"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def master_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serve zips of the real master files from 127.0.0.1 under /common/master."""
    served = tmp_path / "served"
    folder = served / "common" / "master"
    folder.mkdir(parents=True)
    for path in MASTER_FILES.values():
        with zipfile.ZipFile(folder / f"{path.name.lower()}.zip", "w") as archive:
            archive.write(path, path.name, compress_type=zipfile.ZIP_DEFLATED)
    handler = functools.partial(QuietHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/common/master", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_update_from_local_server(
    app: typer.Typer, master_server: tuple[str, Path], tmp_path: Path
) -> None:
    base_url, _ = master_server
    target = tmp_path / "masters"
    result = run(app, "update", "--base-url", base_url, "--master-dir", str(target))
    assert result.exit_code == 0, result.output
    for market, path in MASTER_FILES.items():
        installed = target / path.name
        assert installed.read_bytes() == path.read_bytes(), market
        assert f"updated {market}: " in result.stdout
    assert "updated kospi: 2084 symbols" in result.stdout
    assert sorted(p.name for p in target.iterdir()) == sorted(
        path.name for path in MASTER_FILES.values()
    )
    listed = run(app, "kospi", "--search", "005930", "--master-dir", str(target))
    assert listed.stdout.splitlines() == ["005930"]


def test_update_url_from_env(
    app: typer.Typer, master_server: tuple[str, Path], tmp_path: Path
) -> None:
    base_url, _ = master_server
    env = {"KIS_FETCH_MASTER_URL": base_url, "KIS_FETCH_MASTER_DIR": str(tmp_path)}
    result = run(app, "update", "nas", env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "NASMST.COD").read_bytes() == MASTER_FILES["nas"].read_bytes()
    assert not (tmp_path / "kospi_code.mst").exists()


def test_update_missing_market_partial(
    app: typer.Typer, master_server: tuple[str, Path], tmp_path: Path
) -> None:
    base_url, _ = master_server
    result = run(
        app,
        "update",
        "kospi",
        "konex",
        "--base-url",
        base_url,
        "--master-dir",
        str(tmp_path),
    )
    assert result.exit_code == 1
    assert "updated kospi" in result.stdout
    assert "konex: download failed: HTTP 404" in result.stderr
    assert (tmp_path / "kospi_code.mst").is_file()
    assert not (tmp_path / "konex_code.mst").exists()


def test_update_bad_zip_keeps_old_copy(
    app: typer.Typer, master_server: tuple[str, Path], tmp_path: Path
) -> None:
    base_url, served = master_server
    (served / "nasmst.cod.zip").write_bytes(b"not a zip")
    with zipfile.ZipFile(served / "kosdaq_code.mst.zip", "w") as archive:
        archive.writestr("kosdaq_code.mst", b"truncated\n")
    target = tmp_path / "masters"
    target.mkdir()
    (target / "NASMST.COD").write_bytes(b"old copy")
    (target / "kosdaq_code.mst").write_bytes(b"old copy")
    result = run(
        app,
        "update",
        "nas",
        "kosdaq",
        "--base-url",
        base_url,
        "--master-dir",
        str(target),
    )
    assert result.exit_code == 1
    assert "nas: " in result.stderr
    assert "is not a valid zip file" in result.stderr
    assert "kosdaq: " in result.stderr
    assert "too short" in result.stderr
    assert (target / "NASMST.COD").read_bytes() == b"old copy"
    assert (target / "kosdaq_code.mst").read_bytes() == b"old copy"
    assert sorted(p.name for p in target.iterdir()) == ["NASMST.COD", "kosdaq_code.mst"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/master", "rejected plain http master URL"),
        ("ftp://x", "invalid master URL 'ftp://x'"),
    ],
)
@pytest.mark.parametrize("how", ["flag", "env"])
def test_update_rejects_bad_url(
    app: typer.Typer, tmp_path: Path, url: str, message: str, how: str
) -> None:
    args = ["update", "--master-dir", str(tmp_path)]
    environ = {}
    if how == "flag":
        args += ["--base-url", url]
    else:
        environ["KIS_FETCH_MASTER_URL"] = url
    result = run(app, *args, env=environ)
    # A rejected flag is a usage error. The same value from the environment
    # is a configuration error.
    assert result.exit_code == (2 if how == "flag" else 3), result.output
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_internal_error_exits_70(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_load(folder: Path) -> None:
        raise RuntimeError("unexpected state")

    monkeypatch.setattr(MasterIndex, "load", broken_load)
    result = run(app, "kospi", "--master-dir", str(DATA))
    assert result.exit_code == 70
    assert "Traceback" in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == "kis-fetch: internal error: RuntimeError: unexpected state"


def test_update_unknown_market(app: typer.Typer, tmp_path: Path) -> None:
    result = run(app, "update", "moon", "--master-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "unknown market 'moon'" in result.stderr
