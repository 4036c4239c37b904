"""The app secret and access tokens never reach output, logs, error messages
or reprs: the real CLI runs at -vv in subprocesses against the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from kis_fetch.auth import CachedToken
from kis_fetch.config import Settings, resolve_with_sources
from kis_fetch.errors import ConfigError
from kis_fetch.secret import Secret
from kis_fetch.sim import KeySpec

REPO = Path(__file__).resolve().parents[1]
KEY = "SECRETS-TEST-KEY-0001"
# Distinctive enough that any appearance in the output is a leak.
SECRET = "zq7-DISTINCTIVE-app-secret-Xv93kLpQ"
# No part of the secret may show, not even the four characters that
# `secret.mask` keeps of an app key.
SECRET_HEAD = SECRET[:4]
SECRET_TAIL = SECRET[4:]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kis_fetch", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def base_environment(tmp_path: Path, base_url: str) -> dict[str, str]:
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("KIS_", "COLUMNS"))
    }
    environ.update(
        KIS_APP_KEY=KEY,
        KIS_APP_SECRET=SECRET,
        KIS_BASE_URL=base_url,
        KIS_FETCH_CACHE_DIR=str(tmp_path / "cache"),
        KIS_FETCH_CONFIG=str(tmp_path / "config.toml"),
        KIS_FETCH_MASTER_DIR=str(tmp_path / "no-masters"),
        KIS_FETCH_TOKEN_INTERVAL="0",
    )
    return environ


def assert_no_leak(output: str, tokens: list[str]) -> None:
    # Rich wraps log lines at the console width and may break a long word,
    # so the checks also run on the output with all whitespace removed.
    joined = "".join(output.split())
    for text in (output, joined):
        assert SECRET not in text
        assert SECRET_HEAD not in text
        assert SECRET_TAIL not in text
        for token in tokens:
            assert token not in text
            assert token[-16:] not in text


def test_cli_output_hides_secret_and_tokens(sim_factory, tmp_path) -> None:
    running = sim_factory(issuance_interval=0, same_token_window=0)
    environ = base_environment(tmp_path, running.base_url)
    outputs: list[str] = []

    def step(*args: str, code: int = 0) -> None:
        result = run_cli(*args, "-vv", env=environ)
        outputs.append(f"$ {args}\n{result.stdout}\n{result.stderr}")
        assert result.returncode == code, outputs[-1]

    step("config", "show")
    step("auth", "login")
    step("auth", "status")
    step("prices", "--format", "csv", "005930", "NAS:AAPL")
    step("auth", "login", "--force")
    running.expire_tokens()
    # The expired token makes prices replace it mid-run.
    step("prices", "--format", "csv", "005930")
    step("auth", "status")
    step("auth", "logout")

    tokens = list(running.app.tokens.by_value)
    assert len(tokens) >= 3
    combined = "\n".join(outputs)
    assert "issued a token" in combined
    assert "token rejected by KIS" in combined
    assert_no_leak(combined, tokens)


def test_rejected_secret_hidden(sim_factory, tmp_path) -> None:
    running = sim_factory(keys=(KeySpec(KEY, "the-right-secret", "real"),))
    environ = base_environment(tmp_path, running.base_url)
    login = run_cli("auth", "login", "-vv", env=environ)
    prices = run_cli("prices", "-vv", "--format", "csv", "005930", env=environ)
    for result in (login, prices):
        assert result.returncode == 3, result.stderr
        assert "EGW00105" in result.stderr
        assert_no_leak(result.stdout + result.stderr, [])


def test_profile_secret_hidden(sim, tmp_path) -> None:
    environ = base_environment(tmp_path, sim.base_url)
    del environ["KIS_APP_KEY"], environ["KIS_APP_SECRET"]
    config = tmp_path / "config.toml"
    config.write_text(
        f'default_profile = "sim"\n[profiles.sim]\napp_key = "{KEY}"\n'
        f'app_secret = "{SECRET}"\n'
    )
    config.chmod(0o644)
    outputs = []
    for args in (
        ("config", "show", "-vv"),
        ("auth", "login", "-vv"),
        ("prices", "-vv", "--format", "csv", "005930"),
        ("auth", "status", "-vv", "--profile", "missing"),
    ):
        result = run_cli(*args, env=environ)
        outputs.append(result.stdout + result.stderr)
    combined = "\n".join(outputs)
    assert "other users can read it" in " ".join(combined.split())
    assert "profile 'missing' not found" in combined
    assert_no_leak(combined, list(sim.app.tokens.by_value))


# Reprs and tracebacks


def test_secret_repr_and_str() -> None:
    secret = Secret(SECRET)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}"):
        assert SECRET not in text
    assert repr(secret) == "Secret('****')"


def test_settings_repr(tmp_path) -> None:
    settings = Settings(
        app_key=KEY,
        app_secret=Secret(SECRET),
        env="real",
        base_url="https://openapi.koreainvestment.com:9443",
        rate=20.0,
        concurrency=None,
        cache_dir=tmp_path,
    )
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert "Secret('****')" in repr(settings)


def test_cached_token_repr() -> None:
    token = CachedToken(token=Secret("eyJ-token-value"), expires_at=1.0, issued_at=0.0)
    assert "eyJ-token-value" not in repr(token)


def test_resolved_settings_repr(tmp_path, monkeypatch) -> None:
    for name in ("KIS_APP_KEY", "KIS_APP_SECRET", "KIS_ENV", "KIS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.p]\napp_key = "{KEY}"\napp_secret = "{SECRET}"\n')
    config.chmod(0o600)
    monkeypatch.setenv("KIS_FETCH_CONFIG", str(config))
    resolved = resolve_with_sources(
        env=None, base_url=None, rate=None, concurrency=None, profile="p"
    )
    assert resolved.settings.app_secret.reveal() == SECRET
    assert SECRET not in repr(resolved)
    assert SECRET not in repr(resolved.config)


def test_sim_key_repr_hides_secret() -> None:
    spec = KeySpec(KEY, SECRET, "real")
    assert SECRET not in repr(spec)
    assert KEY in repr(spec)


def test_sim_key_parse_error_hides_secret() -> None:
    from kis_fetch.sim.config import parse_key

    with pytest.raises(ValueError) as caught:
        parse_key(f"{KEY}:{SECRET}:demo", "real")
    assert SECRET not in str(caught.value)
    assert f"invalid key {KEY!r}" in str(caught.value)


def test_config_error_traceback(tmp_path, monkeypatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.p]\napp_secret = "{SECRET}"\nrate = -1\n')
    config.chmod(0o600)
    monkeypatch.setenv("KIS_FETCH_CONFIG", str(config))
    with pytest.raises(ConfigError) as caught:
        resolve_with_sources(
            env=None, base_url=None, rate=None, concurrency=None, profile="p"
        )
    text = "".join(traceback.format_exception(caught.value))
    assert "invalid rate in profile 'p'" in text
    assert SECRET not in text
