"""Request routing and the KIS gateway behaviour in front of the endpoints.

A data call passes these steps in order: arrival jitter, arrival counting,
credential checks (appkey, appsecret, token, custtype, key flavor), the
per-key rate limit, latency, fault injection, tr_id check, and the endpoint.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import random
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kis_fetch.sim import endpoints, errors
from kis_fetch.sim.admin import AdminMixin
from kis_fetch.sim.catalog import Catalog
from kis_fetch.sim.config import KeySpec, SimConfig
from kis_fetch.sim.http import Request, Response, json_response
from kis_fetch.sim.quotes import domestic_today, us_today
from kis_fetch.sim.state import SlidingWindowLimiter, Stats, TokenStore, kst_text

log = logging.getLogger("kis_fetch.sim")

Clock = Callable[[], float]
Endpoint = Callable[[Catalog, dict[str, str], endpoints.MarketDates], endpoints.Result]


@dataclass(frozen=True, slots=True)
class Route:
    """A quotation path: its tr_id, handler and whether paper serves it."""

    tr_id: str
    endpoint: Endpoint
    paper: bool = True


ROUTES: dict[str, Route] = {
    "/uapi/domestic-stock/v1/quotations/inquire-price": Route(
        "FHKST01010100", endpoints.inquire_price
    ),
    "/uapi/domestic-stock/v1/quotations/intstock-multprice": Route(
        "FHKST11300006", endpoints.intstock_multprice, paper=False
    ),
    "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice": Route(
        "FHKST03010100", endpoints.domestic_history
    ),
    "/uapi/overseas-price/v1/quotations/price": Route(
        "HHDFS00000300", endpoints.overseas_price
    ),
    "/uapi/overseas-price/v1/quotations/dailyprice": Route(
        "HHDFS76240000", endpoints.overseas_history
    ),
}

VALID_CUSTTYPES = frozenset({"P", "B"})


class SimApp(AdminMixin):
    """The simulator's request handler and all of its state."""

    def __init__(
        self, config: SimConfig, catalog: Catalog, clock: Clock = time.time
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.clock = clock
        self.rng = random.Random(config.seed)
        self.limiter = SlidingWindowLimiter()
        self.tokens = TokenStore()
        self.stats = Stats()
        # Secrets bound to keys that were not registered up front: the first
        # secret a key presents becomes its secret.
        self.bound_secrets: dict[str, str] = {}
        self._gt_uids = itertools.count(1)
        self._zips: dict[str, bytes] = {}

    async def handle(self, request: Request) -> Response | None:
        """Route one request; None closes the connection without a response."""
        path = request.path
        self.stats.requests[path] += 1
        if path.startswith("/_sim/"):
            return self.handle_admin(request)
        if path.startswith("/common/master/"):
            return self._master_zip(path.removeprefix("/common/master/"))
        if path == "/oauth2/tokenP" and request.method == "POST":
            return self._issue_token(request)
        if path == "/oauth2/revokeP" and request.method == "POST":
            return self._revoke_token(request)
        route = ROUTES.get(path)
        if route is None or request.method != "GET":
            self.stats.errors[errors.SERVICE_NOT_FOUND[0]] += 1
            return errors.kis_error(*errors.SERVICE_NOT_FOUND, status=404)
        return await self._data_call(request, route)

    # Keys and secrets

    def _key_spec(self, appkey: str) -> KeySpec | None:
        """Return the registered key, or an open-mode key bound on first use."""
        for spec in self.config.keys:
            if spec.appkey == appkey:
                return spec
        if self.config.keys:
            return None
        secret = self.bound_secrets.get(appkey)
        if secret is None:
            return None
        return KeySpec(appkey, secret, self.config.flavor)

    def _check_key(self, appkey: str, appsecret: str) -> tuple[str, str] | None:
        """Return the error for a key pair at token time, or None when valid."""
        if not appkey:
            return errors.APPKEY_MISSING
        if not appsecret:
            return errors.APPSECRET_MISSING
        spec = self._key_spec(appkey)
        if spec is None:
            if self.config.keys:
                return errors.APPKEY_INVALID
            self.bound_secrets[appkey] = appsecret
            return None
        if spec.appsecret != appsecret:
            return errors.APPSECRET_INVALID
        return None

    # Token endpoints

    def _issue_token(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._token_error(errors.INVALID_GRANT)
        if body.get("grant_type") != "client_credentials":
            return self._token_error(errors.INVALID_GRANT)
        appkey = str(body.get("appkey") or "")
        problem = self._check_key(appkey, str(body.get("appsecret") or ""))
        if problem is not None:
            return self._token_error(problem)

        now = self.clock()
        refused = appkey in self.config.refuse_next_issuance
        if refused:
            self.config.refuse_next_issuance = self.config.refuse_next_issuance - {
                appkey
            }
        if refused or self.tokens.too_soon(appkey, now, self.config.issuance_interval):
            self.stats.token_too_soon[appkey] += 1
            return self._token_error(errors.TOKEN_TOO_SOON)

        token, is_new = self.tokens.issue(
            appkey, now, self.config.token_lifetime, self.config.same_token_window
        )
        if is_new:
            self.stats.tokens_issued[appkey] += 1
        else:
            self.stats.tokens_reused[appkey] += 1
        return json_response(
            200,
            {
                "access_token": token.value,
                "access_token_token_expired": kst_text(token.expires_at),
                "token_type": "Bearer",
                "expires_in": max(int(token.expires_at - now), 0),
            },
        )

    def _revoke_token(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._token_error(errors.INVALID_GRANT)
        appkey = str(body.get("appkey") or "")
        problem = self._check_key(appkey, str(body.get("appsecret") or ""))
        if problem is not None:
            return self._token_error(problem)
        value = str(body.get("token") or "")
        token = self.tokens.by_value.get(value)
        if token is None or token.appkey != appkey or token.revoked:
            return self._token_error(errors.INVALID_TOKEN)
        self.tokens.revoke(value)
        if self.tokens.latest.get(appkey) is token:
            del self.tokens.latest[appkey]
        self.stats.revocations += 1
        return json_response(
            200, {"code": 200, "message": "접근토큰 폐기에 성공하였습니다"}
        )

    def _token_error(self, problem: tuple[str, str]) -> Response:
        self.stats.errors[problem[0]] += 1
        return errors.token_error(*problem)

    # Data calls

    def _check_data_call(self, request: Request, now: float) -> tuple[str, str] | None:
        """Return the gateway error for a data call, or None when it may pass."""
        headers = request.headers
        appkey = headers.get("appkey", "")
        appsecret = headers.get("appsecret", "")
        if not appkey:
            return errors.APPKEY_MISSING
        if not appsecret:
            return errors.APPSECRET_MISSING
        spec = self._key_spec(appkey)
        if spec is None and self.config.keys:
            return errors.APPKEY_INVALID

        authorization = headers.get("authorization", "").strip()
        scheme, _, value = authorization.partition(" ")
        if not authorization:
            return errors.INVALID_TOKEN
        if scheme.lower() != "bearer":
            return errors.NOT_BEARER
        token = self.tokens.by_value.get(value.strip())
        if token is None or token.revoked or token.appkey != appkey:
            return errors.INVALID_TOKEN
        if not token.is_valid(now):
            return errors.EXPIRED_TOKEN

        if spec is not None and spec.flavor != self.config.flavor:
            if self.config.flavor == "real":
                return errors.PAPER_KEY_ON_REAL
            return errors.REAL_KEY_ON_PAPER
        if spec is not None and spec.appsecret != appsecret:
            return errors.CUSTOMER_KEY_INVALID
        if headers.get("custtype", "") not in VALID_CUSTTYPES:
            return errors.CUSTTYPE_INVALID
        return None

    async def _data_call(self, request: Request, route: Route) -> Response | None:
        config = self.config
        if config.arrival_jitter > 0:
            await asyncio.sleep(self.rng.uniform(0.0, config.arrival_jitter))
        now = self.clock()
        appkey = request.headers.get("appkey", "")
        tr_id = request.headers.get("tr_id", "")
        self.stats.arrivals.record(appkey, now)
        problem = self._check_data_call(request, now)
        if problem is not None:
            return self._data_error(problem, tr_id)
        if not self.limiter.try_acquire(appkey, now, config.effective_rate_limit):
            self.stats.throttled[appkey] += 1
            return self._data_error(errors.THROTTLED, tr_id)
        self.stats.accepted[appkey] += 1
        if config.latency_max > 0:
            delay = self.rng.uniform(config.latency_min, config.latency_max)
            await asyncio.sleep(delay)
        if config.fault_rate > 0 and self.rng.random() < config.fault_rate:
            return await self._inject_fault(tr_id)
        if tr_id != route.tr_id:
            return self._data_error(errors.UNKNOWN_TR_ID, tr_id)
        if not route.paper and config.flavor == "paper":
            return self._data_error(errors.NOT_PAPER_TR, tr_id)
        dates = endpoints.MarketDates(domestic_today(now), us_today(now))
        status, payload = route.endpoint(self.catalog, request.query, dates)
        if status != 200:
            self.stats.errors[str(payload.get("msg_cd", ""))] += 1
        return json_response(status, payload, self._kis_headers(tr_id))

    def _kis_headers(self, tr_id: str) -> list[tuple[str, str]]:
        return [
            ("tr_id", tr_id),
            ("tr_cont", "D"),
            ("gt_uid", f"SIM{next(self._gt_uids):029d}"),
        ]

    def _data_error(self, problem: tuple[str, str], tr_id: str) -> Response:
        if problem is not errors.THROTTLED:
            self.stats.errors[problem[0]] += 1
        response = errors.kis_error(*problem)
        response.headers.extend(self._kis_headers(tr_id))
        return response

    async def _inject_fault(self, tr_id: str) -> Response | None:
        kind = self.rng.choice(self.config.fault_kinds)
        self.stats.faults[kind] += 1
        if kind == "html502":
            body = (
                b"<html><head><title>502 Bad Gateway</title></head><body>"
                b"<center><h1>502 Bad Gateway</h1></center></body></html>"
            )
            return Response(502, body, [("content-type", "text/html")])
        if kind == "drop":
            return None
        if kind == "hang":
            # The connection closes without a response once the hang ends.
            await asyncio.sleep(self.config.hang_seconds)
            return None
        return self._data_error(errors.SERVER_ERROR, tr_id)

    # Master files

    def _master_zip(self, name: str) -> Response:
        """Serve <master file>.zip like the KIS public download, without auth."""
        member = name.lower().removesuffix(".zip")
        path = self.catalog.master_files.get(member)
        if not name.lower().endswith(".zip") or path is None:
            return Response(404, b"not found\n", [("content-type", "text/plain")])
        data = self._zips.get(member)
        if data is None:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.write(path, arcname=path.name)
            data = buffer.getvalue()
            self._zips[member] = data
        return Response(200, data, [("content-type", "application/zip")])

    def config_summary(self) -> dict[str, Any]:
        """Return the live settings as a JSON-ready dict."""
        config = self.config
        return {
            "flavor": config.flavor,
            "rate_limit": config.effective_rate_limit,
            "latency_min": config.latency_min,
            "latency_max": config.latency_max,
            "arrival_jitter": config.arrival_jitter,
            "token_lifetime": config.token_lifetime,
            "same_token_window": config.same_token_window,
            "issuance_interval": config.issuance_interval,
            "fault_rate": config.fault_rate,
            "fault_kinds": list(config.fault_kinds),
            "hang_seconds": config.hang_seconds,
            "seed": config.seed,
            "keys": [spec.appkey for spec in config.keys],
            "refuse_next_issuance": sorted(config.refuse_next_issuance),
            "master_dir": str(config.master_dir),
        }
