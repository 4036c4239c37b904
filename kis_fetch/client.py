"""One KIS quotation request, with its faults sorted by msg_cd and transport.

Fault classes (decided by the body's msg_cd, never by HTTP status alone):

- EGW00201: the per-key rate limit; the rate controller pauses and the
  request goes back through the limiter.
- EGW00121, EGW00123: invalid or expired token; one shared replacement, then
  the request is retried.
- Timeouts, dropped connections, non-JSON responses, EGW00001/00002 and the
  gateway timeouts EGW00301/00302: bounded retries with exponential backoff
  and jitter.
- Rejected credentials or a key on the wrong server: ConfigError, which
  stops the run.
- Any other rt_cd other than "0": ApiError for that request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from kis_fetch.auth import TokenManager
from kis_fetch.config import Settings
from kis_fetch.errors import ApiError, ConfigError
from kis_fetch.limiter import RateController

log = logging.getLogger(__name__)

THROTTLED = "EGW00201"
TOKEN_REJECTED = frozenset({"EGW00121", "EGW00122", "EGW00123"})
TRANSIENT = frozenset({"EGW00001", "EGW00002", "EGW00202", "EGW00203", "EGW00300",
                       "EGW00301", "EGW00302"})  # fmt: skip
CREDENTIALS_REJECTED = frozenset({"EGW00102", "EGW00103", "EGW00104", "EGW00105",
                                  "EGW00304", "EGW00003", "EGW00004", "EGW00206",
                                  "EGW02004"})  # fmt: skip
PAPER_TR_MISSING = "모의투자 TR"

MAX_TRANSIENT_RETRIES = 5
MAX_THROTTLE_RETRIES = 100
BACKOFF_BASE = 0.25
BACKOFF_MAX = 8.0


@dataclass
class RequestStats:
    """Counters for the summary line and the rate report."""

    requests: int = 0
    retries: int = 0
    transient_faults: int = 0
    token_replacements: int = 0
    latency_sum: float = 0.0
    latency_count: int = 0
    recent_latency: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def record_latency(self, seconds: float) -> None:
        self.latency_sum += seconds
        self.latency_count += 1
        # Exponential moving average, weighted so slow phases show up quickly.
        if self.recent_latency == 0.0:
            self.recent_latency = seconds
        else:
            self.recent_latency += (seconds - self.recent_latency) * 0.2


class KisClient:
    """Sends GET quotation requests through the limiter with retries."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        tokens: TokenManager,
        rate: RateController,
    ) -> None:
        self._http = http
        self._settings = settings
        self._tokens = tokens
        self.rate = rate
        self.stats = RequestStats()
        self._base_headers = {
            "content-type": "application/json; charset=utf-8",
            "appkey": settings.app_key,
            "appsecret": settings.app_secret.reveal(),
            "custtype": "P",
        }

    async def get(
        self, path: str, tr_id: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """Return the body of a successful (rt_cd "0") response."""
        url = self._settings.base_url + path
        transient = 0
        throttled = 0
        while True:
            slot = await self.rate.acquire()
            # Take the token after the limiter wait, which can outlast a
            # short-lived token.
            token = await self._tokens.token()
            headers = {
                **self._base_headers,
                "authorization": f"Bearer {token.reveal()}",
                "tr_id": tr_id,
            }
            started = time.monotonic()
            self.stats.requests += 1
            try:
                response = await self._http.get(
                    url,
                    params=params,
                    headers=headers,
                    extensions={"trace": slot.trace},
                )
            except httpx.TransportError as exc:
                transient += 1
                reason = type(exc).__name__
                await self._back_off(transient, f"{reason} on {path}")
                continue
            elapsed = time.monotonic() - started
            self.stats.record_latency(elapsed)
            log.info("GET %s %s %d %.3fs", path, tr_id, response.status_code, elapsed)

            body = _json_body(response)
            if body is None:
                transient += 1
                await self._back_off(
                    transient, f"HTTP {response.status_code} without JSON on {path}"
                )
                continue

            msg_cd = str(body.get("msg_cd") or body.get("error_code") or "")
            if str(body.get("rt_cd")) == "0":
                self.rate.record_success()
                self._tokens.confirm(token)
                return body

            message = str(body.get("msg1") or body.get("error_description") or "")
            if msg_cd == THROTTLED:
                throttled += 1
                self.rate.record_throttle()
                if throttled > MAX_THROTTLE_RETRIES:
                    raise ApiError(
                        f"still rate-limited after {throttled} tries (EGW00201)",
                        msg_cd=msg_cd,
                    )
                self.stats.retries += 1
                continue
            if msg_cd in TOKEN_REJECTED:
                self.stats.token_replacements += 1
                await self._tokens.replace(token)
                continue
            if msg_cd in TRANSIENT:
                transient += 1
                await self._back_off(transient, f"{msg_cd} {message} on {path}")
                continue
            if msg_cd in CREDENTIALS_REJECTED or PAPER_TR_MISSING in message:
                raise _credentials_error(msg_cd, message, self._settings)
            raise ApiError(
                f"KIS error {msg_cd or response.status_code}: {message}".strip(),
                msg_cd=msg_cd,
                status=response.status_code,
            )

    async def _back_off(self, attempt: int, reason: str) -> None:
        self.stats.transient_faults += 1
        if attempt > MAX_TRANSIENT_RETRIES:
            raise ApiError(f"failed after {attempt} tries: {reason}")
        delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1))
        delay *= 0.5 + random.random()
        self.stats.retries += 1
        log.debug("retry %d in %.2f s: %s", attempt, delay, reason)
        await asyncio.sleep(delay)


def _json_body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _credentials_error(msg_cd: str, message: str, settings: Settings) -> ConfigError:
    other = "real" if settings.is_paper else "paper"
    if PAPER_TR_MISSING in message:
        fix = "this request is not offered on the paper server; " + (
            "pass --no-batch, or use a real-server key with --env real"
            if settings.is_paper
            else "the server is a paper server: use --env paper"
        )
    elif msg_cd == "EGW02004" or "모의투자" in message or "실전투자" in message:
        fix = f"the app key belongs to the {other} server: use --env {other}"
    elif msg_cd in ("EGW00104", "EGW00105", "EGW00304"):
        fix = "check KIS_APP_SECRET"
    elif msg_cd in ("EGW00102", "EGW00103"):
        fix = "check KIS_APP_KEY"
    else:
        fix = "check the app key's permissions on the KIS portal"
    return ConfigError(f"KIS rejected the request ({msg_cd} {message}): {fix}")
