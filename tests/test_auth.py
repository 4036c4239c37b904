import asyncio
import json
import stat
from datetime import UTC, datetime

import httpx
import pytest

from kis_fetch.auth import KST, CachedToken, TokenCache, TokenManager, parse_kst
from kis_fetch.config import Settings
from kis_fetch.errors import ConfigError
from kis_fetch.secret import Secret

BASE = "http://127.0.0.1:9"


class FakeTime:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 3, 0, tzinfo=UTC).timestamp()
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class TokenServer:
    """Serves /oauth2/tokenP like KIS, with one issuance a minute."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.issued = 0
        self.last = -1e9
        self.refuse_next = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth2/tokenP"
        body = json.loads(request.content)
        if body["appsecret"] != "right-secret":
            return httpx.Response(
                403, json={"error_code": "EGW00105", "error_description": "bad"}
            )
        if self.refuse_next or self.time.now - self.last < 60:
            self.refuse_next = False
            return httpx.Response(
                403, json={"error_code": "EGW00133", "error_description": "1분당 1회"}
            )
        self.last = self.time.now
        self.issued += 1
        expires = datetime.fromtimestamp(self.time.now + 86400, UTC)
        kst_text = expires.astimezone(KST)
        return httpx.Response(
            200,
            json={
                "access_token": f"token-{self.issued}",
                "token_type": "Bearer",
                "expires_in": 86400,
                "access_token_token_expired": kst_text.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )


def make_settings(tmp_path, secret: str = "right-secret") -> Settings:
    return Settings(
        app_key="APPKEY",
        app_secret=Secret(secret),
        env="real",
        base_url=BASE,
        rate=20,
        concurrency=None,
        cache_dir=tmp_path,
    )


def make_manager(tmp_path, server, time, secret="right-secret"):
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    manager = TokenManager(
        http, make_settings(tmp_path, secret), clock=time.clock, sleep=time.sleep
    )
    return http, manager


def test_parse_kst_is_utc_plus_nine() -> None:
    epoch = parse_kst("2026-12-05 12:00:00")
    assert datetime.fromtimestamp(epoch, UTC) == datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def test_freshness_margin() -> None:
    token = CachedToken(Secret("t"), expires_at=1000.0, issued_at=0.0)
    assert token.is_fresh(899.0)
    assert not token.is_fresh(901.0)


async def test_concurrent_callers_share_one_issuance(tmp_path) -> None:
    time = FakeTime()
    server = TokenServer(time)
    http, manager = make_manager(tmp_path, server, time)
    async with http:
        tokens = await asyncio.gather(*(manager.token() for _ in range(50)))
    assert server.issued == 1
    assert {token.reveal() for token in tokens} == {"token-1"}


async def test_second_run_reuses_cached_token(tmp_path) -> None:
    time = FakeTime()
    server = TokenServer(time)
    http, first = make_manager(tmp_path, server, time)
    async with http:
        await first.token()
    http, second = make_manager(tmp_path, server, time)
    async with http:
        token = await second.token()
    assert server.issued == 1
    assert token.reveal() == "token-1"


def test_cache_file_modes(tmp_path) -> None:
    cache = TokenCache(tmp_path / "cache", BASE, "APPKEY")
    cache.save(CachedToken(Secret("t"), 2.0, 1.0), last_issued=1.0)
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700


async def test_replacement_waits_for_issuance_interval(tmp_path) -> None:
    time = FakeTime()
    server = TokenServer(time)
    http, manager = make_manager(tmp_path, server, time)
    async with http:
        first = await manager.token()
        manager.confirm(first)
        time.now += 10
        replaced = await asyncio.gather(*(manager.replace(first) for _ in range(5)))
    assert server.issued == 2
    assert {token.reveal() for token in replaced} == {"token-2"}
    assert time.slept and time.slept[0] == pytest.approx(51.0)


async def test_egw00133_waits_once_then_issues(tmp_path) -> None:
    time = FakeTime()
    server = TokenServer(time)
    server.refuse_next = True
    http, manager = make_manager(tmp_path, server, time)
    async with http:
        token = await manager.token()
    assert token.reveal() == "token-1"
    assert server.issued == 1
    assert len(time.slept) == 1


async def test_rejected_fresh_token_stops_run(tmp_path) -> None:
    time = FakeTime()
    server = TokenServer(time)
    http, manager = make_manager(tmp_path, server, time)
    async with http:
        first = await manager.token()
        manager.confirm(first)
        time.now += 61
        second = await manager.replace(first)
        with pytest.raises(ConfigError, match="rejected a newly issued token"):
            await manager.replace(second)


async def test_wrong_secret_names_the_fix(tmp_path) -> None:
    time = FakeTime()
    server = TokenServer(time)
    http, manager = make_manager(tmp_path, server, time, secret="wrong")
    async with http:
        with pytest.raises(ConfigError, match="KIS_APP_SECRET") as caught:
            await manager.token()
    assert "wrong" not in str(caught.value)
