"""Request pacing under KIS's per-key limit.

KIS counts request arrivals per app key in a sliding one-second window and
rejects the excess with EGW00201. A bucket that lets `rate` requests go at
once would put up to twice the limit into one window, so requests leave one
at a time, at least `1 / rate` seconds apart: an aiolimiter leaky bucket with
a capacity of one.

Spacing alone assumes that requests arrive as evenly as they leave. A request
whose headers go out late (a new connection, a busy event loop) arrives late,
and the request `n` places after it would then share its one-second window
with `n` others. Each send is therefore also held until one window after the
request `n` places before it actually went out, with `n` the rate rounded down.

On EGW00201 every worker pauses together, the rate drops, and it climbs back
after clean seconds, never above the configured rate. A shared schedule file
extends the spacing across processes that use the same key.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import math
import os
import struct
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiolimiter import AsyncLimiter

log = logging.getLogger(__name__)

# Spacing is kept this much wider than 1/rate: requests that leave exactly at
# the limit land on the boundary of the server's window and are rejected at
# random, depending on scheduling noise.
SPACING_MARGIN = 1.01
# The hold after a late send keeps only this margin: the spacing margin above
# already absorbs small delays, and each hold shifts every later send in its
# chain, so a wide margin here would compound into a lower rate.
WINDOW_MARGIN = 1.002

# Adaptation to EGW00201, tuned against the simulator with 100 ms of arrival
# jitter (make bench): a small multiplicative drop and a short shared pause
# settle near the highest rate the jitter allows with few rejections.
THROTTLE_DECREASE = 0.95
BURST_DECREASE = 0.8
# The rate may fall to 2% of --rate, so a --rate far above the key's limit
# still settles below that limit.
MIN_RATE_FRACTION = 0.02
PAUSE_SECONDS = 0.15
# After a drop the rate climbs back to this fraction of the rate that was
# rejected, then probes above it by PROBE_STEP of the maximum per clean second.
RECOVERY_FRACTION = 0.97
PROBE_STEP = 0.002
# After this many clean seconds of probing, the probe step doubles each clean
# second, up to PROBE_STEP_MAX of the maximum. A rate pushed down by a client
# that has since stopped (or by a burst of rejections) then climbs back to
# --rate in seconds, while near the limit the probe stays gentle.
PROBE_PATIENCE = 4
PROBE_STEP_MAX = 0.1
# How many send intervals ahead a process may reserve a slot in the schedule
# shared with other processes on the same key.
SHARED_HORIZON_SLOTS = 2
# At very high rates two intervals are microseconds, shorter than one pass
# through the lock, so reserving this far ahead is always allowed.
MIN_SHARED_HORIZON = 0.1
# A next free slot further ahead than this was not written by a running
# process: no process reserves more than a few intervals ahead.
STALE_AHEAD_SECONDS = 60.0


class SendSlot:
    """The time one request leaves: planned by the controller, then moved to
    when its headers actually go out on the connection."""

    __slots__ = ("time", "_clock")

    def __init__(self, time: float, clock: Callable[[], float]) -> None:
        self.time = time
        self._clock = clock

    async def trace(self, event_name: str, info: dict[str, Any]) -> None:
        """Record when the request headers go out (an httpx "trace" extension)."""
        if event_name.endswith("send_request_headers.started"):
            self.time = max(self.time, self._clock())


class RateController:
    """Paces requests and adapts the rate to EGW00201 responses.

    `clock` returns seconds, by default on the event loop's clock, which
    aiolimiter also reads; tests pass a fake clock to drive the adaptation.
    """

    def __init__(
        self,
        rate: float,
        *,
        shared: SharedSchedule | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.max_rate = rate
        self.rate = rate
        self._shared = shared
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._limiter = self._new_limiter(rate)
        self._paused_until = 0.0
        self._stopped = False
        # Tasks waiting in acquire, which stop() cancels.
        self._waiting: set[asyncio.Task[object]] = set()
        self._last_decrease = float("-inf")
        self._clean_since = float("-inf")
        self._ceiling = rate
        self._clean_probes = 0
        # The last `_window_count` sends, which one window must separate from
        # the next send.
        self._window_count = max(1, math.floor(rate))
        self._window_seconds = self._window_count * WINDOW_MARGIN / rate
        self._recent: deque[SendSlot] = deque(maxlen=self._window_count)
        self.sent = 0
        self.throttled = 0
        self.lowest_rate = rate

    @property
    def interval(self) -> float:
        """Return the minimum spacing between two requests, in seconds."""
        return SPACING_MARGIN / self.rate

    def _new_limiter(self, rate: float) -> AsyncLimiter:
        return AsyncLimiter(1, SPACING_MARGIN / rate)

    def plan_send(self) -> SendSlot:
        """Return the slot for the next send: now, or one window after the
        send `n` places back, whichever is later."""
        now = self._clock()
        start = now
        if len(self._recent) == self._window_count:
            start = max(now, self._recent[0].time + self._window_seconds)
        slot = SendSlot(start, self._clock)
        self._recent.append(slot)
        return slot

    def stop(self) -> None:
        """Let no further request leave: tasks waiting in `acquire` are
        cancelled and later calls raise CancelledError, so an interrupted run
        sends nothing new while the responses already on their way come in."""
        self._stopped = True
        for task in self._waiting:
            task.cancel()

    async def acquire(self) -> SendSlot:
        """Wait until this process may send one request, and return its slot,
        whose `trace` the request should carry."""
        task = asyncio.current_task()
        if task is not None:
            self._waiting.add(task)
        try:
            return await self._acquire()
        finally:
            if task is not None:
                self._waiting.discard(task)

    async def _acquire(self) -> SendSlot:
        while True:
            if self._stopped:
                raise asyncio.CancelledError
            pause = self._paused_until - self._clock()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            await self._limiter.acquire()
            if self._clock() >= self._paused_until:
                break
        slot = self.plan_send()
        delay = slot.time - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
        while self._shared is not None:
            horizon = max(SHARED_HORIZON_SLOTS * self.interval, MIN_SHARED_HORIZON)
            granted, delay = self._shared.reserve(self.interval, horizon)
            if delay > 0:
                await asyncio.sleep(delay)
            if granted:
                break
        if self._stopped:
            raise asyncio.CancelledError
        self.sent += 1
        now = self._clock()
        if self._clean_since == float("-inf"):
            self._clean_since = now
        slot.time = max(slot.time, now)
        return slot

    def record_throttle(self) -> None:
        """Pause all workers and lower the rate after an EGW00201 response."""
        now = self._clock()
        self.throttled += 1
        self._paused_until = max(self._paused_until, now + PAUSE_SECONDS)
        self._clean_since = self._paused_until
        self._clean_probes = 0
        # Rejections from one burst arrive together; lower the rate once per burst.
        since_decrease = now - self._last_decrease
        if since_decrease < PAUSE_SECONDS:
            return
        # Rejections in consecutive seconds mean the rate is well above what
        # the server accepts (a --rate above the key's limit), so drop faster.
        factor = BURST_DECREASE if since_decrease < 1.0 else THROTTLE_DECREASE
        self._last_decrease = now
        self._ceiling = self.rate
        floor = self.max_rate * MIN_RATE_FRACTION
        self._set_rate(max(self.rate * factor, floor))
        log.info(
            "EGW00201 (rate limit): pausing %.2f s, rate now %.1f/s",
            PAUSE_SECONDS,
            self.rate,
        )

    def record_success(self) -> None:
        """Raise the rate again after each full second without EGW00201."""
        if self.rate >= self.max_rate:
            return
        now = self._clock()
        if now - self._clean_since < 1.0:
            return
        self._clean_since = now
        # Climb quickly back to just under the rate that was rejected, then
        # probe above it slowly.
        target = self._ceiling * RECOVERY_FRACTION
        step = self.max_rate * PROBE_STEP
        if self.rate >= target:
            self._clean_probes += 1
            doublings = max(0, self._clean_probes - PROBE_PATIENCE)
            step = min(step * 2**doublings, self.max_rate * PROBE_STEP_MAX)
        if self.rate < target:
            new_rate = self.rate + (target - self.rate) * 0.5 + step
        else:
            new_rate = self.rate + step
        self._set_rate(min(new_rate, self.max_rate))

    def _set_rate(self, rate: float) -> None:
        self.rate = rate
        self.lowest_rate = min(self.lowest_rate, rate)
        self._limiter = self._new_limiter(rate)


class SharedSchedule:
    """The next free send time for one app key, shared by processes through a
    locked file.

    Each request reserves a slot `interval` after the previous reservation of
    any process; the file holds one float of wall-clock seconds.
    """

    _FORMAT = struct.Struct("<d")

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._clock = clock

    def reserve(self, interval: float, horizon: float) -> tuple[bool, float]:
        """Reserve the next send slot when it is at most `horizon` seconds away.

        Returns (True, seconds until the slot), or (False, seconds until the
        next free slot comes within the horizon). Reserving only a little
        ahead keeps an interrupted process from leaving a long queue of unused
        slots, which the next run would wait out.
        """
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(self._fd, self._FORMAT.size, 0)
            next_free = self._FORMAT.unpack(raw)[0] if len(raw) == 8 else 0.0
            now = self._clock()
            if next_free - now > STALE_AHEAD_SECONDS:
                # Written before the wall clock was set back.
                next_free = now
            slot = max(now, next_free)
            if slot - now > horizon + 1e-6:
                return False, slot - now - horizon
            os.pwrite(self._fd, self._FORMAT.pack(slot + interval), 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        return True, slot - now

    def close(self) -> None:
        os.close(self._fd)
