"""Mutable simulator state: rate windows, access tokens and counters.

Every class here takes its time as an argument, so tests drive the logic
with a fake clock and no sockets.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

KST = timezone(timedelta(hours=9))
WINDOW_SECONDS = 1.0


class SlidingWindowLimiter:
    """Per-key sliding one-second window over accepted request arrivals.

    A request arriving at time t is rejected when the key already has `limit`
    accepted arrivals in (t - 1 s, t]. Rejected arrivals do not enter the
    window, so a client that keeps retrying is not punished further.
    """

    def __init__(self) -> None:
        self._accepted: dict[str, deque[float]] = defaultdict(deque)
        self.peak: dict[str, int] = {}

    def try_acquire(self, key: str, now: float, limit: int) -> bool:
        """Record an arrival and return False when it exceeds `limit`."""
        window = self._accepted[key]
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        if limit > 0 and len(window) >= limit:
            return False
        window.append(now)
        if len(window) > self.peak.get(key, 0):
            self.peak[key] = len(window)
        return True

    def reset(self) -> None:
        self._accepted.clear()
        self.peak.clear()


class PeakRate:
    """Maximum number of events per key in any sliding one-second interval."""

    def __init__(self) -> None:
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self.peak: dict[str, int] = {}

    def record(self, key: str, now: float) -> None:
        events = self._events[key]
        while events and events[0] <= now - WINDOW_SECONDS:
            events.popleft()
        events.append(now)
        if len(events) > self.peak.get(key, 0):
            self.peak[key] = len(events)

    def reset(self) -> None:
        self._events.clear()
        self.peak.clear()


@dataclass(slots=True)
class Token:
    """An issued access token and the key it belongs to."""

    value: str
    appkey: str
    issued_at: float
    expires_at: float
    revoked: bool = False

    def is_valid(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at


def kst_text(timestamp: float) -> str:
    """Format a Unix time as KST wall time "YYYY-MM-DD HH:MM:SS", no zone."""
    moment = datetime.fromtimestamp(timestamp, UTC).astimezone(KST)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class TokenStore:
    """Issued tokens, the latest token per key and per-key issuance times."""

    def __init__(self) -> None:
        self.by_value: dict[str, Token] = {}
        self.latest: dict[str, Token] = {}
        self.last_response: dict[str, float] = {}

    def too_soon(self, appkey: str, now: float, interval: float) -> bool:
        """Return True when `appkey` got a token less than `interval` s ago."""
        last = self.last_response.get(appkey)
        return last is not None and now - last < interval

    def issue(
        self, appkey: str, now: float, lifetime: float, same_token_window: float
    ) -> tuple[Token, bool]:
        """Return the key's current token or a new one, and whether it is new.

        A request within `same_token_window` seconds of the latest issuance
        gets that same token back while it is still valid.
        """
        self.last_response[appkey] = now
        current = self.latest.get(appkey)
        if (
            current is not None
            and current.is_valid(now)
            and now - current.issued_at < same_token_window
        ):
            return current, False
        token = Token(
            value=secrets.token_urlsafe(48),
            appkey=appkey,
            issued_at=now,
            expires_at=now + lifetime,
        )
        self.by_value[token.value] = token
        self.latest[appkey] = token
        return token, True

    def revoke(self, value: str) -> Token | None:
        token = self.by_value.get(value)
        if token is not None:
            token.revoked = True
        return token

    def expire_all(self, now: float) -> int:
        """Mark every unexpired token as expired and return how many changed."""
        changed = 0
        for token in self.by_value.values():
            if token.expires_at > now:
                token.expires_at = now
                changed += 1
        return changed

    def reset(self) -> None:
        self.by_value.clear()
        self.latest.clear()
        self.last_response.clear()


@dataclass(slots=True)
class Stats:
    """Counters exposed by `GET /_sim/stats`.

    Per-key counters and peaks cover data calls and use the appkey header.
    Peaks are the max number of arrivals (or accepted requests) inside any
    sliding one-second interval.
    """

    requests: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    tokens_issued: Counter[str] = field(default_factory=Counter)
    tokens_reused: Counter[str] = field(default_factory=Counter)
    token_too_soon: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    revocations: int = 0
    connections: int = 0
    arrivals: PeakRate = field(default_factory=PeakRate)

    def reset(self) -> None:
        for counter in (
            self.requests,
            self.accepted,
            self.throttled,
            self.tokens_issued,
            self.tokens_reused,
            self.token_too_soon,
            self.errors,
            self.faults,
        ):
            counter.clear()
        self.revocations = 0
        self.connections = 0
        self.arrivals.reset()

    def snapshot(self, limiter: SlidingWindowLimiter) -> dict[str, Any]:
        """Return the counters as a JSON-ready dict."""
        return {
            "requests_total": sum(self.requests.values()),
            "requests": dict(self.requests),
            "accepted_total": sum(self.accepted.values()),
            "accepted": dict(self.accepted),
            "throttled_total": sum(self.throttled.values()),
            "throttled": dict(self.throttled),
            "tokens_issued": dict(self.tokens_issued),
            "tokens_reused": dict(self.tokens_reused),
            "token_too_soon_total": sum(self.token_too_soon.values()),
            "token_too_soon": dict(self.token_too_soon),
            "revocations": self.revocations,
            "errors": dict(self.errors),
            "faults_total": sum(self.faults.values()),
            "faults": dict(self.faults),
            "connections": self.connections,
            "peak_arrivals_per_second": dict(self.arrivals.peak),
            "peak_accepted_per_second": dict(limiter.peak),
        }
