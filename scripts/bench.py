"""Measure kis-fetch against the rate limit, beside common client patterns.

Starts the simulator in its own process on a free loopback port and runs each
scenario on real KOSPI/KOSDAQ codes from the master files. Every approach uses
its own app key, so the simulator's per-key counters show each one's throttled
responses and busiest one-second window. Approaches in one scenario run at the
same time. Prints a Markdown report; `--write` also saves it to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiometer
import httpx
from aiolimiter import AsyncLimiter

from kis_fetch.sim.state import SlidingWindowLimiter

ROOT = Path(__file__).resolve().parents[1]
PRICE_PATH = "/uapi/domestic-stock/v1/quotations/inquire-price"
PRICE_TR = "FHKST01010100"
SECRET = "bench-secret"


@dataclass
class Result:
    name: str
    wall: float
    requests: int
    throttled: int
    lost: int
    busiest: int
    rate: float

    @property
    def ratio(self) -> float:
        """Wall time over the physical limit, rows / rate."""
        rows = self.requests - self.throttled if self.requests else 0
        return self.wall / (max(rows, 1) / self.rate)

    def row(self) -> str:
        return (
            f"| {self.name} | {self.wall:.1f} | {self.requests} | {self.throttled} "
            f"| {self.lost} | {self.busiest} | {self.ratio:.3f} |"
        )


READING_HEADING = "## Reading the results"
HEADER = (
    "| approach | wall s | requests | throttled | rows lost | busiest 1 s window "
    "| wall / (rows / rate) |\n|---|---|---|---|---|---|---|"
)


class Simulator:
    """`kis-fetch sim` in a child process."""

    def __init__(self, data: Path, *args: str) -> None:
        command = [sys.executable, "-m", "kis_fetch.sim", "--port", "0",
                   "--master-dir", str(data), *args]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.process.kill()
            raise SystemExit(f"bench: the simulator did not start: {line!r}")
        self.base_url = line.removeprefix("listening on ")

    def stats(self) -> dict[str, Any]:
        response = httpx.get(self.base_url + "/_sim/stats")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def key_stats(self, key: str) -> dict[str, int]:
        """Return one app key's data requests, throttled responses and busiest
        one-second window of arrivals."""
        stats = self.stats()
        accepted = int(stats["accepted"].get(key, 0))
        throttled = int(stats["throttled"].get(key, 0))
        return {
            "requests": accepted + throttled,
            "throttled": throttled,
            "busiest_window": int(stats["peak_arrivals_per_second"].get(key, 0)),
        }

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def load_codes(data: Path, count: int) -> list[str]:
    from kis_fetch.masters import MasterIndex

    index = MasterIndex.load(data)
    codes = [r.symbol for r in index.records(["kospi", "kosdaq"]) if r.type == "stock"]
    if len(codes) < count:
        raise SystemExit(f"bench: only {len(codes)} stock codes in {data}")
    return codes[:count]


async def issue_token(client: httpx.AsyncClient, base_url: str, key: str) -> str:
    response = await client.post(
        base_url + "/oauth2/tokenP",
        json={"grant_type": "client_credentials", "appkey": key, "appsecret": SECRET},
    )
    token: str = response.json()["access_token"]
    return token


def headers(key: str, token: str) -> dict[str, str]:
    return {
        "authorization": f"Bearer {token}",
        "appkey": key,
        "appsecret": SECRET,
        "tr_id": PRICE_TR,
        "custtype": "P",
    }


async def fetch_one(
    client: httpx.AsyncClient, base_url: str, head: dict[str, str], code: str
) -> bool:
    """Send one price request; True when it returned a row (no retry)."""
    try:
        response = await client.get(
            base_url + PRICE_PATH,
            params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code},
            headers=head,
        )
    except httpx.HTTPError:
        return False
    return response.json().get("rt_cd") == "0"


async def run_gather(
    base_url: str, key: str, codes: list[str], rate: float
) -> tuple[float, int]:
    """(a) AsyncLimiter(rate, 1) + asyncio.gather, as many clients do."""
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        head = headers(key, await issue_token(client, base_url, key))
        limiter = AsyncLimiter(rate, 1)
        start = time.perf_counter()

        async def limited(code: str) -> bool:
            async with limiter:
                return await fetch_one(client, base_url, head, code)

        results = await asyncio.gather(*(limited(code) for code in codes))
        return time.perf_counter() - start, sum(results)


async def run_aiometer(
    base_url: str, key: str, codes: list[str], rate: float
) -> tuple[float, int]:
    """(b) aiometer.run_all(max_per_second=rate, max_at_once=5)."""
    async with httpx.AsyncClient(timeout=30) as client:
        head = headers(key, await issue_token(client, base_url, key))
        start = time.perf_counter()
        jobs = [partial(fetch_one, client, base_url, head, code) for code in codes]
        results = await aiometer.run_all(jobs, max_per_second=rate, max_at_once=5)
        return time.perf_counter() - start, sum(results)


async def run_bare(
    base_url: str, key: str, codes: list[str], workers: int
) -> tuple[float, int]:
    """Run a bare httpx + asyncio loop: `workers` tasks draining a list, no limiter."""
    limits = httpx.Limits(max_connections=workers)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        head = headers(key, await issue_token(client, base_url, key))
        pending = list(reversed(codes))
        ok = 0
        start = time.perf_counter()

        async def worker() -> None:
            nonlocal ok
            while pending:
                found = await fetch_one(client, base_url, head, pending.pop())
                ok += found

        await asyncio.gather(*(worker() for _ in range(workers)))
        return time.perf_counter() - start, ok


def client_env(key: str, base_url: str, cache: str) -> dict[str, str]:
    """Return the environment for a kis-fetch child process."""
    return {
        **os.environ,
        "KIS_APP_KEY": key,
        "KIS_APP_SECRET": SECRET,
        "KIS_BASE_URL": base_url,
        "KIS_FETCH_CACHE_DIR": cache,
    }


def run_kis_fetch(
    base_url: str, key: str, codes: list[str], *extra: str
) -> tuple[float, int, dict[str, str], int]:
    """Run the real CLI; return wall seconds, exit code, summary fields and
    peak RSS in KiB."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rows.csv"
        env = client_env(key, base_url, folder)
        command = [sys.executable, "-m", "kis_fetch", "prices", "-", "-o", str(out),
                   *extra]  # fmt: skip
        start = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert process.stdin is not None and process.stderr is not None
        process.stdin.write("\n".join(codes))
        process.stdin.close()
        stderr = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        rows = 0
        if out.exists():
            with out.open(encoding="utf-8") as stream:
                rows = sum(1 for _ in csv.DictReader(stream))
        else:
            print(f"bench: kis-fetch wrote no rows: {stderr.strip()[-500:]}")
    summary = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    return (
        wall,
        process.returncode,
        {"summary": summary, "rows": str(rows)},
        usage.ru_maxrss,
    )


def server_result(
    sim: Simulator,
    name: str,
    key: str,
    wall: float,
    wanted: int,
    rows: int,
    rate: float,
) -> Result:
    stats = sim.key_stats(key)
    return Result(
        name=name,
        wall=wall,
        requests=int(stats.get("requests", 0)),
        throttled=int(stats.get("throttled", 0)),
        lost=wanted - rows,
        busiest=int(stats.get("busiest_window", 0)),
        rate=rate,
    )


def parse_rate(summary: str) -> float:
    """Return the requests/s figure from kis-fetch's summary line."""
    marker = summary.rfind("(")
    return float(summary[marker + 1 :].split("/s")[0]) if marker >= 0 else 0.0


def rejected_share(rate: float, jitter: float, limit: int, sends: int) -> float:
    """Share of evenly spaced sends the simulator's window rejects under
    uniform arrival jitter, by replaying seeded arrivals through it."""
    rng = random.Random(7)
    arrivals = sorted(i / rate + rng.uniform(0.0, jitter) for i in range(sends))
    window = SlidingWindowLimiter()
    rejected = sum(not window.try_acquire("k", t, limit) for t in arrivals)
    return rejected / sends


def jitter_bound(limit: int, jitter: float, budget: float) -> float:
    """Return the highest even send rate, in steps of 0.05/s, whose rejected
    share stays within `budget`. Even spacing is the best schedule here: a
    request is rejected when the one 20 places earlier arrives less than 1 s
    before it, and that chance is convex in the gap between their sends."""
    rate = float(limit)
    while rate > 0.5 and rejected_share(rate, jitter, limit, 40_000) > budget:
        rate -= 0.05
    return rate


async def paced_scenario(
    data: Path, codes: list[str], rate: float, jitter: float, title: str
) -> list[str]:
    sim = Simulator(data, "--rate-limit", str(int(rate)), "--latency", "1-2",
                    "--arrival-jitter", str(jitter))  # fmt: skip
    try:
        gather_task = asyncio.create_task(
            run_gather(sim.base_url, "bench-a", codes, rate)
        )
        meter_task = asyncio.create_task(
            run_aiometer(sim.base_url, "bench-b", codes, rate)
        )
        kis = asyncio.to_thread(
            run_kis_fetch, sim.base_url, "bench-c", codes, "--no-batch",
            "--rate", str(rate), "-q",
        )  # fmt: skip
        (
            (wall_c, code_c, info_c, _),
            (wall_a, ok_a),
            (wall_b, ok_b),
        ) = await asyncio.gather(kis, gather_task, meter_task)
        results = [
            server_result(sim, "(a) AsyncLimiter(20, 1) + gather", "bench-a",
                          wall_a, len(codes), ok_a, rate),
            server_result(sim, "(b) aiometer max_per_second=20, max_at_once=5",
                          "bench-b", wall_b, len(codes), ok_b, rate),
            server_result(sim, "(c) kis-fetch", "bench-c", wall_c, len(codes),
                          int(info_c["rows"]), rate),
        ]  # fmt: skip
    finally:
        sim.stop()
    kis_result = results[2]
    physical = len(codes) / rate
    lines = [
        f"### {title}",
        "",
        HEADER,
        *(result.row() for result in results),
        "",
        f"kis-fetch: exit code {code_c}, {kis_result.wall:.1f} s against a physical "
        f"limit of {physical:.1f} s (requests / rate), wall / physical "
        f"{kis_result.wall / physical:.3f}, wall / (1.03 x physical + 2 s latency) "
        f"{kis_result.wall / (1.03 * physical + 2):.3f}, throttled "
        f"{100 * kis_result.throttled / max(kis_result.requests, 1):.2f}% of "
        f"requests, {kis_result.lost} rows lost.",
        "",
    ]
    if jitter > 0:
        best = jitter_bound(int(rate), jitter, 0.01)
        floor = len(codes) / best + 1.0
        lines += [
            f"Under uniform arrival jitter of 0-{jitter * 1000:.0f} ms, no "
            "evenly spaced sender keeps rejections within 1% above "
            f"{best:.2f} requests/s (replayed through the simulator's window), "
            f"so this run needs at least {floor:.1f} s: {len(codes)} / "
            f"{best:.2f} plus the shortest latency, 1 s. That floor is "
            f"{floor / physical:.3f} times the physical limit; kis-fetch took "
            f"{kis_result.wall / floor:.3f} times the floor.",
            "",
        ]
    return lines


def batching_scenario(data: Path, codes: list[str]) -> list[str]:
    sim = Simulator(data, "--latency", "0.05")
    try:
        wall, code, info, _ = run_kis_fetch(sim.base_url, "bench-batch", codes, "-q")
        stats = sim.key_stats("bench-batch")
    finally:
        sim.stop()
    return [
        "### Multi-symbol domestic quotes (real server)",
        "",
        f"{len(codes)} domestic symbols: {stats.get('requests', '?')} requests "
        f"(target: at most {math.ceil(len(codes) / 30)}), {info['rows']} rows, "
        f"{wall:.1f} s, exit code {code}.",
        "",
    ]


async def overhead_scenario(
    data: Path, codes: list[str], workers: int, rounds: int = 3
) -> list[str]:
    # The simulator and the client share two cores, so single runs vary by a
    # third, so alternating rounds and taking medians compares like with like.
    sim = Simulator(data, "--rate-limit", "0")
    bare_rates: list[float] = []
    kis_rates: list[float] = []
    codes_exit: list[int] = []
    try:
        for round_number in range(rounds):
            wall_bare, ok_bare = await run_bare(
                sim.base_url, f"bench-bare-{round_number}", codes, workers
            )
            bare_rates.append(ok_bare / wall_bare)
            _, code, info, _ = await asyncio.to_thread(
                run_kis_fetch, sim.base_url, f"bench-over-{round_number}", codes,
                "--no-batch", "--rate", "1000000", "--concurrency", str(workers),
            )  # fmt: skip
            kis_rates.append(parse_rate(info["summary"]))
            codes_exit.append(code)
    finally:
        sim.stop()
    bare_rate = statistics.median(bare_rates)
    kis_rate = statistics.median(kis_rates)
    return [
        "### Client overhead (limit lifted, zero latency)",
        "",
        f"{len(codes)} requests, {workers} in flight, {rounds} alternating rounds, "
        f"medians. Bare httpx + asyncio loop: {bare_rate:.0f} requests/s "
        f"({', '.join(f'{r:.0f}' for r in bare_rates)}). kis-fetch: "
        f"{kis_rate:.0f} requests/s while fetching "
        f"({', '.join(f'{r:.0f}' for r in kis_rates)}; exit codes "
        f"{', '.join(map(str, codes_exit))}). Ratio {kis_rate / bare_rate:.2f} "
        "(target at least 0.80).",
        "",
    ]


def history_scenario(data: Path, codes: list[str]) -> list[str]:
    """Ten years of daily bars for `codes` at 20/s with 50 ms latency."""
    sim = Simulator(data, "--rate-limit", "20", "--latency", "0.05")
    key = "bench-history"
    try:
        with tempfile.TemporaryDirectory() as folder:
            env = client_env(key, sim.base_url, folder)
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "kis_fetch", "history", *codes,
                 "--start", "2016-12-01", "--end", "2026-11-30", "--rate", "20",
                 "-o", str(Path(folder) / "bars.csv")],
                env=env, capture_output=True, text=True,
            )  # fmt: skip
            wall = time.perf_counter() - start
        stats = sim.key_stats(key)
    finally:
        sim.stop()
    pages = stats["requests"]
    return [
        "### History (10 years of daily bars, limit 20/s, latency 50 ms)",
        "",
        f"{len(codes)} symbols: {pages} pages in {wall:.1f} s, "
        f"{stats['throttled']} throttled, exit code {done.returncode}. "
        f"Physical limit {pages / 20:.1f} s (pages / rate); wall / physical = "
        f"{wall / (pages / 20):.3f}.",
        "",
    ]


def startup_scenario() -> list[str]:
    lines = ["### Start-up", ""]
    for flag in ("--help", "--version"):
        probe = (
            "import sys; sys.argv = ['kis-fetch', '" + flag + "']\n"
            "from kis_fetch.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "verdict = 'imported' if 'httpx' in sys.modules else 'not imported'\n"
            "print('httpx', verdict, file=sys.stderr)"
        )
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True
        )
        elapsed = time.perf_counter() - start
        verdict = done.stderr.strip().splitlines()[-1]
        lines.append(f"- `kis-fetch {flag}`: {elapsed * 1000:.0f} ms, {verdict}.")
    lines.append("")
    return lines


def memory_scenario(data: Path, codes: list[str]) -> list[str]:
    synthetic = [f"{n:06d}" for n in range(100_000)]
    sim = Simulator(data, "--rate-limit", "0")
    lines = ["### Peak memory (limit lifted, zero latency)", ""]
    try:
        for label, tickers in (("1,000", codes[:1000]), ("100,000", synthetic)):
            wall, code, info, rss = run_kis_fetch(
                sim.base_url, f"bench-mem-{len(tickers)}", tickers, "--no-batch",
                "--rate", "1000000", "--concurrency", "32", "-q",
            )  # fmt: skip
            lines.append(
                f"- {label} symbols: peak RSS {rss / 1024:.1f} MiB, {wall:.1f} s, "
                f"{info['rows']} rows, exit code {code}."
            )
    finally:
        sim.stop()
    lines.append("")
    return lines


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--count", type=int, default=1000,
                        help="requests per paced scenario")  # fmt: skip
    parser.add_argument("--write", action="store_true",
                        help="also write docs/benchmarks.md")  # fmt: skip
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    data = args.data.resolve()
    codes = load_codes(data, max(args.count, 2400))

    report = [
        "# Benchmarks",
        "",
        f"Produced by `make bench` (`python scripts/bench.py --count {args.count}`) "
        f"on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}. The simulator "
        "runs in its own process on 127.0.0.1; each approach uses its own app key "
        "and the simulator counts per key. Rows lost are requests that never "
        "produced a row.",
        "",
    ]
    report += await paced_scenario(
        data, codes[: args.count], 20, 0.0,
        "Limit 20/s, latency 1-2 s, no jitter, single-symbol requests",
    )  # fmt: skip
    report += await paced_scenario(
        data, codes[: args.count], 20, 0.1,
        "Limit 20/s, latency 1-2 s, arrival jitter up to 100 ms",
    )  # fmt: skip
    report += batching_scenario(data, codes[:2000])
    report += await overhead_scenario(data, codes[:2400], 64)
    report += history_scenario(data, codes[:20])
    report += startup_scenario()
    if not args.skip_memory:
        report += memory_scenario(data, codes)
    text = "\n".join(report)
    print(text)
    if args.write:
        # The hand-written reading below the measurements is kept.
        target = ROOT / "docs" / "benchmarks.md"
        target.parent.mkdir(exist_ok=True)
        old = target.read_text() if target.exists() else ""
        marker = old.find(READING_HEADING)
        reading = "\n" + old[marker:] if marker >= 0 else ""
        target.write_text(text + "\n" + reading)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
