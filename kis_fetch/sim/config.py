"""Simulator settings: the `SimConfig` dataclass and parsers for its CLI forms."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Flavor = Literal["real", "paper"]

FAULT_KINDS: tuple[str, ...] = ("html502", "drop", "hang", "egw00002")
"""Fault kinds: a non-JSON 502 page, a socket closed without a response, a
request held for `hang_seconds` and then closed without a response, and a JSON
500 with msg_cd EGW00002."""

DEFAULT_RATE_LIMIT: dict[str, int] = {"real": 20, "paper": 1}

# TCP port numbers are 16-bit, and port 0 lets the operating system pick a free one.
MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class KeySpec:
    """An app key the simulator accepts, with its secret and server flavor."""

    appkey: str
    appsecret: str = field(repr=False)
    flavor: Flavor


@dataclass(slots=True)
class SimConfig:
    """Settings of one simulator instance; `/_sim/config` changes them live."""

    master_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    flavor: Flavor = "real"
    # Accepted requests per key in any 1-second window; None means the
    # flavor's default, and 0 or a negative value disables the limit.
    rate_limit: int | None = None
    # Delay before responding, applied after the rate-limit check: a uniform
    # draw from [latency_min, latency_max] seconds.
    latency_min: float = 0.0
    latency_max: float = 0.0
    # Delay drawn uniformly from [0, arrival_jitter] seconds before a request
    # is counted, which models network jitter between client and gateway.
    arrival_jitter: float = 0.0
    token_lifetime: float = 86400.0
    # A token request inside this many seconds after an issuance returns the
    # same token while it is still valid (KIS uses 6 hours).
    same_token_window: float = 6 * 3600.0
    # Minimum seconds between two token responses for one app key.
    issuance_interval: float = 60.0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    hang_seconds: float = 60.0
    seed: int = 0
    # Registered keys; when empty, any appkey with a non-empty appsecret is a
    # key of the server's own flavor, bound to the first secret it presents.
    keys: tuple[KeySpec, ...] = ()
    # App keys whose next token request gets EGW00133 whatever the timing.
    refuse_next_issuance: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self.master_dir = Path(self.master_dir)
        validate(self)

    @property
    def effective_rate_limit(self) -> int:
        """Accepted requests per key per second, 0 when unlimited."""
        if self.rate_limit is None:
            return DEFAULT_RATE_LIMIT[self.flavor]
        return max(self.rate_limit, 0)

    def replace(self, **changes: Any) -> SimConfig:
        """Return a copy with `changes` applied and checked."""
        return dataclasses.replace(self, **changes)


def validate(config: SimConfig) -> None:
    """Raise ValueError when a setting is out of range."""
    if not 0 <= config.port <= MAX_PORT:
        raise ValueError(
            f"invalid port {config.port}: use 1 to {MAX_PORT}, or 0 for a free port"
        )
    if config.flavor not in ("real", "paper"):
        raise ValueError(f"invalid flavor {config.flavor!r}: use real or paper")
    if config.latency_min < 0 or config.latency_max < config.latency_min:
        raise ValueError(
            f"invalid latency range {config.latency_min}-{config.latency_max}: "
            "use non-negative seconds with min <= max"
        )
    if config.arrival_jitter < 0:
        raise ValueError(f"invalid arrival jitter {config.arrival_jitter}: use >= 0")
    if not 0.0 <= config.fault_rate <= 1.0:
        raise ValueError(f"invalid fault rate {config.fault_rate}: use 0..1")
    unknown = [kind for kind in config.fault_kinds if kind not in FAULT_KINDS]
    if unknown or not config.fault_kinds:
        raise ValueError(
            f"invalid fault kinds {list(config.fault_kinds)}: "
            f"choose one or more of {', '.join(FAULT_KINDS)}"
        )
    for name in ("token_lifetime", "same_token_window", "issuance_interval"):
        if getattr(config, name) < 0:
            raise ValueError(f"invalid {name} {getattr(config, name)}: use >= 0")
    if config.hang_seconds < 0:
        raise ValueError(f"invalid hang_seconds {config.hang_seconds}: use >= 0")


def parse_latency(text: str) -> tuple[float, float]:
    """Parse "0.05" or a uniform range "0.05-0.2" into (min, max) seconds."""
    parts = text.strip().split("-")
    try:
        if len(parts) == 1:
            value = float(parts[0])
            return value, value
        if len(parts) == 2:
            return float(parts[0]), float(parts[1])
    except ValueError:
        pass
    raise ValueError(f"invalid latency {text!r}: use SECONDS or MIN-MAX, e.g. 0.05-0.2")


def parse_key(text: str, default_flavor: Flavor) -> KeySpec:
    """Parse "KEY:SECRET" or "KEY:SECRET:real|paper" into a KeySpec."""
    parts = text.split(":")
    if len(parts) == 2 and parts[0] and parts[1]:
        return KeySpec(parts[0], parts[1], default_flavor)
    if len(parts) == 3 and parts[0] and parts[1] and parts[2] in ("real", "paper"):
        flavor: Flavor = "real" if parts[2] == "real" else "paper"
        return KeySpec(parts[0], parts[1], flavor)
    # The message names only the text before the first colon, because the
    # rest may be the secret.
    raise ValueError(
        f"invalid key {parts[0]!r}: use KEY:SECRET or KEY:SECRET:real|paper"
    )


def parse_fault_kinds(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of fault kinds."""
    return tuple(kind.strip() for kind in text.split(",") if kind.strip())
