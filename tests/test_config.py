"""Settings resolution: precedence, the TOML config file, its errors, and
`kis-fetch config show|init`."""

from __future__ import annotations

import logging
import stat
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kis_fetch import config as config_module
from kis_fetch.cli import app
from kis_fetch.commands.config import TEMPLATE
from kis_fetch.config import (
    SERVERS,
    load_config_file,
    resolve_settings,
    resolve_with_sources,
)
from kis_fetch.errors import ConfigError, InputError

VARIABLES = (
    "KIS_APP_KEY",
    "KIS_APP_SECRET",
    "KIS_ENV",
    "KIS_BASE_URL",
    "KIS_PROFILE",
    "KIS_FETCH_CONFIG",
    "KIS_FETCH_CACHE_DIR",
    "PROFILE_KEY",
    "PROFILE_SECRET",
)

PROFILE_FILE = """\
[profiles.main]
app_key = "profile-key-0001"
app_secret = "profile-secret-0001"
env = "paper"
base_url = "https://profile.example.com"
rate = 3.5
concurrency = 7

[profiles.indirect]
app_key_env = "PROFILE_KEY"
app_secret_env = "PROFILE_SECRET"
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path) -> Path:
    """Clear the variables resolution reads and point the config at tmp_path."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config.toml"
    monkeypatch.setenv("KIS_FETCH_CONFIG", str(path))
    monkeypatch.setenv("KIS_FETCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(config_module, "_warned_paths", set())
    return path


def write_config(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(textwrap.dedent(text))
    path.chmod(mode)
    return path


def resolve(**flags):
    arguments = {"env": None, "base_url": None, "rate": None, "concurrency": None}
    arguments.update(flags)
    return resolve_with_sources(**arguments)


# Precedence: flag, then environment, then profile, then default. Each row
# gives the flags, the environment and whether the profile "main" is used,
# then the field and its expected value and source.
PRECEDENCE = [
    # env
    ({"env": "real"}, {"KIS_ENV": "paper"}, True, "env", "real", "flag"),
    ({}, {"KIS_ENV": "real"}, True, "env", "real", "env KIS_ENV"),
    ({}, {}, True, "env", "paper", "profile 'main'"),
    ({}, {}, False, "env", "real", "default"),
    # base_url
    ({"base_url": "https://flag.example.com"}, {"KIS_BASE_URL": "https://env.example.com"},
     True, "base_url", "https://flag.example.com", "flag"),
    ({}, {"KIS_BASE_URL": "https://env.example.com"}, True,
     "base_url", "https://env.example.com", "env KIS_BASE_URL"),
    ({}, {}, True, "base_url", "https://profile.example.com", "profile 'main'"),
    ({}, {}, False, "base_url", SERVERS["real"], "default"),
    ({"env": "paper"}, {}, False, "base_url", SERVERS["paper"], "default"),
    # credentials have no flag
    ({}, {"KIS_APP_KEY": "env-key-00001"}, True, "app_key", "env-key-00001",
     "env KIS_APP_KEY"),
    ({}, {}, True, "app_key", "profile-key-0001", "profile 'main'"),
    ({}, {"KIS_APP_SECRET": "env-secret-01"}, True, "app_secret", "env-secret-01",
     "env KIS_APP_SECRET"),
    ({}, {}, True, "app_secret", "profile-secret-0001", "profile 'main'"),
    # rate and concurrency have no environment variable
    ({"rate": 9.0}, {}, True, "rate", 9.0, "flag"),
    ({}, {}, True, "rate", 3.5, "profile 'main'"),
    ({}, {}, False, "rate", 20.0, "default for real"),
    ({"env": "paper"}, {}, False, "rate", 1.0, "default for paper"),
    ({"concurrency": 2}, {}, True, "concurrency", 2, "flag"),
    ({}, {}, True, "concurrency", 7, "profile 'main'"),
    ({}, {}, False, "concurrency", None, "default (sized from rate and latency)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "environ", "use_profile", "name", "expected", "source"), PRECEDENCE
)
def test_precedence_table(
    clean_environment, monkeypatch, flags, environ, use_profile, name, expected, source
) -> None:
    write_config(clean_environment, PROFILE_FILE)
    credentials = {"KIS_APP_KEY": "fallback-key", "KIS_APP_SECRET": "fallback-sec"}
    if use_profile:
        flags = {"profile": "main", **flags}
    else:
        environ = {**credentials, **environ}
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)

    resolved = resolve(**flags)

    value = getattr(resolved.settings, name)
    if name == "app_secret":
        value = value.reveal()
    assert value == expected
    assert resolved.sources[name] == source


def test_resolve_settings_keeps_old_keywords(monkeypatch) -> None:
    monkeypatch.setenv("KIS_APP_KEY", "key-0000001")
    monkeypatch.setenv("KIS_APP_SECRET", "secret-00001")
    settings = resolve_settings(env="paper", base_url=None, rate=None, concurrency=None)
    assert settings.env == "paper"
    assert settings.base_url == SERVERS["paper"]
    assert settings.rate == 1.0
    assert settings.app_secret.reveal() == "secret-00001"


def test_profile_via_env_variables(clean_environment, monkeypatch) -> None:
    write_config(clean_environment, PROFILE_FILE)
    monkeypatch.setenv("PROFILE_KEY", "indirect-key-01")
    monkeypatch.setenv("PROFILE_SECRET", "indirect-secret-01\n")
    resolved = resolve(profile="indirect")
    assert resolved.settings.app_key == "indirect-key-01"
    assert resolved.settings.app_secret.reveal() == "indirect-secret-01"
    assert resolved.sources["app_key"] == "profile 'indirect' via env PROFILE_KEY"


@pytest.mark.parametrize(
    ("flag", "environ", "default", "expected", "source"),
    [
        ("main", "indirect", "indirect", "main", "flag --profile"),
        (None, "main", "indirect", "main", "env KIS_PROFILE"),
        (None, None, "main", "main", "default_profile in"),
        (None, None, None, None, "none"),
    ],
)
def test_profile_selection_order(
    clean_environment, monkeypatch, flag, environ, default, expected, source
) -> None:
    header = f'default_profile = "{default}"\n' if default else ""
    write_config(clean_environment, header + PROFILE_FILE)
    if environ:
        monkeypatch.setenv("KIS_PROFILE", environ)
    resolved = resolve(profile=flag)
    assert resolved.profile == expected
    assert resolved.sources["profile"].startswith(source)


def test_no_config_file_is_fine(monkeypatch) -> None:
    monkeypatch.setenv("KIS_APP_KEY", "key-0000001")
    monkeypatch.setenv("KIS_APP_SECRET", "secret-00001")
    resolved = resolve()
    assert resolved.config.exists is False
    assert resolved.profile is None


def test_config_path_default(monkeypatch) -> None:
    from platformdirs import user_config_path

    monkeypatch.delenv("KIS_FETCH_CONFIG")
    expected = user_config_path("kis-fetch") / "config.toml"
    assert config_module.config_path() == expected


# Configuration errors


def test_unknown_profile_lists_profiles(clean_environment) -> None:
    write_config(clean_environment, PROFILE_FILE)
    with pytest.raises(ConfigError) as caught:
        resolve(profile="nope")
    message = str(caught.value)
    assert "profile 'nope' not found" in message
    assert "'main', 'indirect'" in message
    assert str(clean_environment) in message


def test_unknown_profile_without_file(clean_environment) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(profile="main")
    assert "does not exist" in str(caught.value)
    assert "kis-fetch config init" in str(caught.value)


def test_unknown_default_profile(clean_environment) -> None:
    write_config(clean_environment, 'default_profile = "gone"\n' + PROFILE_FILE)
    with pytest.raises(ConfigError, match="default_profile in"):
        resolve()


def test_malformed_file_names_line(clean_environment) -> None:
    write_config(clean_environment, '[profiles.main]\napp_key = "x"\nrate = = 3\n')
    with pytest.raises(ConfigError) as caught:
        resolve()
    message = str(caught.value)
    assert str(clean_environment) in message
    assert "line 3" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[profiles.main]\nenv = "real"\napi_key = "x"\n',
         "unknown key api_key in profile 'main'"),
        ('[profiles.main]\n\nrate = "fast"\n',
         "invalid rate in profile 'main'"),
        ('[profiles.main]\napp_key = "k"\napp_key_env = "K"\n',
         "sets both app_key and app_key_env"),
        ('[profile.main]\napp_key = "k"\n', "unknown top-level key 'profile'"),
        ("default_profile = 3\n", "invalid default_profile"),
        ("profiles = 3\n", "profiles must be tables"),
    ],
)  # fmt: skip
def test_invalid_file_contents(clean_environment, text, expected) -> None:
    write_config(clean_environment, text)
    with pytest.raises(ConfigError) as caught:
        resolve()
    assert expected in str(caught.value)


def test_invalid_key_names_line(clean_environment) -> None:
    write_config(clean_environment, '[profiles.main]\nenv = "real"\napi_key = "x"\n')
    with pytest.raises(ConfigError, match=r"config\.toml line 3\)"):
        resolve()


def test_unreadable_file(clean_environment) -> None:
    clean_environment.mkdir()
    with pytest.raises(ConfigError, match="cannot read config file"):
        resolve()


@pytest.mark.parametrize(
    ("flags", "environ", "profile_text", "error", "expected"),
    [
        ({"env": "demo"}, {}, "", InputError, "use --env real or --env paper"),
        ({}, {"KIS_ENV": "demo"}, "", ConfigError, "invalid KIS_ENV 'demo'"),
        ({}, {}, 'env = "demo"', ConfigError, "invalid env in profile 'main'"),
        ({"rate": 0.0}, {}, "", InputError, "invalid --rate"),
        ({}, {}, "rate = 0", ConfigError, "invalid rate in profile 'main'"),
        ({}, {}, "concurrency = 0", ConfigError, "invalid concurrency in profile"),
        ({}, {}, 'base_url = "http://example.invalid"', ConfigError,
         "base_url in profile 'main'"),
        ({"base_url": "http://example.invalid"}, {}, "", InputError,
         "refusing to send credentials over plain http"),
        ({"base_url": "ftp://x"}, {}, "", InputError, "invalid server URL 'ftp://x'"),
        ({}, {"KIS_BASE_URL": "ftp://x"}, "", ConfigError, "invalid server URL"),
        ({}, {}, 'base_url = "ftp://x"', ConfigError, "base_url in profile 'main'"),
    ],
)  # fmt: skip
def test_invalid_values(
    clean_environment, monkeypatch, flags, environ, profile_text, error, expected
) -> None:
    write_config(
        clean_environment,
        f'[profiles.main]\napp_key = "k0000001"\napp_secret = "s0000001"\n'
        f"{profile_text}\n",
    )
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(error) as caught:
        resolve(profile="main", **flags)
    assert expected in str(caught.value)


def test_missing_credentials_without_profile() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_settings(env=None, base_url=None, rate=None, concurrency=None)
    message = str(caught.value)
    assert "set KIS_APP_KEY and KIS_APP_SECRET" in message
    assert "kis-fetch config init" in message


def test_missing_secret_names_profile_key(clean_environment) -> None:
    write_config(clean_environment, '[profiles.main]\napp_key = "k0000001"\n')
    with pytest.raises(ConfigError) as caught:
        resolve_settings(
            env=None, base_url=None, rate=None, concurrency=None, profile="main"
        )
    message = str(caught.value)
    assert "set app_secret or app_secret_env in profile 'main'" in message
    assert "KIS_APP_SECRET" in message
    assert "app_key" not in message.replace("app_secret", "")


def test_missing_env_variable_named(clean_environment, monkeypatch) -> None:
    write_config(clean_environment, PROFILE_FILE)
    monkeypatch.setenv("PROFILE_KEY", "indirect-key-01")
    with pytest.raises(ConfigError) as caught:
        resolve_settings(
            env=None, base_url=None, rate=None, concurrency=None, profile="indirect"
        )
    message = str(caught.value)
    assert "set the environment variable PROFILE_SECRET" in message
    assert "config.toml line 11" in message
    assert "PROFILE_KEY" not in message


# Permission warning


def test_warns_once_on_readable_secret(clean_environment, caplog) -> None:
    write_config(clean_environment, PROFILE_FILE, mode=0o644)
    with caplog.at_level(logging.WARNING, logger="kis_fetch"):
        load_config_file()
        load_config_file()
    warnings = [r for r in caplog.records if "other users can read it" in r.message]
    assert len(warnings) == 1
    assert "chmod 600" in warnings[0].message
    assert "profile-secret-0001" not in caplog.text


@pytest.mark.parametrize(
    ("text", "mode"),
    [(PROFILE_FILE, 0o600), ('[profiles.x]\napp_secret_env = "S"\n', 0o644)],
)
def test_no_warning_when_private(clean_environment, caplog, text, mode) -> None:
    write_config(clean_environment, text, mode=mode)
    with caplog.at_level(logging.WARNING, logger="kis_fetch"):
        load_config_file()
    assert "other users can read it" not in caplog.text


# config init and config show


def run_cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def test_init_writes_private_template(tmp_path, monkeypatch) -> None:
    path = tmp_path / "new" / "deeper" / "config.toml"
    monkeypatch.setenv("KIS_FETCH_CONFIG", str(path))
    result = run_cli("config", "init")
    assert result.exit_code == 0, result.output
    assert path.read_text() == TEMPLATE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_init_refuses_overwrite(clean_environment) -> None:
    write_config(clean_environment, "# mine\n")
    result = run_cli("config", "init")
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert "--force" in result.output
    assert clean_environment.read_text() == "# mine\n"


def test_init_force_replaces(clean_environment) -> None:
    write_config(clean_environment, "# mine\n", mode=0o644)
    result = run_cli("config", "init", "--force")
    assert result.exit_code == 0, result.output
    assert clean_environment.read_text() == TEMPLATE
    assert stat.S_IMODE(clean_environment.stat().st_mode) == 0o600


def test_template_parses_with_profiles(clean_environment, monkeypatch) -> None:
    write_config(clean_environment, TEMPLATE)
    config = load_config_file()
    assert list(config.profiles) == ["real", "paper"]
    assert config.default_profile is None
    monkeypatch.setenv("KIS_PAPER_APP_KEY", "paper-key-0001")
    monkeypatch.setenv("KIS_PAPER_APP_SECRET", "paper-secret-0001")
    settings = resolve_settings(
        env=None, base_url=None, rate=None, concurrency=None, profile="paper"
    )
    assert settings.env == "paper"
    assert settings.base_url == SERVERS["paper"]


def test_show_sources_and_hidden_secret(clean_environment) -> None:
    write_config(clean_environment, PROFILE_FILE)
    result = run_cli(
        "config", "show", "--profile", "main", "--rate", "2",
        env={"KIS_BASE_URL": "https://env.example.com"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert lines["profile"].endswith("[flag --profile]")
    assert lines["env"].endswith("[profile 'main']")
    assert "https://env.example.com  [env KIS_BASE_URL]" in lines["base_url"]
    assert "2 requests/s  [flag]" in lines["rate"]
    assert "prof********  [profile 'main']" in lines["app_key"]
    assert lines["app_secret"].endswith("  set (hidden)  [profile 'main']")
    assert "profile-secret-0001" not in result.output


def test_show_missing_credentials_exit_3() -> None:
    result = run_cli("config", "show")
    assert result.exit_code == 3
    assert "app_key      (not set)  [missing]" in result.stdout
    assert "missing credentials: set KIS_APP_KEY and KIS_APP_SECRET" in result.output


def test_show_unknown_profile_exit_3(clean_environment) -> None:
    write_config(clean_environment, PROFILE_FILE)
    result = run_cli("config", "show", "--profile", "nope")
    assert result.exit_code == 3
    assert "profiles there: 'main', 'indirect'" in result.output


def test_show_malformed_file_exit_3(clean_environment) -> None:
    write_config(clean_environment, "a = 1\nb = [\n")
    result = run_cli("config", "show")
    assert result.exit_code == 3
    assert f"invalid config file {clean_environment}" in result.output
    assert "line 2" in result.output


def test_permission_warning_reads_like_others(clean_environment) -> None:
    write_config(clean_environment, PROFILE_FILE, mode=0o644)
    result = run_cli("config", "show", "--profile", "main")
    warning = [line for line in result.stderr.splitlines() if "chmod 600" in line]
    assert len(warning) == 1
    assert warning[0].startswith("kis-fetch: warning: config file ")
    assert "profile-secret-0001" not in result.output
