import asyncio

import pytest

from kis_fetch.limiter import (
    BURST_DECREASE,
    MIN_RATE_FRACTION,
    PAUSE_SECONDS,
    SPACING_MARGIN,
    THROTTLE_DECREASE,
    WINDOW_MARGIN,
    RateController,
    SharedSchedule,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_sends_never_closer_than_spacing() -> None:
    loop = asyncio.get_running_loop()
    controller = RateController(400)
    sent: list[float] = []

    async def worker() -> None:
        for _ in range(8):
            await controller.acquire()
            sent.append(loop.time())

    await asyncio.gather(*(worker() for _ in range(5)))
    gaps = [later - earlier for earlier, later in zip(sent, sent[1:], strict=False)]
    assert len(sent) == 40
    # The loop clock has sub-microsecond resolution; allow for float rounding.
    assert min(gaps) >= SPACING_MARGIN / 400 - 1e-6


async def test_no_initial_burst() -> None:
    loop = asyncio.get_running_loop()
    controller = RateController(200)
    start = loop.time()
    await asyncio.gather(*(controller.acquire() for _ in range(11)))
    # A bucket of capacity 200 would let all 11 go at once.
    assert loop.time() - start >= 10 * SPACING_MARGIN / 200 - 1e-6


def test_late_send_delays_one_window_later() -> None:
    clock = FakeClock()
    controller = RateController(10, clock=clock)
    window = 10 * WINDOW_MARGIN / 10
    slots = []
    for _ in range(10):
        slots.append(controller.plan_send())
        clock.now += 0.101
    # The first request's headers went out 30 ms after its planned time.
    clock.now = 1000.03
    asyncio.run(slots[1].trace("http11.connection.connect_tcp.started", {}))
    assert slots[1].time == pytest.approx(1000.101)
    asyncio.run(slots[0].trace("http11.send_request_headers.started", {}))
    assert slots[0].time == pytest.approx(1000.03)
    clock.now = 1000.0 + window
    eleventh = controller.plan_send()
    assert eleventh.time == pytest.approx(1000.03 + window)
    twelfth = controller.plan_send()
    assert twelfth.time == pytest.approx(slots[1].time + window)


def test_throttle_lowers_rate_once_per_burst() -> None:
    clock = FakeClock()
    controller = RateController(20, clock=clock)
    controller.record_throttle()
    controller.record_throttle()
    controller.record_throttle()
    assert controller.throttled == 3
    assert controller.rate == pytest.approx(20 * THROTTLE_DECREASE)


def test_throttles_in_consecutive_seconds_drop_faster() -> None:
    clock = FakeClock()
    controller = RateController(20, clock=clock)
    controller.record_throttle()
    clock.now += PAUSE_SECONDS + 0.01
    controller.record_throttle()
    assert controller.rate == pytest.approx(20 * THROTTLE_DECREASE * BURST_DECREASE)


def test_throttle_pauses_all_workers() -> None:
    clock = FakeClock()
    controller = RateController(20, clock=clock)
    controller.record_throttle()
    assert controller._paused_until == pytest.approx(clock.now + PAUSE_SECONDS)


def test_rate_recovers_after_clean_seconds() -> None:
    clock = FakeClock()
    controller = RateController(20, clock=clock)
    controller.record_throttle()
    lowered = controller.rate
    clock.now += PAUSE_SECONDS + 0.5
    controller.record_success()
    assert controller.rate == lowered
    clock.now += 0.6
    controller.record_success()
    assert controller.rate > lowered
    for _ in range(2000):
        clock.now += 1.01
        controller.record_success()
    assert controller.rate == 20


def test_rate_never_exceeds_configured() -> None:
    clock = FakeClock()
    controller = RateController(5, clock=clock)
    for _ in range(50):
        clock.now += 2
        controller.record_success()
    assert controller.rate == 5


def test_rate_floor_after_many_throttles() -> None:
    clock = FakeClock()
    controller = RateController(20, clock=clock)
    for _ in range(100):
        clock.now += PAUSE_SECONDS + 0.01
        controller.record_throttle()
    assert controller.rate == pytest.approx(20 * MIN_RATE_FRACTION)
    assert controller.lowest_rate == pytest.approx(20 * MIN_RATE_FRACTION)


def test_rate_recovers_after_competitor_leaves() -> None:
    clock = FakeClock()
    controller = RateController(20, clock=clock)
    # Rejections while another client shares the key push the rate down.
    for _ in range(9):
        clock.now += 1.5
        controller.record_throttle()
    assert controller.rate < 13
    seconds = 0
    while controller.rate < 20 and seconds < 60:
        clock.now += 1.0
        seconds += 1
        controller.record_success()
    assert controller.rate == 20
    assert seconds <= 20


async def test_stop_cancels_waiting_acquire() -> None:
    controller = RateController(20)
    controller.record_throttle()
    # The pause after EGW00201 delays this acquire, and stop must not wait it out.
    waiting = asyncio.create_task(controller.acquire())
    await asyncio.sleep(0)
    controller.stop()
    await asyncio.sleep(0)
    assert waiting.cancelled()
    with pytest.raises(asyncio.CancelledError):
        await controller.acquire()


def test_rejects_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateController(0)


def test_shared_schedule_spaces_processes(tmp_path) -> None:
    clock = FakeClock()
    first = SharedSchedule(tmp_path / "slot", clock=clock)
    second = SharedSchedule(tmp_path / "slot", clock=clock)
    assert first.reserve(0.1, 0.2) == (True, 0)
    assert second.reserve(0.1, 0.2) == (True, pytest.approx(0.1))
    assert first.reserve(0.1, 0.2) == (True, pytest.approx(0.2))
    clock.now += 1.0
    assert second.reserve(0.1, 0.2) == (True, 0)
    first.close()
    second.close()


def test_shared_schedule_reserves_little_ahead(tmp_path) -> None:
    clock = FakeClock()
    schedule = SharedSchedule(tmp_path / "slot", clock=clock)
    for _ in range(3):
        assert schedule.reserve(0.1, 0.2)[0]
    granted, wait = schedule.reserve(0.1, 0.2)
    assert not granted
    assert wait == pytest.approx(0.1)
    clock.now += wait
    assert schedule.reserve(0.1, 0.2) == (True, pytest.approx(0.2))
    clock.now -= 3600
    assert schedule.reserve(0.1, 0.2) == (True, 0)
    schedule.close()
