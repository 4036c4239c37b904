"""Run settings: servers, credentials, rate and folders, resolved from flags,
environment variables and a profile in the TOML config file.

Each setting takes the first value found in this order: a command-line flag,
an environment variable (KIS_APP_KEY, KIS_APP_SECRET, KIS_ENV, KIS_BASE_URL),
the selected profile, then the built-in default. `--rate` and
`--concurrency` have no environment variable.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kis_fetch.errors import ConfigError, InputError
from kis_fetch.secret import Secret

log = logging.getLogger(__name__)

SERVERS = {
    "real": "https://openapi.koreainvestment.com:9443",
    "paper": "https://openapivts.koreainvestment.com:29443",
}

# Requests per second that KIS documents for one app key. The real figure is
# the long-standing 20/s. A 2026-04-20 KIS notice, seen only as quoted by
# third parties, lowers it to 18/s per account and paper to 1/s.
DOCUMENTED_RATE = {"real": 20.0, "paper": 1.0}
DEFAULT_RATE = DOCUMENTED_RATE

CONFIG_PATH_VAR = "KIS_FETCH_CONFIG"
CREDENTIAL_VARS = {"app_key": "KIS_APP_KEY", "app_secret": "KIS_APP_SECRET"}
PROFILE_VAR = "KIS_PROFILE"

# Keys a `[profiles.NAME]` table accepts, with the TOML types each may have.
PROFILE_KEYS: dict[str, tuple[type, ...]] = {
    "app_key": (str,),
    "app_secret": (str,),
    "app_key_env": (str,),
    "app_secret_env": (str,),
    "env": (str,),
    "base_url": (str,),
    "rate": (int, float),
    "concurrency": (int,),
}
TOP_LEVEL_KEYS = ("default_profile", "profiles")

# Config files already warned about for loose permissions, so each warning
# prints once per process.
_warned_paths: set[Path] = set()


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


def default_config_dir() -> Path:
    """Return the user config folder of kis-fetch, such as ~/.config/kis-fetch."""
    from platformdirs import user_config_path

    return user_config_path("kis-fetch")


def config_path() -> Path:
    """Return the config file path: `KIS_FETCH_CONFIG`, else config.toml in the
    user config folder."""
    override = os.environ.get(CONFIG_PATH_VAR)
    if override:
        return Path(override).expanduser()
    return default_config_dir() / "config.toml"


def check_base_url(url: str, *, from_flag: bool = False) -> str:
    """Validate a server URL: https anywhere, plain http only on loopback.

    Credentials travel in headers and bodies, so sending them unencrypted to a
    remote host would leak them. Raises InputError (exit 2) for a --base-url
    flag and ConfigError (exit 3) for a value from the environment or a
    profile, as `--env` does.
    """
    error = InputError if from_flag else ConfigError
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise error(
            f"invalid server URL {url!r}: expected https://HOST[:PORT]; "
            "set --base-url or KIS_BASE_URL"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise error(
            f"refusing to send credentials over plain http to {parts.hostname}: "
            "use https://, or http:// only for localhost or a loopback address"
        )
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    """Return True for localhost and loopback addresses such as 127.0.0.2 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The config file


@dataclass(frozen=True)
class ConfigFile:
    """The parsed config file; `exists` is False when there is no file."""

    path: Path
    exists: bool = False
    default_profile: str | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    text: str = field(default="", repr=False)

    def where(self, profile: str, key: str | None = None) -> str:
        """Describe a profile or one of its keys as `profile NAME (FILE line N)`."""
        line = self.line_of(profile, key)
        place = f"{self.path} line {line}" if line else str(self.path)
        subject = f"{key} in profile {profile!r}" if key else f"profile {profile!r}"
        return f"{subject} ({place})"

    def line_of(self, profile: str, key: str | None = None) -> int | None:
        """Return the 1-based line of `[profiles.PROFILE]` or of `key` in it.

        NOTE: this scans the text for a `[profiles.NAME]` header and a
        `key =` line below it, so profiles written as inline or dotted tables
        return None.
        """
        header = re.compile(
            r"^\s*\[\s*profiles\s*\.\s*(?:\"|')?"
            + re.escape(profile)
            + r"(?:\"|')?\s*\]"
        )
        key_line = re.compile(r"^\s*" + re.escape(key or "") + r"\s*=")
        inside = False
        for number, line in enumerate(self.text.splitlines(), start=1):
            if header.match(line):
                if key is None:
                    return number
                inside = True
            elif inside and line.lstrip().startswith("["):
                return None
            elif inside and key_line.match(line):
                return number
        return None

    def holds_secret(self) -> bool:
        return any("app_secret" in values for values in self.profiles.values())


def load_config_file(path: Path | None = None) -> ConfigFile:
    """Read and check the config file. A missing file counts as an empty one."""
    path = config_path() if path is None else path
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ConfigFile(path=path)
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror or exc}; "
            f"fix its permissions or point {CONFIG_PATH_VAR} at another file"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"invalid config file {path}: not valid UTF-8 text; save it as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message carries "(at line N, column M)" or "(at end of
        # document)", and never the value.
        message = str(exc).replace(
            "(at end of document)", f"(at the end, line {len(text.splitlines())})"
        )
        raise ConfigError(
            f"invalid config file {path}: {message}; fix the TOML syntax there"
        ) from None

    config = ConfigFile(
        path=path,
        exists=True,
        default_profile=_check_default_profile(data, path),
        profiles=_check_profiles(data, path, text),
        text=text,
    )
    _warn_if_readable(config)
    return config


def _check_default_profile(data: dict[str, Any], path: Path) -> str | None:
    unknown = [key for key in data if key not in TOP_LEVEL_KEYS]
    if unknown:
        raise ConfigError(
            f"invalid config file {path}: unknown top-level key "
            f"{', '.join(map(repr, unknown))}; use default_profile and "
            "[profiles.NAME] tables"
        )
    default = data.get("default_profile")
    if default is not None and not (isinstance(default, str) and default):
        raise ConfigError(
            f"invalid default_profile in {path}: use the name of a profile "
            'in quotes, for example default_profile = "real"'
        )
    return default


def _check_profiles(
    data: dict[str, Any], path: Path, text: str
) -> dict[str, dict[str, Any]]:
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(
            f"invalid config file {path}: profiles must be tables written as "
            "[profiles.NAME]"
        )
    located = ConfigFile(path=path, exists=True, text=text)
    for name, values in profiles.items():
        if not isinstance(values, dict):
            raise ConfigError(
                f"invalid {located.where(name)}: write it as a [profiles.{name}] table"
            )
        for key, value in values.items():
            if key not in PROFILE_KEYS:
                raise ConfigError(
                    f"unknown key {located.where(name, key)}: use one of "
                    f"{', '.join(PROFILE_KEYS)}"
                )
            if isinstance(value, bool) or not isinstance(value, PROFILE_KEYS[key]):
                kind = "a string" if PROFILE_KEYS[key] == (str,) else "a number"
                raise ConfigError(
                    f"invalid {located.where(name, key)}: expected {kind}"
                )
        for key in ("app_key", "app_secret"):
            if key in values and f"{key}_env" in values:
                raise ConfigError(
                    f"invalid {located.where(name)}: it sets both {key} and "
                    f"{key}_env; keep one of them"
                )
    return profiles


def _warn_if_readable(config: ConfigFile) -> None:
    if os.name == "nt" or config.path in _warned_paths or not config.holds_secret():
        return
    try:
        mode = config.path.stat().st_mode
    except OSError:
        return
    if mode & 0o044:
        _warned_paths.add(config.path)
        log.warning(
            "config file %s contains an app secret and other users can read it; "
            "run: chmod 600 %s",
            config.path,
            config.path,
        )


# Resolution


@dataclass(frozen=True)
class ResolvedSettings:
    """Settings with the source of each value, for `config show`.

    `sources` maps a Settings field name, and "profile", to a description
    such as "flag", "env KIS_ENV", "profile 'sim'" or "default".
    `missing` maps each credential that no source provides to its fix, and
    the matching Settings field is then an empty string.
    """

    settings: Settings
    sources: dict[str, str]
    profile: str | None
    config: ConfigFile
    missing: dict[str, str]

    def require(self, *names: str) -> Settings:
        """Return the settings, or raise ConfigError when one of `names`
        ("app_key", "app_secret") has no value."""
        absent = [name for name in names if name in self.missing]
        if not absent:
            return self.settings
        if self.profile is not None:
            fixes = "; ".join(self.missing[name] for name in absent)
            raise ConfigError(f"missing credentials: {fixes}")
        variables = " and ".join(CREDENTIAL_VARS[name] for name in absent)
        labels = " and ".join(_label(name) for name in absent)
        if self.config.profiles:
            alternative = f"or choose a profile of {self.config.path} with --profile"
        else:
            alternative = "or create a profile with: kis-fetch config init"
        raise ConfigError(
            f"missing credentials: set {variables} to your KIS {labels}, {alternative}"
        )


def resolve_settings(
    *,
    env: str | None,
    base_url: str | None,
    rate: float | None,
    concurrency: int | None,
    profile: str | None = None,
) -> Settings:
    """Build the settings from flag values (None when not given), the
    environment and the config file; raise ConfigError when credentials are
    missing."""
    resolved = resolve_with_sources(
        env=env, base_url=base_url, rate=rate, concurrency=concurrency, profile=profile
    )
    return resolved.require("app_key", "app_secret")


def resolve_with_sources(
    *,
    env: str | None,
    base_url: str | None,
    rate: float | None,
    concurrency: int | None,
    profile: str | None = None,
) -> ResolvedSettings:
    """Build the settings and record where each value came from.

    Missing credentials do not raise here; `ResolvedSettings.require` does.
    """
    config = load_config_file()
    name, name_source = _pick_profile(profile, config)
    values = config.profiles.get(name, {}) if name else {}
    sources: dict[str, str] = {"profile": name_source}
    from_profile = f"profile {name!r}"

    chosen_env, sources["env"] = _first(
        ("flag", env), ("env KIS_ENV", os.environ.get("KIS_ENV")),
        (from_profile, values.get("env")), ("default", "real"),
    )  # fmt: skip
    chosen_env = chosen_env.strip().lower()
    if chosen_env not in SERVERS:
        _raise_invalid_env(chosen_env, sources["env"], config, name)

    chosen_url, sources["base_url"] = _first(
        ("flag", base_url), ("env KIS_BASE_URL", os.environ.get("KIS_BASE_URL")),
        (from_profile, values.get("base_url")), ("default", SERVERS[chosen_env]),
    )  # fmt: skip
    if sources["base_url"] == from_profile and name:
        try:
            url = check_base_url(chosen_url)
        except ConfigError as exc:
            raise ConfigError(f"{config.where(name, 'base_url')}: {exc}") from None
    else:
        url = check_base_url(chosen_url, from_flag=sources["base_url"] == "flag")

    missing: dict[str, str] = {}
    app_key, sources["app_key"] = _credential("app_key", values, name, config, missing)
    app_secret, sources["app_secret"] = _credential(
        "app_secret", values, name, config, missing
    )

    chosen_rate, chosen_concurrency = _check_pacing(
        rate, concurrency, values, name, config, sources
    )
    if chosen_rate is None:
        chosen_rate = DEFAULT_RATE[chosen_env]
        sources["rate"] = f"default for {chosen_env}"

    cache_override = os.environ.get("KIS_FETCH_CACHE_DIR")
    sources["cache_dir"] = "env KIS_FETCH_CACHE_DIR" if cache_override else "default"

    settings = Settings(
        app_key=app_key,
        app_secret=Secret(app_secret),
        env=chosen_env,
        base_url=url,
        rate=float(chosen_rate),
        concurrency=chosen_concurrency,
        cache_dir=default_cache_dir(),
    )
    return ResolvedSettings(
        settings=settings, sources=sources, profile=name, config=config,
        missing=missing,
    )  # fmt: skip


def _first(*candidates: tuple[str, Any]) -> tuple[Any, str]:
    """Return the first candidate value that is set, with its source label."""
    for source, value in candidates:
        if value is not None and value != "":
            return value, source
    raise AssertionError("the last candidate is always a default")


def _pick_profile(flag: str | None, config: ConfigFile) -> tuple[str | None, str]:
    """Return the selected profile name and where the choice came from."""
    name, source = flag, "flag --profile"
    if not name:
        name, source = os.environ.get(PROFILE_VAR), f"env {PROFILE_VAR}"
    if not name:
        name, source = config.default_profile, f"default_profile in {config.path}"
    if not name:
        return None, "none"
    if name in config.profiles:
        return name, source
    if not config.exists:
        raise ConfigError(
            f"profile {name!r} not found ({source}): config file {config.path} "
            "does not exist; create it with: kis-fetch config init"
        )
    known = ", ".join(repr(known) for known in config.profiles) or "none"
    raise ConfigError(
        f"profile {name!r} not found ({source}) in {config.path}; "
        f"profiles there: {known}"
    )


def _raise_invalid_env(
    value: str, source: str, config: ConfigFile, profile: str | None
) -> None:
    if source == "flag":
        raise InputError(f"invalid server {value!r}: use --env real or --env paper")
    if source.startswith("env "):
        raise ConfigError(
            f"invalid KIS_ENV {value!r}: set it to real or paper, or unset it"
        )
    assert profile is not None
    raise ConfigError(
        f'invalid {config.where(profile, "env")}: {value!r}; use "real" or "paper"'
    )


def _credential(
    key: str,
    values: dict[str, Any],
    profile: str | None,
    config: ConfigFile,
    missing: dict[str, str],
) -> tuple[str, str]:
    """Return an app key or secret and its source, or record a fix in `missing`."""
    variable = CREDENTIAL_VARS[key]
    from_env = os.environ.get(variable, "").strip()
    if from_env:
        return from_env, f"env {variable}"

    if profile is None:
        missing[key] = f"set {variable}"
        return "", "missing"

    literal = values.get(key)
    if isinstance(literal, str) and literal.strip():
        return literal.strip(), f"profile {profile!r}"

    indirect = values.get(f"{key}_env")
    if isinstance(indirect, str) and indirect:
        value = os.environ.get(indirect, "").strip()
        if value:
            return value, f"profile {profile!r} via env {indirect}"
        missing[key] = (
            f"set the environment variable {indirect} named by "
            f"{config.where(profile, key + '_env')}, or set {variable}"
        )
        return "", "missing"

    missing[key] = (
        f"set {key} or {key}_env in {config.where(profile)}, or set {variable}"
    )
    return "", "missing"


def _label(key: str) -> str:
    return "app key" if key == "app_key" else "app secret"


def _check_pacing(
    rate: float | None,
    concurrency: int | None,
    values: dict[str, Any],
    profile: str | None,
    config: ConfigFile,
    sources: dict[str, str],
) -> tuple[float | None, int | None]:
    """Return rate and concurrency from the flags or the profile, checked."""
    if rate is not None and not rate > 0:
        raise InputError(f"invalid --rate {rate}: use a positive number of requests/s")
    if concurrency is not None and concurrency < 1:
        raise InputError(f"invalid --concurrency {concurrency}: use 1 or more")

    if rate is not None:
        sources["rate"] = "flag"
    elif profile is not None and "rate" in values:
        rate = float(values["rate"])
        if not rate > 0:
            raise ConfigError(
                f"invalid {config.where(profile, 'rate')}: {rate:g}; use a "
                "positive number of requests per second"
            )
        sources["rate"] = f"profile {profile!r}"

    if concurrency is not None:
        sources["concurrency"] = "flag"
    elif profile is not None and "concurrency" in values:
        concurrency = int(values["concurrency"])
        if concurrency < 1:
            raise ConfigError(
                f"invalid {config.where(profile, 'concurrency')}: {concurrency}; "
                "use 1 or more"
            )
        sources["concurrency"] = f"profile {profile!r}"
    else:
        sources["concurrency"] = "default (sized from rate and latency)"
    return rate, concurrency
