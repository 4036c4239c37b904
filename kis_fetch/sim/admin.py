"""Admin endpoints under /_sim/ for tests and benchmarks; KIS has no such paths.

- GET  /_sim/stats           counters (see `Stats.snapshot`) and live settings
- POST /_sim/reset           clear counters and rate windows; with
                             {"tokens": true} also forget tokens and secrets
- POST /_sim/config          change settings; body fields as in `apply_changes`
- POST /_sim/expire-tokens   expire every issued token now
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kis_fetch.sim.config import SimConfig, parse_fault_kinds, parse_latency
from kis_fetch.sim.http import Request, Response, json_response

if TYPE_CHECKING:
    from kis_fetch.sim.state import SlidingWindowLimiter, Stats, TokenStore


NUMBER_FIELDS = (
    "latency_min",
    "latency_max",
    "arrival_jitter",
    "token_lifetime",
    "same_token_window",
    "issuance_interval",
    "fault_rate",
    "hang_seconds",
)


def apply_changes(config: SimConfig, changes: dict[str, Any]) -> SimConfig:
    """Return `config` with JSON `changes` applied; raise ValueError if invalid.

    Plain fields: flavor, latency_min, latency_max, arrival_jitter,
    token_lifetime, same_token_window, issuance_interval, fault_rate,
    hang_seconds and seed. `rate_limit` takes null for the flavor default.
    `latency` takes "0.05", "0.05-0.2", a number or [min, max].
    `fault_kinds` takes a list or a comma-separated string.
    `refuse_next_issuance` takes an app key or a list of them, and adds them
    to the keys whose next token request gets EGW00133.
    """
    updates: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "latency":
            if isinstance(value, list) and len(value) == 2:
                low, high = float(value[0]), float(value[1])
            else:
                low, high = parse_latency(str(value))
            updates["latency_min"], updates["latency_max"] = low, high
        elif name in NUMBER_FIELDS:
            updates[name] = float(value)
        elif name == "rate_limit":
            updates[name] = None if value is None else int(value)
        elif name == "seed":
            updates[name] = int(value)
        elif name == "flavor":
            updates[name] = str(value)
        elif name == "fault_kinds":
            kinds = value if isinstance(value, list) else parse_fault_kinds(str(value))
            updates[name] = tuple(str(kind) for kind in kinds)
        elif name == "refuse_next_issuance":
            keys = value if isinstance(value, list) else [value]
            updates[name] = config.refuse_next_issuance | {str(key) for key in keys}
        else:
            raise ValueError(f"unknown setting {name!r}")
    if "latency_min" in updates and "latency_max" not in updates:
        updates["latency_max"] = max(updates["latency_min"], config.latency_max)
    return config.replace(**updates)


class AdminMixin:
    """Admin request handling for `SimApp`."""

    config: SimConfig
    clock: Callable[[], float]
    rng: random.Random
    limiter: SlidingWindowLimiter
    tokens: TokenStore
    stats: Stats
    bound_secrets: dict[str, str]

    def config_summary(self) -> dict[str, Any]:
        raise NotImplementedError

    def handle_admin(self, request: Request) -> Response:
        action = request.path.removeprefix("/_sim/")
        if action == "stats" and request.method == "GET":
            return json_response(200, self.stats_payload())
        if request.method != "POST":
            return json_response(404, {"error": f"unknown admin path {request.path}"})
        try:
            body = request.json()
        except ValueError as exc:
            return json_response(400, {"error": f"invalid JSON body: {exc}"})
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return json_response(400, {"error": "the body must be a JSON object"})
        if action == "reset":
            self.reset(tokens=bool(body.get("tokens", False)))
            return json_response(200, {"reset": True})
        if action == "config":
            try:
                self.configure(body)
            except (ValueError, TypeError) as exc:
                return json_response(400, {"error": str(exc)})
            return json_response(200, self.config_summary())
        if action == "expire-tokens":
            return json_response(200, {"expired": self.tokens.expire_all(self.clock())})
        return json_response(404, {"error": f"unknown admin path {request.path}"})

    def stats_payload(self) -> dict[str, Any]:
        payload = self.stats.snapshot(self.limiter)
        payload["config"] = self.config_summary()
        return payload

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply setting changes; raise ValueError and keep the old settings."""
        new_config = apply_changes(self.config, changes)
        if "seed" in changes:
            self.rng = random.Random(new_config.seed)
        self.config = new_config

    def reset(self, tokens: bool = False) -> None:
        """Clear counters and rate windows, and optionally all token state."""
        self.stats.reset()
        self.limiter.reset()
        if tokens:
            self.tokens.reset()
            self.bound_secrets.clear()
