"""Access tokens: issuance with POST /oauth2/tokenP, a disk cache shared by
every process that uses the same server and app key, and single-flight
replacement when KIS rejects a token mid-run.

KIS allows one issuance a minute per app key (EGW00133 otherwise) and, on a
real account, sends the owner a KakaoTalk message for each one, so a token is
reused across runs until it nears expiry.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from kis_fetch.config import Settings
from kis_fetch.errors import ConfigError
from kis_fetch.secret import Secret

log = logging.getLogger(__name__)

KST = timezone(timedelta(hours=9))
TOKEN_PATH = "/oauth2/tokenP"
REVOKE_PATH = "/oauth2/revokeP"

# KIS rejects a second issuance within 60 s; the extra second absorbs clock skew.
# KIS_FETCH_TOKEN_INTERVAL lowers it for simulators configured with short intervals.
DEFAULT_ISSUE_INTERVAL = 61.0
MAX_EXPIRY_MARGIN = 300.0

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class CachedToken:
    """A token with its expiry and issuance times, as epoch seconds."""

    token: Secret
    expires_at: float
    issued_at: float

    def is_fresh(self, now: float) -> bool:
        """Return True while the token is usable and not close to expiry."""
        lifetime = max(self.expires_at - self.issued_at, 0.0)
        margin = min(MAX_EXPIRY_MARGIN, lifetime * 0.1)
        return now < self.expires_at - margin


@dataclass(frozen=True)
class RevokeResult:
    """The outcome of `TokenManager.revoke`.

    `code` and `detail` describe why KIS did not revoke the token, such as
    EGW00121 for a token it no longer accepts. Both are empty on success.
    """

    had_token: bool
    revoked: bool
    code: str = ""
    detail: str = ""


def parse_kst(text: str) -> float:
    """Parse KIS's `YYYY-MM-DD HH:MM:SS` Korean wall time to epoch seconds."""
    moment = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    return moment.replace(tzinfo=KST).timestamp()


def issue_interval() -> float:
    override = os.environ.get("KIS_FETCH_TOKEN_INTERVAL")
    if override:
        try:
            return max(float(override), 0.0)
        except ValueError:
            raise ConfigError(
                f"invalid KIS_FETCH_TOKEN_INTERVAL {override!r}: use seconds, "
                "for example 61"
            ) from None
    return DEFAULT_ISSUE_INTERVAL


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically with mode 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def make_cache_dir(path: Path) -> Path:
    """Create the cache folder `path` with mode 0700 and return it.

    Missing parents are created too. Raises ConfigError naming the folder
    when it cannot be created or made private, for example because a regular
    file has its name or the parent folder is not writable.
    """
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
    except OSError as exc:
        reason = "it is a file" if path.is_file() else exc.strerror or str(exc)
        raise ConfigError(
            f"cannot use cache folder {path}: {reason}; "
            "set KIS_FETCH_CACHE_DIR to a writable folder"
        ) from None
    return path


class TokenCache:
    """The on-disk token for one (server, app key) pair, mode 0600."""

    def __init__(self, cache_dir: Path, base_url: str, app_key: str) -> None:
        digest = hashlib.sha256(f"{base_url}\n{app_key}".encode()).hexdigest()[:24]
        self.key_id = digest
        self.folder = cache_dir / "tokens"
        self.path = self.folder / f"{digest}.json"
        self.lock_path = self.folder / f"{digest}.lock"
        self.base_url = base_url

    def ensure_folder(self) -> None:
        make_cache_dir(self.folder.parent)
        make_cache_dir(self.folder)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def load(self) -> CachedToken | None:
        data = self._read()
        try:
            return CachedToken(
                token=Secret(str(data["access_token"])),
                expires_at=float(data["expires_at"]),
                issued_at=float(data["issued_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def last_issued(self) -> float:
        """Return when this key last got a token from us, or 0.0."""
        try:
            return float(self._read().get("last_issued", 0.0))
        except (TypeError, ValueError):
            return 0.0

    def save(self, token: CachedToken | None, last_issued: float) -> None:
        data: dict[str, Any] = {"server": self.base_url, "last_issued": last_issued}
        if token is not None:
            data.update(
                access_token=token.token.reveal(),
                expires_at=token.expires_at,
                issued_at=token.issued_at,
                expires_at_utc=datetime.fromtimestamp(
                    token.expires_at, UTC
                ).isoformat(),
            )
        self.ensure_folder()
        _write_private(self.path, json.dumps(data))

    def drop(self, token: Secret) -> None:
        """Forget `token` if it is still the cached one, keeping the issuance time."""
        current = self.load()
        if current is not None and current.token == token:
            self.save(None, self.last_issued())

    def clear(self) -> None:
        """Forget the cached token, keeping the issuance time for the minute rule."""
        if self.path.exists():
            self.save(None, self.last_issued())


class TokenManager:
    """Hands out a valid token to every worker; issues at most one at a time.

    `token()` is cheap while the cached token is fresh. Issuance takes an
    asyncio lock (workers of this process) and a file lock (other processes
    on the same key), then re-reads the cache before calling KIS.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        *,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self._http = http
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._on_wait = on_wait or (lambda message: log.info("%s", message))
        self._cache = TokenCache(
            settings.cache_dir, settings.base_url, settings.app_key
        )
        self._lock = asyncio.Lock()
        self._current: CachedToken | None = None
        self._unconfirmed: set[Secret] = set()
        self.issued = 0

    @property
    def cache(self) -> TokenCache:
        return self._cache

    @property
    def current(self) -> CachedToken | None:
        """The token this manager last loaded or issued."""
        return self._current

    async def token(self) -> Secret:
        """Return a fresh token, loading or issuing one when needed."""
        current = self._current
        if current is not None and current.is_fresh(self._clock()):
            return current.token
        async with self._lock:
            current = self._current
            if current is not None and current.is_fresh(self._clock()):
                return current.token
            self._current = await self._load_or_issue(rejected=None)
            return self._current.token

    def confirm(self, token: Secret) -> None:
        """Record that KIS accepted `token`."""
        self._unconfirmed.discard(token)

    async def replace(self, rejected: Secret) -> Secret:
        """Replace a token KIS rejected (EGW00121/EGW00123), once for all workers."""
        async with self._lock:
            current = self._current
            if current is not None and current.token != rejected:
                return current.token
            if rejected in self._unconfirmed:
                raise ConfigError(
                    "KIS rejected a newly issued token: check that the app key "
                    "belongs to this server (--env real or --env paper), or wait "
                    "and run again"
                )
            log.info("token rejected by KIS; issuing a new one")
            self._cache.drop(rejected)
            self._current = await self._load_or_issue(rejected=rejected)
            return self._current.token

    async def issue_now(self) -> CachedToken:
        """Issue a token even when a fresh one is cached.

        It still waits for the one-a-minute slot. Within 6 hours of the
        previous issuance KIS may return the same token again.
        """
        async with self._lock, self._key_lock():
            self._current = await self._issue()
            return self._current

    async def revoke(self) -> RevokeResult:
        """Revoke the cached token with POST /oauth2/revokeP and forget it.

        The local copy is deleted even when KIS rejects the revocation or
        cannot be reached, and the result reports which happened.
        """
        async with self._lock, self._key_lock():
            cached = self._cache.load()
            if cached is None:
                return RevokeResult(had_token=False, revoked=False)
            try:
                code, detail = await self._post_revoke(cached.token)
            finally:
                self._cache.clear()
                self._current = None
        if code:
            log.info(
                "KIS at %s did not revoke the token: %s",
                self._settings.base_url,
                detail,
            )
            return RevokeResult(had_token=True, revoked=False, code=code, detail=detail)
        log.info("revoked the token for %s", self._settings.base_url)
        return RevokeResult(had_token=True, revoked=True)

    @asynccontextmanager
    async def _key_lock(self) -> AsyncIterator[None]:
        """Hold the cross-process lock of this server and app key."""
        self._cache.ensure_folder()
        # flock belongs to the open file, not to a thread, so the executor
        # thread that waits for it and the loop thread that releases it may
        # differ.
        lock_fd = os.open(self._cache.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await asyncio.to_thread(fcntl.flock, lock_fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(lock_fd)
            raise
        try:
            yield
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)

    async def _post_revoke(self, token: Secret) -> tuple[str, str]:
        """Send the revocation and return ("", "") on success, else a code and
        a detail message."""
        payload = {
            "appkey": self._settings.app_key,
            "appsecret": self._settings.app_secret.reveal(),
            "token": token.reveal(),
        }
        url = self._settings.base_url + REVOKE_PATH
        try:
            response = await self._http.post(url, json=payload)
        except httpx.TransportError as exc:
            return "unreachable", (
                f"cannot reach KIS at {self._settings.base_url}: {type(exc).__name__}"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return f"HTTP {response.status_code}", (
                f"HTTP {response.status_code} without a JSON body"
            )
        # KIS sends `code` as the number 200 on success.
        if response.status_code == 200 and str(body.get("code", 200)) == "200":
            return "", ""
        code = str(body.get("error_code") or body.get("code") or "")
        text = str(body.get("error_description") or body.get("message") or "")
        code = code or f"HTTP {response.status_code}"
        return code, f"{code} {text}".strip()

    async def _load_or_issue(self, rejected: Secret | None) -> CachedToken:
        async with self._key_lock():
            cached = self._cache.load()
            if (
                cached is not None
                and cached.token != rejected
                and cached.is_fresh(self._clock())
            ):
                log.debug("using the cached token for %s", self._settings.base_url)
                return cached
            return await self._issue()

    async def _wait_for_issuance_slot(self) -> None:
        wait = self._cache.last_issued() + issue_interval() - self._clock()
        if wait <= 0:
            return
        if wait < 1:
            log.debug("waiting %.2f s to issue a token", wait)
        else:
            self._on_wait(
                f"waiting {wait:.0f} s to issue a token "
                "(KIS allows one issuance a minute per app key)"
            )
        await self._sleep(wait)

    async def _issue(self) -> CachedToken:
        for _ in range(2):
            await self._wait_for_issuance_slot()
            body, status = await self._post_token()
            now = self._clock()
            if body.get("access_token"):
                token = _token_from_body(body, now)
                self._cache.save(token, last_issued=now)
                self._unconfirmed.add(token.token)
                self.issued += 1
                log.info("issued a token valid until %s UTC", _utc(token.expires_at))
                return token
            code = str(body.get("error_code") or body.get("msg_cd") or "")
            if code != "EGW00133":
                raise _token_error(code, body, status)
            # Another client issued a token for this key within the minute.
            self._cache.save(self._cache.load(), last_issued=now)
        raise ConfigError(
            "KIS rejected token issuance twice in a row (EGW00133): another "
            "program is issuing tokens for this app key; stop it or wait a minute"
        )

    async def _post_token(self) -> tuple[dict[str, Any], int]:
        payload = {
            "grant_type": "client_credentials",
            "appkey": self._settings.app_key,
            "appsecret": self._settings.app_secret.reveal(),
        }
        url = self._settings.base_url + TOKEN_PATH
        for attempt in range(4):
            try:
                response = await self._http.post(url, json=payload)
            except httpx.TransportError as exc:
                if attempt == 3:
                    raise ConfigError(
                        f"cannot reach KIS at {self._settings.base_url}: "
                        f"{type(exc).__name__}; check the network or --base-url"
                    ) from None
                await self._sleep(0.5 * 2**attempt)
                continue
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                return body, response.status_code
            if attempt == 3:
                raise ConfigError(
                    f"token issuance failed: HTTP {response.status_code} "
                    f"from {self._settings.base_url}; check --base-url"
                )
            await self._sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")


def _token_from_body(body: dict[str, Any], now: float) -> CachedToken:
    expires_at = now + float(body.get("expires_in") or 86400)
    expiry_text = body.get("access_token_token_expired")
    if isinstance(expiry_text, str) and expiry_text.strip():
        try:
            expires_at = parse_kst(expiry_text)
        except ValueError:
            log.warning("unexpected token expiry %r; using expires_in", expiry_text)
    return CachedToken(
        token=Secret(str(body["access_token"])), expires_at=expires_at, issued_at=now
    )


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _token_error(code: str, body: dict[str, Any], status: int) -> ConfigError:
    text = str(body.get("error_description") or body.get("msg1") or "").strip()
    detail = f"{code} {text}".strip() or f"HTTP {status}"
    if code in ("EGW00102", "EGW00103"):
        fix = "check KIS_APP_KEY"
    elif code in ("EGW00104", "EGW00105", "EGW00304"):
        fix = "check KIS_APP_SECRET (a trailing newline is a common cause)"
    elif code == "EGW02004" or "모의투자" in text:
        fix = "the key belongs to the other server: use --env paper or --env real"
    else:
        fix = "check KIS_APP_KEY, KIS_APP_SECRET and --env"
    return ConfigError(f"KIS rejected the credentials ({detail}): {fix}")
