"""`kis-fetch prices` end to end against the simulator on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sim_fixture import MASTER_DIR
from typer.testing import CliRunner

from kis_fetch.cli import app
from kis_fetch.quotes import PRICE_COLUMNS

KEY = "TEST-APP-KEY"
SECRET = "test-app-secret"


def run(args, *, base_url, cache, env=None, input=None, masters=True):
    environment = {
        "KIS_APP_KEY": KEY,
        "KIS_APP_SECRET": SECRET,
        "KIS_BASE_URL": base_url,
        "KIS_FETCH_CACHE_DIR": str(cache),
        "KIS_FETCH_MASTER_DIR": str(MASTER_DIR if masters else empty_folder(cache)),
        "KIS_ENV": "",
        **(env or {}),
    }
    result = CliRunner().invoke(app, ["prices", *args], env=environment, input=input)
    return result


def empty_folder(cache: Path) -> Path:
    folder = cache / "no-masters"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def without_time(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "fetched_at"} for row in rows]


def data_requests(sim, path_part: str) -> int:
    return sum(n for path, n in sim.stats()["requests"].items() if path_part in path)


def test_columns_values_and_codes(sim, tmp_path) -> None:
    tickers = ["005930", "00088K", "000660", "NAS:AAPL"]
    result = run(["--format", "csv", *tickers], base_url=sim.base_url, cache=tmp_path)
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert header == ",".join(PRICE_COLUMNS)
    rows = rows_of(result.stdout)
    assert [row["symbol"] for row in rows] == ["005930", "00088K", "000660", "AAPL"]
    assert [row["exchange"] for row in rows] == ["KRX", "KRX", "KRX", "NAS"]
    assert rows[0]["name"] == "삼성전자"
    assert rows[0]["currency"] == "KRW"
    assert rows[3]["currency"] == "USD"
    for row in rows[:3]:
        price = Decimal(row["price"])
        assert price > 0
        assert price - Decimal(row["prev_close"]) == Decimal(row["change"])
        assert Decimal(row["low"]) <= Decimal(row["high"])
    assert rows[3]["open"] == ""
    assert datetime.fromisoformat(rows[0]["fetched_at"]).utcoffset() is not None


def test_batch_and_single_agree(sim, tmp_path) -> None:
    tickers = ["005930", "000660", "035420", "999999"]
    single = run(
        ["--format", "csv", "--no-batch", *tickers],
        base_url=sim.base_url,
        cache=tmp_path,
    )
    multi = run(
        ["--format", "csv", "--batch", *tickers], base_url=sim.base_url, cache=tmp_path
    )
    assert single.exit_code == 1
    assert multi.exit_code == 1
    assert without_time(rows_of(single.stdout)) == without_time(rows_of(multi.stdout))
    assert data_requests(sim, "intstock-multprice") == 1


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--env", "paper"], {}), ([], {"KIS_ENV": "paper"})],
)
def test_batch_on_paper_exits_2(sim_factory, tmp_path, args, env) -> None:
    sim = sim_factory(flavor="paper")
    result = run(
        ["--format", "csv", "--batch", *args, "005930"],
        base_url=sim.base_url,
        cache=tmp_path,
        env=env,
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        "kis-fetch: invalid --batch on the paper server: it does not offer "
        "intstock-multprice; pass --no-batch, or --env real"
    ]
    assert sim.stats()["requests"] == {}


def test_paper_without_batch_flag(sim_factory, tmp_path) -> None:
    sim = sim_factory(flavor="paper", rate_limit=0)
    result = run(
        ["--format", "csv", "--env", "paper", "005930", "000660"],
        base_url=sim.base_url,
        cache=tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert [row["symbol"] for row in rows_of(result.stdout)] == ["005930", "000660"]
    assert data_requests(sim, "intstock-multprice") == 0


def test_bare_us_symbols_probe_and_cache(sim, tmp_path) -> None:
    result = run(
        ["--format", "csv", "AAPL", "IBM", "SPY"],
        base_url=sim.base_url,
        cache=tmp_path,
        masters=False,
    )
    assert result.exit_code == 0, result.output
    assert [r["exchange"] for r in rows_of(result.stdout)] == ["NAS", "NYS", "AMS"]
    assert data_requests(sim, "overseas-price") == 1 + 2 + 3
    cached = json.loads((tmp_path / "exchanges.json").read_text())
    assert cached == {"AAPL": "NAS", "IBM": "NYS", "SPY": "AMS"}
    again = run(
        ["--format", "csv", "AAPL", "IBM", "SPY"],
        base_url=sim.base_url,
        cache=tmp_path,
        masters=False,
    )
    assert again.exit_code == 0
    assert data_requests(sim, "overseas-price") == 6 + 3


def test_bare_us_symbols_one_call_with_masters(sim, tmp_path) -> None:
    result = run(
        ["--format", "csv", "AAPL", "IBM", "SPY"], base_url=sim.base_url, cache=tmp_path
    )
    assert result.exit_code == 0, result.output
    assert [r["exchange"] for r in rows_of(result.stdout)] == ["NAS", "NYS", "AMS"]
    assert data_requests(sim, "overseas-price") == 3


def test_token_reused_and_cache_modes(sim, tmp_path) -> None:
    for _ in range(2):
        result = run(
            ["--format", "csv", "005930"], base_url=sim.base_url, cache=tmp_path
        )
        assert result.exit_code == 0, result.output
    assert sim.stats()["tokens_issued"] == {KEY: 1}
    token_files = list((tmp_path / "tokens").glob("*.json"))
    assert len(token_files) == 1
    assert stat.S_IMODE(token_files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tokens").stat().st_mode) == 0o700
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700


CACHE_FIX = "set KIS_FETCH_CACHE_DIR to a writable folder"


def test_locks_folder_is_file_exits_3(sim, tmp_path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "locks").write_text("not a folder\n")
    out = tmp_path / "prices.csv"
    result = run(["005930", "-o", str(out)], base_url=sim.base_url, cache=cache)
    assert result.exit_code == 3, result.output
    assert f"cannot use cache folder {cache / 'locks'}: it is a file" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("resume", [False, True])
def test_cache_folder_is_file_exits_3(sim, tmp_path, resume) -> None:
    cache = tmp_path / "cache"
    cache.write_text("not a folder\n")
    out = tmp_path / "prices.csv"
    args = ["005930", "-o", str(out), *(["--resume"] if resume else [])]
    result = run(args, base_url=sim.base_url, cache=cache)
    assert result.exit_code == 3, result.output
    assert result.stderr.strip().splitlines() == [
        f"kis-fetch: cannot use cache folder {cache}: it is a file; {CACHE_FIX}"
    ]
    assert sim.stats()["requests"] == {}
    assert not out.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_cache_folder_not_writable_exits_3(sim, tmp_path) -> None:
    parent = tmp_path / "read-only"
    parent.mkdir(mode=0o500)
    cache = parent / "cache"
    try:
        result = run(["005930"], base_url=sim.base_url, cache=cache)
    finally:
        parent.chmod(0o700)
    assert result.exit_code == 3, result.output
    assert f"cannot use cache folder {cache}: Permission denied" in result.stderr
    assert CACHE_FIX in result.stderr


def test_budget_folder_is_file_exits_3(sim, tmp_path) -> None:
    (tmp_path / "budget").write_text("not a folder\n")
    result = run(["005930"], base_url=sim.base_url, cache=tmp_path, masters=False)
    assert result.exit_code == 3, result.output
    budget = tmp_path / "budget"
    expected = f"cannot use cache folder {budget}: it is a file; {CACHE_FIX}"
    assert expected in result.stderr
    assert sim.stats()["requests"] == {}


def test_throttled_run_keeps_every_row(sim_factory, tmp_path) -> None:
    sim = sim_factory(rate_limit=5)
    codes = [f"{n:06d}" for n in (5930, 660, 35420, 5380, 51910, 6400, 68270, 28260)]
    result = run(
        ["--format", "csv", "--no-batch", "--rate", "40", *codes],
        base_url=sim.base_url,
        cache=tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert [r["symbol"] for r in rows_of(result.stdout)] == codes
    assert sim.stats()["throttled"].get(KEY, 0) > 0
    assert "throttled" in result.stderr


def test_not_found_fails_only_that_ticker(sim, tmp_path) -> None:
    result = run(
        ["--format", "csv", "005930", "999999", "NAS:ZZZZQ"],
        base_url=sim.base_url,
        cache=tmp_path,
    )
    assert result.exit_code == 1
    assert [r["symbol"] for r in rows_of(result.stdout)] == ["005930"]
    assert "999999: not found" in result.stderr
    assert "NAS:ZZZZQ: not found" in result.stderr


def test_stdin_duplicates_and_jsonl(sim, tmp_path) -> None:
    text = "\ufeff005930, 000660\r\n# comment\n\n005930 NAS:AAPL\n"
    result = run(
        ["--format", "jsonl"], base_url=sim.base_url, cache=tmp_path, input=text
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["symbol"] for r in records] == ["005930", "000660", "AAPL"]
    assert isinstance(records[0]["price"], int)
    assert records[2]["open"] is None


def test_json_file_output(sim, tmp_path) -> None:
    out = tmp_path / "prices.json"
    result = run(
        ["005930", "NAS:AAPL", "-o", str(out)], base_url=sim.base_url, cache=tmp_path
    )
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    assert [r["symbol"] for r in records] == ["005930", "AAPL"]


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["12345"], {}, 2, "'12345'"),
        (["005930", "NAS:"], {}, 2, "invalid tickers"),
        ([], {}, 2, "no tickers given"),
        (["005930", "--rate", "0"], {}, 2, "--rate"),
        (["005930", "--format", "xml"], {}, 2, "--format"),
        (["005930", "--resume"], {}, 2, "--resume needs -o"),
        (["005930"], {"KIS_APP_KEY": ""}, 3, "KIS_APP_KEY"),
        (["005930"], {"KIS_BASE_URL": "http://example.com"}, 3, "plain http"),
        (["005930", "--env", "mock"], {}, 2, "--env"),
        (["005930", "--base-url", "ftp://x"], {}, 2, "invalid server URL 'ftp://x'"),
        (["005930"], {"KIS_BASE_URL": "ftp://x"}, 3, "invalid server URL 'ftp://x'"),
    ],
)
def test_exit_codes_and_messages(sim, tmp_path, args, env, code, message) -> None:
    result = run(
        ["--format", "csv", *args],
        base_url=sim.base_url,
        cache=tmp_path,
        env=env,
        input="",
    )
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_internal_error_exits_70(monkeypatch, tmp_path) -> None:
    import kis_fetch.prices

    async def broken_run(*args, **kwargs) -> int:
        raise RuntimeError("unexpected state")

    monkeypatch.setattr(kis_fetch.prices, "run_prices", broken_run)
    result = run(["005930"], base_url="http://127.0.0.1:9", cache=tmp_path)
    assert result.exit_code == 70
    assert result.stderr.strip().splitlines() == [
        "kis-fetch: internal error: RuntimeError: unexpected state "
        "(run with -vv for details)"
    ]


def test_help_lists_internal_error_code() -> None:
    result = CliRunner().invoke(app, ["prices", "--help"])
    assert result.exit_code == 0
    # click wraps the epilog at 80 columns whatever the terminal width.
    assert "70 internal error" in " ".join(result.stdout.split())


def test_rejected_secret_exits_3(sim_factory, tmp_path) -> None:
    from kis_fetch.sim import KeySpec

    sim = sim_factory(keys=(KeySpec(KEY, "other-secret", "real"),))
    out = tmp_path / "keep.csv"
    out.write_text("untouched\n")
    result = run(["005930", "-o", str(out)], base_url=sim.base_url, cache=tmp_path)
    assert result.exit_code == 3
    assert "KIS_APP_SECRET" in result.stderr
    assert SECRET not in result.output
    assert out.read_text() == "untouched\n"


def test_paper_key_on_real_server(sim_factory, tmp_path) -> None:
    from kis_fetch.sim import KeySpec

    sim = sim_factory(keys=(KeySpec(KEY, SECRET, "paper"),))
    result = run(["005930"], base_url=sim.base_url, cache=tmp_path)
    assert result.exit_code == 3
    assert "--env paper" in result.stderr


def test_paper_server_without_env_paper(sim_factory, tmp_path) -> None:
    sim = sim_factory(flavor="paper")
    result = run(["005930"], base_url=sim.base_url, cache=tmp_path)
    assert result.exit_code == 3
    assert "the server is a paper server: use --env paper" in result.stderr


def process_env(base_url: str, cache: Path) -> dict[str, str]:
    """Return the variables a kis-fetch child process needs for the simulator."""
    return {
        "KIS_APP_KEY": KEY,
        "KIS_APP_SECRET": SECRET,
        "KIS_BASE_URL": base_url,
        "KIS_FETCH_CACHE_DIR": str(cache),
        "KIS_FETCH_MASTER_DIR": str(MASTER_DIR),
    }


@pytest.mark.parametrize("tickers", [["A005930"], ["12345", "NAS:", "A005930"]])
def test_skip_invalid_drops_every_ticker(sim, tmp_path, tickers) -> None:
    result = run(
        ["--format", "csv", "--skip-invalid", *tickers],
        base_url=sim.base_url,
        cache=tmp_path,
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("kis-fetch: skipping invalid tickers: ")
    assert lines[1].startswith(
        "kis-fetch: no valid tickers: every ticker was invalid and dropped by "
        "--skip-invalid; use 6-character KRX codes"
    )
    assert len(lines) == 2
    assert "no tickers given" not in result.stderr
    assert sim.stats()["requests"] == {}


def _spawn(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "kis_fetch", "prices", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_skip_invalid_drops_with_warning(sim, tmp_path) -> None:
    result = run(
        ["--format", "csv", "--skip-invalid", "005930", "12345"],
        base_url=sim.base_url,
        cache=tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert [r["symbol"] for r in rows_of(result.stdout)] == ["005930"]
    assert "skipping invalid tickers: '12345'" in result.stderr


def test_sigterm_exits_143_with_valid_json(sim_factory, tmp_path) -> None:
    sim = sim_factory(rate_limit=0, latency_min=0.1, latency_max=0.1)
    out = tmp_path / "rows.json"
    env = process_env(sim.base_url, tmp_path / "cache")
    codes = [f"{n:06d}" for n in range(5930, 5990)]
    process = _spawn([*codes, "--no-batch", "--rate", "20", "-o", str(out)], env)
    deadline = time.monotonic() + 20
    while sim.stats()["accepted"].get(KEY, 0) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 143, stderr
    records = json.loads(out.read_text())
    assert 0 < len(records) < len(codes)


def test_sigint_then_resume_completes(sim_factory, tmp_path) -> None:
    sim = sim_factory(rate_limit=0, latency_min=0.1, latency_max=0.1)
    codes = [r for r in (f"{n:06d}" for n in range(5930, 5930 + 60))]
    tickers_file = tmp_path / "tickers.txt"
    tickers_file.write_text("\n".join(codes))
    out = tmp_path / "rows.csv"
    env = process_env(sim.base_url, tmp_path / "cache")
    args = ["-f", str(tickers_file), "--no-batch", "--rate", "20", "-o", str(out)]
    process = _spawn(args, env)
    deadline = time.monotonic() + 20
    while sim.stats()["accepted"].get(KEY, 0) < 15 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    first = rows_of(out.read_text())
    assert 0 < len(first) < len(codes)

    resumed = _spawn([*args, "--resume"], env)
    _, stderr = resumed.communicate(timeout=60)
    assert resumed.returncode in (0, 1), stderr
    text = out.read_text()
    assert text.count("symbol,exchange") == 1
    rows = rows_of(text)
    symbols = [r["symbol"] for r in rows]
    assert len(symbols) == len(set(symbols))
    failed = {
        line.split(": ")[1] for line in stderr.splitlines() if "not found" in line
    }
    assert set(symbols) | failed == set(codes)


def test_bare_and_explicit_symbol_written_once(sim, tmp_path) -> None:
    result = run(
        ["--format", "csv", "AAPL", "NAS:AAPL"], base_url=sim.base_url, cache=tmp_path
    )
    assert result.exit_code == 0, result.output
    assert [r["symbol"] for r in rows_of(result.stdout)] == ["AAPL"]
    assert "skipped 1 duplicate symbol," in result.stderr
    assert "already" not in result.stderr


def test_empty_file_named_in_error(sim, tmp_path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n")
    result = run(["-f", str(empty)], base_url=sim.base_url, cache=tmp_path)
    assert result.exit_code == 2, result.output
    assert f"no tickers in {empty}" in result.stderr


def test_stdin_dash_keeps_its_place(sim, tmp_path) -> None:
    result = run(
        ["--format", "csv", "-", "000660"],
        base_url=sim.base_url,
        cache=tmp_path,
        input="005930\n",
    )
    assert result.exit_code == 0, result.output
    assert [r["symbol"] for r in rows_of(result.stdout)] == ["005930", "000660"]


def test_guessed_table_layout_is_noted(sim, tmp_path) -> None:
    table = tmp_path / "nh.csv"
    table.write_text("name,price\nSamsung,005930\nHynix,000660\n")
    result = run(
        ["--format", "csv", "-f", str(table)], base_url=sim.base_url, cache=tmp_path
    )
    assert result.exit_code == 0, result.output
    assert [r["symbol"] for r in rows_of(result.stdout)] == ["005930", "000660"]
    assert "tickers from column 2 (price)" in result.stderr
    quiet = run(
        ["--format", "csv", "-q", "-f", str(table)],
        base_url=sim.base_url,
        cache=tmp_path,
    )
    assert quiet.stderr == ""


def test_tsv_extension_writes_tabs_and_resumes(sim, tmp_path) -> None:
    out = tmp_path / "prices.tsv"
    first = run(["005930", "-o", str(out)], base_url=sim.base_url, cache=tmp_path)
    assert first.exit_code == 0, first.output
    again = run(
        ["005930", "000660", "-o", str(out), "--resume"],
        base_url=sim.base_url,
        cache=tmp_path,
    )
    assert again.exit_code == 0, again.output
    lines = out.read_text().splitlines()
    assert lines[0] == "\t".join(PRICE_COLUMNS)
    assert [line.split("\t")[0] for line in lines[1:]] == ["005930", "000660"]


def test_dev_stdout_appends_to_redirect(sim, tmp_path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("earlier line\n")
    env = process_env(sim.base_url, tmp_path / "cache")
    with log.open("a") as stdout:
        finished = subprocess.run(
            [sys.executable, "-m", "kis_fetch", "prices", "005930", "-q",
             "-o", "/dev/stdout"],
            env={**os.environ, **env}, stdout=stdout, stderr=subprocess.PIPE,
            text=True, timeout=60, check=False,
        )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier line"
    assert lines[1] == ",".join(PRICE_COLUMNS)
    assert lines[2].startswith("005930,")


def test_replaced_file_keeps_its_mode(sim, tmp_path) -> None:
    out = tmp_path / "prices.csv"
    out.write_text("old\n")
    out.chmod(0o640)
    result = run(["005930", "-o", str(out)], base_url=sim.base_url, cache=tmp_path)
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("symbol,")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_plain_run_into_locked_file_is_refused(sim, tmp_path) -> None:
    from kis_fetch.output import OutputLock

    out = tmp_path / "prices.csv"
    out.write_text("kept\n")
    lock = OutputLock(out, tmp_path / "locks")
    try:
        result = run(["005930", "-o", str(out)], base_url=sim.base_url, cache=tmp_path)
    finally:
        lock.release()
    assert result.exit_code == 2, result.output
    assert "another kis-fetch run is writing" in result.stderr
    assert out.read_text() == "kept\n"


def test_second_resume_into_one_file_is_refused(sim, tmp_path) -> None:
    from kis_fetch.output import OutputLock

    out = tmp_path / "prices.csv"
    lock = OutputLock(out, tmp_path / "locks")
    try:
        result = run(
            ["005930", "-o", str(out), "--resume"],
            base_url=sim.base_url,
            cache=tmp_path,
        )
    finally:
        lock.release()
    assert result.exit_code == 2, result.output
    assert "another kis-fetch run is writing" in result.stderr
    assert sim.stats()["requests_total"] == 0
    after = run(
        ["005930", "-o", str(out), "--resume"], base_url=sim.base_url, cache=tmp_path
    )
    assert after.exit_code == 0, after.output


def test_class_share_dot_uses_kis_spelling(sim, tmp_path) -> None:
    out = tmp_path / "rows.csv"
    result = run(
        ["BRK.B", "NYS:BRK-B", "-o", str(out)], base_url=sim.base_url, cache=tmp_path
    )
    assert result.exit_code == 0, result.output
    rows = rows_of(out.read_text())
    assert [(r["symbol"], r["exchange"]) for r in rows] == [("BRK/B", "NYS")]
    assert rows[0]["name"] == "버크셔 해서웨이 B주"

    resumed = run(
        ["BRK.B", "NAS:AAPL", "-o", str(out), "--resume"],
        base_url=sim.base_url,
        cache=tmp_path,
    )
    assert resumed.exit_code == 0, resumed.output
    rows = rows_of(out.read_text())
    assert [r["symbol"] for r in rows] == ["BRK/B", "AAPL"]
    assert "skipped 1 already in the file," in resumed.stderr


def test_class_share_not_found_hints(sim, tmp_path) -> None:
    listed = run(
        ["--format", "csv", "NAS:BRK.B"], base_url=sim.base_url, cache=tmp_path
    )
    assert listed.exit_code == 1
    assert "NAS:BRK.B: not found; did you mean NYS:BRK/B?" in listed.stderr

    guessed = run(
        ["--format", "csv", "BRK.B"],
        base_url=sim.base_url,
        cache=tmp_path,
        masters=False,
    )
    assert guessed.exit_code == 1
    assert (
        "BRK.B: not found on NAS, NYS, AMS; KIS lists class shares with '/', "
        "so try BRK/B" in guessed.stderr
    )


def test_output_to_device_keeps_device(sim, tmp_path) -> None:
    result = run(
        ["--format", "csv", "005930", "-o", "/dev/null"],
        base_url=sim.base_url,
        cache=tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert Path("/dev/null").is_char_device()


def test_output_through_symlink_keeps_link(sim, tmp_path) -> None:
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    result = run(["005930", "-o", str(link)], base_url=sim.base_url, cache=tmp_path)
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert target.read_text().startswith("symbol,")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "missing-folder/x.csv"], "does not exist"),
        (["-o", "."], "it is a folder"),
        (["--rate", "inf"], "--rate"),
        (["--timeout", "0"], "--timeout"),
        (["-o", "prices.xlsx"], "pass --format"),
        (["--rate", "1e-9"], "use at least one request a minute"),
    ],
)
def test_bad_paths_and_numbers_exit_2(sim, tmp_path, args, message) -> None:
    result = run(["005930", *args], base_url=sim.base_url, cache=tmp_path)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert sim.stats()["requests_total"] == 0


def test_missing_master_folder_warns(sim, tmp_path) -> None:
    result = run(
        ["--format", "csv", "005930", "--master-dir", str(tmp_path / "nowhere")],
        base_url=sim.base_url,
        cache=tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert "master folder" in result.stderr
    assert "not found" in result.stderr
