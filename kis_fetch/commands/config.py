"""`kis-fetch config show` and `kis-fetch config init`, and the `--profile`
option that the fetching commands share."""

from __future__ import annotations

from pathlib import Path

import typer

from kis_fetch.commands import common

PROFILE_OPTION = typer.Option(
    None,
    "--profile",
    metavar="NAME",
    help="Profile of the config file to use (env KIS_PROFILE) "
    "[default: default_profile in the file].",
)

TEMPLATE = """\
# kis-fetch configuration.
#
# Each setting takes the first value found among: a command-line flag, an
# environment variable (KIS_APP_KEY, KIS_APP_SECRET, KIS_ENV, KIS_BASE_URL),
# the selected profile, and the built-in default.
# Select a profile with --profile NAME or KIS_PROFILE=NAME.
# `kis-fetch config show` prints the settings in effect and their sources.

# Profile to use when neither --profile nor KIS_PROFILE is given.
# default_profile = "real"

[profiles.real]
# The app key and app secret from the KIS developer portal. Write them here
# (this file must stay mode 0600) or name environment variables that
# contain them with app_key_env and app_secret_env. Set one of each pair.
# app_key = "PSxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
# app_secret = "..."
app_key_env = "KIS_REAL_APP_KEY"
app_secret_env = "KIS_REAL_APP_SECRET"
env = "real"
# Server URL; plain http:// is accepted only for localhost or loopback.
# base_url = "https://openapi.koreainvestment.com:9443"
# Requests per second [default: 20 on real, 1 on paper]. A 2026 KIS notice
# is reported to lower the real limit to 18 per account, so 18 is the safer
# choice on a real account.
# rate = 18
# Requests in flight [default: sized from rate and observed latency].
# concurrency = 16

[profiles.paper]
# A paper-trading (모의투자) account has its own app key and secret.
app_key_env = "KIS_PAPER_APP_KEY"
app_secret_env = "KIS_PAPER_APP_SECRET"
env = "paper"
"""

config_app = typer.Typer(
    help="Show or create the config file with named profiles.",
    no_args_is_help=True,
)


@config_app.command("show")
def show(
    profile: str | None = PROFILE_OPTION,
    env: str | None = common.ENV_OPTION,
    base_url: str | None = common.BASE_URL_OPTION,
    rate: float | None = common.RATE_OPTION,
    concurrency: int | None = common.CONCURRENCY_OPTION,
    verbose: int = common.VERBOSE_OPTION,
) -> None:
    """Print the settings in effect and where each came from.

    Sources: flag, env VARIABLE, profile NAME or default. The app key is
    masked, and no character of the app secret or the access token is
    printed. Exits 3 when the credentials are missing, after printing the
    table.
    """
    common.setup_logging(verbose, common.stderr_console())
    with common.reported_errors():
        _show(profile, env, base_url, rate, concurrency)


def _show(
    profile: str | None,
    env: str | None,
    base_url: str | None,
    rate: float | None,
    concurrency: int | None,
) -> None:
    from kis_fetch.config import resolve_with_sources
    from kis_fetch.secret import mask

    resolved = resolve_with_sources(
        env=env, base_url=base_url, rate=rate, concurrency=concurrency, profile=profile
    )
    settings = resolved.settings
    sources = resolved.sources
    config = resolved.config
    state = (
        "" if config.exists else " (not found; create it with: kis-fetch config init)"
    )
    app_key = mask(settings.app_key) if settings.app_key else "(not set)"
    app_secret = "set (hidden)" if settings.app_secret else "(not set)"
    concurrency_text = (
        "auto" if settings.concurrency is None else str(settings.concurrency)
    )
    rows = [
        ("config file", f"{config.path}{state}", ""),
        ("profile", resolved.profile or "(none)", sources["profile"]),
        ("env", settings.env, sources["env"]),
        ("base_url", settings.base_url, sources["base_url"]),
        ("app_key", app_key, sources["app_key"]),
        ("app_secret", app_secret, sources["app_secret"]),
        ("rate", f"{settings.rate:g} requests/s", sources["rate"]),
        ("concurrency", concurrency_text, sources["concurrency"]),
        ("cache_dir", str(settings.cache_dir), sources["cache_dir"]),
    ]
    if config.profiles:
        rows.append(("profiles", ", ".join(config.profiles), ""))
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        suffix = f"  [{source}]" if source else ""
        typer.echo(f"{name.ljust(width)}  {value}{suffix}")
    resolved.require("app_key", "app_secret")


@config_app.command("init")
def init(
    force: bool = typer.Option(
        False, "--force", help="Replace an existing config file."
    ),
) -> None:
    """Write a commented config file template with mode 0600.

    The file goes to KIS_FETCH_CONFIG, else config.toml in the user config
    folder, which is created with mode 0700. Exits 2 when the file exists
    and --force is not given.
    """
    with common.reported_errors():
        path = write_template(force=force)
    typer.echo(f"wrote {path}: fill in a profile, then run: kis-fetch config show")


def write_template(*, force: bool) -> Path:
    """Write TEMPLATE to the config path and return that path."""
    import os

    from kis_fetch.config import config_path, default_config_dir
    from kis_fetch.errors import ConfigError, InputError

    path = config_path()
    if path.exists() and not force:
        raise InputError(
            f"config file {path} already exists: edit it, or pass --force to "
            "replace it with the template"
        )
    folder = path.parent
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if not folder.exists() or folder == default_config_dir():
            # Only a folder that kis-fetch creates or owns is narrowed to 0700.
            # An existing folder named by KIS_FETCH_CONFIG keeps its mode.
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(folder, 0o700)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, TEMPLATE.encode())
            os.fchmod(descriptor, 0o600)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write config file {path}: {exc.strerror or exc}; "
            "point KIS_FETCH_CONFIG at a writable location"
        ) from None
    return path


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
