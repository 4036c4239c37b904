"""Run settings: servers, credentials, rate and folders, resolved from flags and
environment variables."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kis_fetch.errors import ConfigError, InputError
from kis_fetch.secret import Secret

SERVERS = {
    "real": "https://openapi.koreainvestment.com:9443",
    "paper": "https://openapivts.koreainvestment.com:29443",
}

# Requests per second that KIS documents for one app key. The real figure is
# the long-standing 20/s; a 2026-04-20 KIS notice, seen only as quoted by
# third parties, lowers it to 18/s per account and paper to 1/s.
DOCUMENTED_RATE = {"real": 20.0, "paper": 1.0}
DEFAULT_RATE = DOCUMENTED_RATE


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to reach KIS; `app_secret` never prints."""

    app_key: str
    app_secret: Secret
    env: str
    base_url: str
    rate: float
    concurrency: int | None
    cache_dir: Path

    @property
    def is_paper(self) -> bool:
        return self.env == "paper"


def default_cache_dir() -> Path:
    """Return the cache folder: `KIS_FETCH_CACHE_DIR`, else the user cache folder."""
    override = os.environ.get("KIS_FETCH_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_path

    return user_cache_path("kis-fetch")


def check_base_url(url: str) -> str:
    """Validate a server URL: https anywhere, plain http only on loopback.

    Credentials travel in headers and bodies, so sending them unencrypted to a
    remote host would leak them.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"invalid server URL {url!r}: expected https://HOST[:PORT]; "
            "set --base-url or KIS_BASE_URL"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"refusing to send credentials over plain http to {parts.hostname}: "
            "use https://, or http:// only for localhost or a loopback address"
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_settings(
    *,
    env: str | None,
    base_url: str | None,
    rate: float | None,
    concurrency: int | None,
) -> Settings:
    """Build the settings from flag values (None when not given) and the
    environment, flags first."""
    env = (env or os.environ.get("KIS_ENV") or "real").lower()
    if env not in SERVERS:
        raise InputError(f"invalid server {env!r}: use --env real or --env paper")

    url = check_base_url(base_url or os.environ.get("KIS_BASE_URL") or SERVERS[env])

    app_key = os.environ.get("KIS_APP_KEY", "").strip()
    app_secret = os.environ.get("KIS_APP_SECRET", "").strip()
    missing = [
        name
        for name, value in (("KIS_APP_KEY", app_key), ("KIS_APP_SECRET", app_secret))
        if not value
    ]
    if missing:
        raise ConfigError(
            f"missing credentials: set {' and '.join(missing)} "
            "to your KIS app key and app secret"
        )

    if rate is not None and not rate > 0:
        raise InputError(f"invalid --rate {rate}: use a positive number of requests/s")
    if concurrency is not None and concurrency < 1:
        raise InputError(f"invalid --concurrency {concurrency}: use 1 or more")

    return Settings(
        app_key=app_key,
        app_secret=Secret(app_secret),
        env=env,
        base_url=url,
        rate=rate if rate is not None else DEFAULT_RATE[env],
        concurrency=concurrency,
        cache_dir=default_cache_dir(),
    )
