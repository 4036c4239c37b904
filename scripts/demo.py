"""Run kis-fetch on the real KOSPI and KOSDAQ stock lists through the simulator.

Starts `kis-fetch sim` on a free loopback port, pipes
`kis-fetch symbols kospi kosdaq --type stock --format plain` plus a few US
symbols into `kis-fetch prices -`, writes out/demo-prices.csv, checks that
every symbol has a row, and prints a summary with the simulator's counters.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
US_SYMBOLS = ["AAPL", "MSFT", "IBM", "SPY", "NAS:NVDA", "NYS:KO", "AMS:SCHD"]


def start_simulator(data: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kis_fetch.sim",
            "--port",
            "0",
            "--master-dir",
            str(data),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening on "):
        process.kill()
        raise SystemExit(f"demo: the simulator did not start: {line!r}")
    return process, line.removeprefix("listening on ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--output", type=Path, default=ROOT / "out" / "demo-prices.csv")
    args = parser.parse_args()
    data = args.data.resolve()
    if not (data / "krx").is_dir():
        raise SystemExit(f"demo: no master files in {data}: pass --data DIR")
    args.output.parent.mkdir(parents=True, exist_ok=True)

    simulator, base_url = start_simulator(data)
    try:
        with tempfile.TemporaryDirectory() as cache:
            env = {
                **os.environ,
                "KIS_APP_KEY": "DEMO-APP-KEY",
                "KIS_APP_SECRET": "demo-app-secret",
                "KIS_BASE_URL": base_url,
                "KIS_FETCH_CACHE_DIR": cache,
                "KIS_FETCH_MASTER_DIR": str(data),
            }
            kis_fetch = [sys.executable, "-m", "kis_fetch"]
            symbols = subprocess.run(
                [*kis_fetch, "symbols", "kospi", "kosdaq", "--type", "stock",
                 "--format", "plain"],
                env=env, check=True, capture_output=True, text=True,
            ).stdout.split()  # fmt: skip
            wanted = symbols + US_SYMBOLS
            print(f"demo: {len(symbols)} KOSPI and KOSDAQ stocks and "
                  f"{len(US_SYMBOLS)} US symbols via {base_url}")  # fmt: skip
            result = subprocess.run(
                [*kis_fetch, "prices", "-", "-o", str(args.output)],
                env=env, input="\n".join(wanted), text=True,
            )  # fmt: skip
        with urllib.request.urlopen(base_url + "/_sim/stats") as response:
            stats = json.load(response)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)

    with args.output.open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    keys = {row["symbol"] for row in rows} | {
        f"{row['exchange']}:{row['symbol']}" for row in rows
    }
    lost = [symbol for symbol in wanted if symbol not in keys]
    print(f"demo: wrote {len(rows)} rows to {args.output}")
    for row in rows[:3] + rows[-3:]:
        print(f"  {row['symbol']:>8} {row['exchange']:<4} {row['price']:>12} "
              f"{row['change_pct']:>7}%  {row['name']}")  # fmt: skip
    throttled = int(stats["throttled_total"])
    requests = int(stats["accepted_total"]) + throttled
    print(f"demo: simulator saw {requests} data requests, "
          f"{throttled} throttled (EGW00201), {len(lost)} rows lost")  # fmt: skip
    if lost:
        print(f"demo: missing rows for {', '.join(lost[:20])}")
    return 0 if result.returncode == 0 and not lost and not throttled else 1


if __name__ == "__main__":
    raise SystemExit(main())
