"""`kis-fetch auth status|login|logout` against the simulator on 127.0.0.1,
the plain-http refusal, and configuration errors with their exit codes."""

from __future__ import annotations

import json
import re
import socket
import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kis_fetch.cli import app
from kis_fetch.sim import KeySpec

KEY = "AUTH-CLI-KEY-0001"
SECRET = "auth-cli-secret-0001"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path) -> Path:
    for name in ("KIS_APP_KEY", "KIS_APP_SECRET", "KIS_ENV", "KIS_BASE_URL",
                 "KIS_PROFILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KIS_FETCH_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("KIS_FETCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KIS_FETCH_TOKEN_INTERVAL", "0")
    return tmp_path


def run(*args: str, base_url: str | None = None, **environ: str):
    env = {"KIS_APP_KEY": KEY, "KIS_APP_SECRET": SECRET, **environ}
    if base_url is not None:
        env["KIS_BASE_URL"] = base_url
    return CliRunner().invoke(app, list(args), env=env)


def token_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "tokens").glob("*.json"))


def cached_token(tmp_path: Path) -> str | None:
    files = token_files(tmp_path)
    assert len(files) == 1
    return json.loads(files[0].read_text()).get("access_token")


def test_status_without_token(sim, tmp_path) -> None:
    result = run("auth", "status", base_url=sim.base_url)
    assert result.exit_code == 0, result.output
    assert "none cached; run: kis-fetch auth login" in result.stdout
    assert f"{sim.base_url} (real)" in result.stdout
    assert "AUTH********" in result.stdout
    assert sim.stats()["requests_total"] == 0


def test_login_status_logout(sim, tmp_path) -> None:
    login = run("auth", "login", base_url=sim.base_url)
    assert login.exit_code == 0, login.output
    assert "issued a token" in login.stdout
    token = cached_token(tmp_path)
    assert token

    status = run("auth", "status", base_url=sim.base_url)
    assert status.exit_code == 0, status.output
    assert "cached, valid until" in status.stdout
    assert " UTC (" in status.stdout
    assert " local)" in status.stdout
    assert token not in status.stdout

    logout = run("auth", "logout", base_url=sim.base_url)
    assert logout.exit_code == 0, logout.output
    assert "revoked the token" in logout.stdout
    assert cached_token(tmp_path) is None
    assert sim.stats()["revocations"] == 1

    again = run("auth", "logout", base_url=sim.base_url)
    assert again.exit_code == 0
    assert "nothing to revoke" in again.stdout
    assert sim.stats()["revocations"] == 1


def test_login_reuses_fresh_token(sim, tmp_path) -> None:
    assert run("auth", "login", base_url=sim.base_url).exit_code == 0
    second = run("auth", "login", base_url=sim.base_url)
    assert second.exit_code == 0
    assert "already cached" in second.stdout
    assert "--force" in second.stdout
    assert sim.stats()["requests"]["/oauth2/tokenP"] == 1


def test_login_force_waits_interval(sim_factory, tmp_path, monkeypatch) -> None:
    # Waits under a second print nothing, so the interval is 2.5 s.
    running = sim_factory(issuance_interval=2.0, same_token_window=0)
    monkeypatch.setenv("KIS_FETCH_TOKEN_INTERVAL", "2.5")
    assert run("auth", "login", base_url=running.base_url).exit_code == 0
    first = cached_token(tmp_path)

    forced = run("auth", "login", "--force", base_url=running.base_url)
    assert forced.exit_code == 0, forced.output
    assert "waiting" in forced.stderr
    assert "one issuance a minute" in forced.stderr
    assert cached_token(tmp_path) != first
    stats = running.stats()
    assert stats["tokens_issued"][KEY] == 2
    assert stats["token_too_soon_total"] == 0


def test_login_force_same_token_window(sim_factory, tmp_path) -> None:
    running = sim_factory(issuance_interval=0)
    assert run("auth", "login", base_url=running.base_url).exit_code == 0
    forced = run("auth", "login", "--force", base_url=running.base_url)
    assert forced.exit_code == 0, forced.output
    assert "same token as before" in forced.stdout


def test_token_cache_modes(sim, tmp_path) -> None:
    assert run("auth", "login", base_url=sim.base_url).exit_code == 0
    [path] = token_files(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700


def test_logout_unreachable_deletes_locally(sim_factory, tmp_path) -> None:
    running = sim_factory()
    base_url = running.base_url
    assert run("auth", "login", base_url=base_url).exit_code == 0
    running.stop()

    result = run("auth", "logout", "--timeout", "2", base_url=base_url)
    assert result.exit_code == 1
    assert "did not revoke the token" in result.stderr
    assert "deleted the cached copy anyway" in result.stderr
    assert cached_token(tmp_path) is None


def test_logout_token_unknown_to_kis(sim, tmp_path) -> None:
    assert run("auth", "login", base_url=sim.base_url).exit_code == 0
    sim.reset(tokens=True)
    result = run("auth", "logout", base_url=sim.base_url)
    assert result.exit_code == 0, result.output
    assert "no longer accepts the token (EGW00121" in result.stdout
    assert cached_token(tmp_path) is None


def test_login_uses_profile(sim, clean_environment) -> None:
    (clean_environment / "config.toml").write_text(
        f'[profiles.sim]\napp_key = "{KEY}"\napp_secret = "{SECRET}"\n'
        f'base_url = "{sim.base_url}"\n'
    )
    (clean_environment / "config.toml").chmod(0o600)
    result = CliRunner().invoke(app, ["auth", "login", "--profile", "sim"])
    assert result.exit_code == 0, result.output
    status = CliRunner().invoke(app, ["auth", "status"], env={"KIS_PROFILE": "sim"})
    assert re.search(r"^profile +sim$", status.stdout, re.MULTILINE)
    assert "cached, valid until" in status.stdout


# Plain http to a remote host


@pytest.fixture
def no_network(monkeypatch) -> list[str]:
    """Record, and fail, every attempt to resolve or reach a host."""
    attempts: list[str] = []

    async def fail_request(self, request):
        attempts.append(str(request.url))
        raise AssertionError("a request was sent")

    def fail_connection(*args, **kwargs):
        attempts.append(repr(args))
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", fail_request)
    monkeypatch.setattr(socket, "getaddrinfo", fail_connection)
    monkeypatch.setattr(socket, "create_connection", fail_connection)
    return attempts


def test_no_network_guard_sees_https(no_network) -> None:
    result = run("auth", "login", "--base-url", "https://example.invalid:9443")
    assert result.exit_code != 0
    assert no_network != []


@pytest.mark.parametrize(
    "args",
    [
        ["auth", "login"],
        ["auth", "logout"],
        ["auth", "status"],
        ["prices", "--format", "csv", "005930"],
    ],
)
@pytest.mark.parametrize("how", ["flag", "env", "profile"])
def test_plain_http_rejected_before_connect(
    no_network, clean_environment, args, how
) -> None:
    url = "http://example.invalid:9443"
    environ: dict[str, str] = {}
    if how == "flag":
        args = [*args, "--base-url", url]
    elif how == "env":
        environ["KIS_BASE_URL"] = url
    else:
        (clean_environment / "config.toml").write_text(
            f'default_profile = "remote"\n[profiles.remote]\nbase_url = "{url}"\n'
        )
    result = run(*args, **environ)
    # A rejected flag is a usage error. The same value from the environment
    # or a profile is a configuration error.
    assert result.exit_code == (2 if how == "flag" else 3), result.output
    assert "refusing to send credentials over plain http" in result.stderr
    assert "example.invalid" in result.stderr
    assert no_network == []


# Configuration errors and their exit codes


def test_missing_credentials_exit_3(no_network) -> None:
    result = CliRunner().invoke(app, ["auth", "login"])
    assert result.exit_code == 3
    assert "missing credentials: set KIS_APP_KEY and KIS_APP_SECRET" in result.stderr
    assert no_network == []


def test_status_needs_only_app_key(tmp_path) -> None:
    result = CliRunner().invoke(
        app, ["auth", "status"], env={"KIS_APP_KEY": KEY, "KIS_APP_SECRET": ""}
    )
    assert result.exit_code == 0, result.output


def test_rejected_secret_exit_3(sim_factory) -> None:
    running = sim_factory(keys=(KeySpec(KEY, "the-right-secret", "real"),))
    result = run("auth", "login", base_url=running.base_url)
    assert result.exit_code == 3
    assert "EGW00105" in result.stderr
    assert "check KIS_APP_SECRET" in result.stderr


def test_rejected_key_exit_3(sim_factory) -> None:
    running = sim_factory(keys=(KeySpec("OTHER-KEY", SECRET, "real"),))
    result = run("auth", "login", base_url=running.base_url)
    assert result.exit_code == 3
    assert "EGW00103" in result.stderr
    assert "check KIS_APP_KEY" in result.stderr


def test_paper_key_on_real_server_exit_3(sim_factory) -> None:
    running = sim_factory(keys=(KeySpec(KEY, SECRET, "paper"),))
    result = run("prices", "--format", "csv", "005930", base_url=running.base_url)
    assert result.exit_code == 3
    assert "EGW02004" in result.stderr
    assert "use --env paper" in result.stderr


@pytest.mark.parametrize("command", ["login", "logout"])
def test_cache_folder_is_file_exit_3(sim, tmp_path, command) -> None:
    cache = tmp_path / "cache"
    cache.write_text("not a folder\n")
    result = run("auth", command, base_url=sim.base_url)
    assert result.exit_code == 3, result.output
    assert result.stderr.strip().splitlines() == [
        f"kis-fetch: cannot use cache folder {cache}: it is a file; "
        "set KIS_FETCH_CACHE_DIR to a writable folder"
    ]
    assert sim.stats()["requests"] == {}


def test_unknown_profile_exit_3(clean_environment) -> None:
    (clean_environment / "config.toml").write_text("[profiles.one]\n[profiles.two]\n")
    result = run("auth", "status", "--profile", "three")
    assert result.exit_code == 3
    assert "profile 'three' not found" in result.stderr
    assert "'one', 'two'" in result.stderr


def test_invalid_env_flag_exit_2() -> None:
    result = run("auth", "status", "--env", "demo")
    assert result.exit_code == 2
    assert "use --env real or --env paper" in result.stderr
