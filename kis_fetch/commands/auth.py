"""`kis-fetch auth status|login|logout`: inspect, issue and revoke the cached
access token for one server and app key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from kis_fetch.commands import common
from kis_fetch.commands.config import PROFILE_OPTION

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from rich.console import Console

    from kis_fetch.auth import CachedToken
    from kis_fetch.config import ResolvedSettings, Settings

# Codes with which KIS rejects revoking a token it no longer accepts, so the
# token is already unusable.
ALREADY_INVALID = ("EGW00121", "EGW00122", "EGW00123")

auth_app = typer.Typer(
    help="Inspect, issue or revoke the cached access token.",
    no_args_is_help=True,
)


@auth_app.command("status")
def status(
    profile: str | None = PROFILE_OPTION,
    env: str | None = common.ENV_OPTION,
    base_url: str | None = common.BASE_URL_OPTION,
    verbose: int = common.VERBOSE_OPTION,
) -> None:
    """Show whether a token is cached, with its expiry, for this server and key.

    Reads only the local cache and contacts no server. The token itself is
    never printed.
    """
    common.setup_logging(verbose, common.stderr_console())
    with common.reported_errors():
        resolved = _resolve(profile, env, base_url)
        settings = resolved.require("app_key")
        _print_status(resolved, settings)


@auth_app.command("login")
def login(
    force: bool = typer.Option(
        False,
        "--force",
        help="Issue a new token even when a fresh one is cached. It still waits "
        "for KIS's one-issuance-a-minute rule.",
    ),
    profile: str | None = PROFILE_OPTION,
    env: str | None = common.ENV_OPTION,
    base_url: str | None = common.BASE_URL_OPTION,
    timeout: float = common.TIMEOUT_OPTION,
    verbose: int = common.VERBOSE_OPTION,
) -> None:
    """Issue an access token now and cache it for later runs.

    Does nothing when a fresh token is already cached, unless --force is
    given. On a real account KIS sends the owner a KakaoTalk message for
    each issuance.
    """
    console = common.stderr_console()
    common.setup_logging(verbose, console)
    with common.reported_errors():
        settings = _resolve(profile, env, base_url).require("app_key", "app_secret")
        code = _run_async(_login(settings, force, timeout, console))
    raise typer.Exit(code)


@auth_app.command("logout")
def logout(
    profile: str | None = PROFILE_OPTION,
    env: str | None = common.ENV_OPTION,
    base_url: str | None = common.BASE_URL_OPTION,
    timeout: float = common.TIMEOUT_OPTION,
    verbose: int = common.VERBOSE_OPTION,
) -> None:
    """Revoke the cached token at KIS and delete it from the cache.

    The cached copy is deleted even when the revocation fails. The command
    then exits 1, because the token may stay valid until it expires.
    """
    console = common.stderr_console()
    common.setup_logging(verbose, console)
    with common.reported_errors():
        settings = _resolve(profile, env, base_url).require("app_key", "app_secret")
        code = _run_async(_logout(settings, timeout))
    raise typer.Exit(code)


def _resolve(
    profile: str | None, env: str | None, base_url: str | None
) -> ResolvedSettings:
    from kis_fetch.config import resolve_with_sources

    return resolve_with_sources(
        env=env, base_url=base_url, rate=None, concurrency=None, profile=profile
    )


def _run_async(coroutine: Coroutine[Any, Any, int]) -> int:
    import asyncio

    return asyncio.run(coroutine)


def _print_status(resolved: ResolvedSettings, settings: Settings) -> None:
    import time

    from kis_fetch.auth import TokenCache, issue_interval
    from kis_fetch.secret import mask

    cache = TokenCache(settings.cache_dir, settings.base_url, settings.app_key)
    cached = cache.load()
    now = time.time()
    rows = [
        ("server", f"{settings.base_url} ({settings.env})"),
        ("profile", resolved.profile or "(none)"),
        ("app key", mask(settings.app_key)),
        ("token", _describe_token(cached, now)),
    ]
    if cached is not None:
        rows.append(("issued", format_time(cached.issued_at)))
    next_slot = cache.last_issued() + issue_interval()
    if next_slot > now:
        rows.append(("next issuance", f"allowed from {format_time(next_slot)}"))
    rows.append(("cache file", str(cache.path)))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        typer.echo(f"{name.ljust(width)}  {value}")


def _describe_token(cached: CachedToken | None, now: float) -> str:
    if cached is None:
        return "none cached; run: kis-fetch auth login"
    expiry = format_time(cached.expires_at)
    if now >= cached.expires_at:
        return f"expired at {expiry}; the next run issues a new one"
    left = format_duration(cached.expires_at - now)
    if not cached.is_fresh(now):
        return f"expires soon, at {expiry} ({left} left); the next run issues a new one"
    return f"cached, valid until {expiry} ({left} left)"


def format_time(epoch: float) -> str:
    """Format an epoch time as UTC followed by the local time with its offset."""
    from datetime import UTC, datetime

    utc = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    local = datetime.fromtimestamp(epoch).astimezone()
    return f"{utc} ({local.strftime('%Y-%m-%d %H:%M:%S %z')} local)"


def format_duration(seconds: float) -> str:
    """Format seconds as `H h M min`, or `S s` under a minute."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min"


async def _login(
    settings: Settings, force: bool, timeout: float, console: Console
) -> int:
    import time

    import httpx

    from kis_fetch.auth import TokenManager

    def show_wait(message: str) -> None:
        console.print(f"kis-fetch: {message}", markup=False)

    async with httpx.AsyncClient(
        timeout=timeout, headers={"user-agent": "kis-fetch"}
    ) as http:
        manager = TokenManager(http, settings, on_wait=show_wait)
        cached = manager.cache.load()
        fresh = cached is not None and cached.is_fresh(time.time())
        if fresh and not force:
            assert cached is not None
            typer.echo(
                f"a token for {settings.base_url} is already cached, valid until "
                f"{format_time(cached.expires_at)}; pass --force to issue a new one"
            )
            return 0
        if force:
            await manager.issue_now()
        else:
            await manager.token()
        token = manager.current
        assert token is not None
    if manager.issued == 0:
        # Another process issued a token while this one waited for the lock.
        typer.echo(
            f"another kis-fetch process cached a token for {settings.base_url}, "
            f"valid until {format_time(token.expires_at)}"
        )
        return 0
    typer.echo(
        f"issued a token for {settings.base_url}, valid until "
        f"{format_time(token.expires_at)}"
    )
    if cached is not None and cached.token == token.token:
        typer.echo(
            "KIS returned the same token as before: it reuses a token for 6 hours "
            "after issuing it"
        )
    return 0


async def _logout(settings: Settings, timeout: float) -> int:
    import httpx

    from kis_fetch.auth import TokenManager
    from kis_fetch.errors import EXIT_PARTIAL

    async with httpx.AsyncClient(
        timeout=timeout, headers={"user-agent": "kis-fetch"}
    ) as http:
        manager = TokenManager(http, settings)
        cached = manager.cache.load()
        result = await manager.revoke()
    if not result.had_token:
        typer.echo(f"no token cached for {settings.base_url}; nothing to revoke")
        return 0
    if result.revoked:
        typer.echo("revoked the token at KIS and deleted the cached copy")
        return 0
    if result.code in ALREADY_INVALID:
        typer.echo(
            f"KIS no longer accepts the token ({result.detail}); "
            "deleted the cached copy"
        )
        return 0
    expiry = format_time(cached.expires_at) if cached is not None else "its expiry"
    typer.echo(
        f"kis-fetch: KIS did not revoke the token ({result.detail}); deleted the "
        f"cached copy anyway, but the token may stay valid until {expiry}",
        err=True,
    )
    return EXIT_PARTIAL


def register(app: typer.Typer) -> None:
    app.add_typer(auth_app, name="auth")
