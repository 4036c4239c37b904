import asyncio

from kis_fetch.models import Ticker
from kis_fetch.pipeline import Job, Outcome, Pipeline
from kis_fetch.prices import build_jobs
from kis_fetch.runner import skip_done


def tickers(*symbols: str) -> list[Ticker]:
    return [
        Ticker(symbol, "KRX" if symbol[0].isdigit() else "NAS") for symbol in symbols
    ]


def test_build_jobs_batches_domestic_in_thirties() -> None:
    items = tickers(*(f"{n:06d}" for n in range(65)))
    jobs = list(build_jobs(items, 30, window=1000))
    assert [len(job.items) for job in jobs] == [30, 30, 5]
    assert [index for job in jobs for index, _ in job.items] == list(range(65))


def test_build_jobs_overseas_alone() -> None:
    items = tickers("005930", "AAPL", "000660", "MSFT")
    jobs = list(build_jobs(items, 30, window=1000))
    assert [[t.symbol for _, t in job.items] for job in jobs] == [
        ["AAPL"],
        ["MSFT"],
        ["005930", "000660"],
    ]


def test_build_jobs_flushes_old_batch() -> None:
    items = tickers("005930", *(f"SYM{n}" for n in range(10)))
    jobs = list(build_jobs(items, 30, window=8))
    assert jobs[3].items == [(0, items[0])]


def test_skip_done_matches_bare_us_symbols() -> None:
    items = [Ticker("005930", "KRX"), Ticker("AAPL", None), Ticker("IBM", "NYS")]
    kept, skipped = skip_done(items, {("005930", "KRX"), ("AAPL", "NAS")})
    assert kept == [Ticker("IBM", "NYS")]
    assert skipped == 2


async def test_pipeline_emits_in_input_order() -> None:
    items = tickers(*(f"{n:06d}" for n in range(40)))

    async def handler(job: Job) -> list[Outcome[str]]:
        index, ticker = job.items[0]
        await asyncio.sleep((40 - index) * 0.0005)
        return [Outcome(index, ticker, rows=[ticker.symbol])]

    emitted: list[int] = []
    pipeline: Pipeline[str] = Pipeline(
        handler, lambda outcome: emitted.append(outcome.index), workers=8, window=16
    )
    completed = await pipeline.run(build_jobs(items, 1, 16), grace=1)
    assert completed
    assert emitted == list(range(40))


async def test_pipeline_stop_flushes_finished_rows() -> None:
    items = tickers(*(f"{n:06d}" for n in range(100)))
    started = asyncio.Event()

    async def handler(job: Job) -> list[Outcome[str]]:
        index, ticker = job.items[0]
        if index == 0:
            started.set()
            await asyncio.sleep(10)
        return [Outcome(index, ticker)]

    emitted: list[int] = []
    pipeline: Pipeline[str] = Pipeline(
        handler, lambda outcome: emitted.append(outcome.index), workers=4, window=50
    )
    run = asyncio.create_task(pipeline.run(build_jobs(items, 1, 50), grace=0.05))
    await started.wait()
    await asyncio.sleep(0.01)
    pipeline.stop()
    completed = await run
    assert not completed
    assert 0 not in emitted
    assert emitted == sorted(emitted)
    assert len(emitted) > 0


async def test_pipeline_fatal_error_stops_run() -> None:
    items = tickers(*(f"{n:06d}" for n in range(20)))

    async def handler(job: Job) -> list[Outcome[str]]:
        raise RuntimeError("boom")

    pipeline: Pipeline[str] = Pipeline(
        handler, lambda outcome: None, workers=2, window=8
    )
    completed = await pipeline.run(build_jobs(items, 1, 8), grace=0.1)
    assert not completed
    assert isinstance(pipeline.fatal, RuntimeError)


def test_concurrency_follows_latency() -> None:
    from kis_fetch.session import AUTO_CONCURRENCY_CAP, desired_concurrency

    assert desired_concurrency(20, 0.05) == 4
    assert desired_concurrency(20, 1.0) == 32
    assert desired_concurrency(20, 2.0) == 62
    assert desired_concurrency(20, 60.0) == AUTO_CONCURRENCY_CAP
