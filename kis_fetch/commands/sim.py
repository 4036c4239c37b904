"""`kis-fetch sim`: run the local KIS gateway simulator."""

from __future__ import annotations

from pathlib import Path

import typer


def sim(
    master_dir: Path = typer.Option(
        ...,
        "--master-dir",
        metavar="DIR",
        help="Folder searched recursively for kospi_code.mst, kosdaq_code.mst "
        "and *MST.COD master files.",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", metavar="ADDRESS", help="Address to listen on."
    ),
    port: int = typer.Option(
        0, "--port", metavar="PORT", help="TCP port; 0 picks a free one."
    ),
    flavor: str = typer.Option(
        "real",
        "--flavor",
        metavar="real|paper",
        help="Server to imitate: real or paper.",
    ),
    rate_limit: int | None = typer.Option(
        None,
        "--rate-limit",
        metavar="N",
        help="Accepted requests per app key in any 1-second window; 0 or less "
        "disables the limit [default: 20 on real, 1 on paper].",
    ),
    latency: str = typer.Option(
        "0",
        "--latency",
        metavar="SECONDS|MIN-MAX",
        help="Seconds of delay before responding to a data call: fixed (0.05) "
        "or drawn uniformly from a range (0.05-0.2).",
    ),
    arrival_jitter: float = typer.Option(
        0.0,
        "--arrival-jitter",
        metavar="SECONDS",
        help="Maximum seconds of uniform delay before a request is counted "
        "against the rate limit.",
    ),
    token_lifetime: float = typer.Option(
        86400.0,
        "--token-lifetime",
        metavar="SECONDS",
        help="Access token lifetime in seconds.",
    ),
    same_token_window: float = typer.Option(
        6 * 3600.0,
        "--same-token-window",
        metavar="SECONDS",
        help="Seconds after an issuance during which a token request returns "
        "the same token.",
    ),
    issuance_interval: float = typer.Option(
        60.0,
        "--issuance-interval",
        metavar="SECONDS",
        help="Minimum seconds between token responses for one app key; "
        "earlier requests get EGW00133.",
    ),
    fault_rate: float = typer.Option(
        0.0,
        "--fault-rate",
        metavar="FRACTION",
        help="Fraction of data calls that fail, from 0 to 1.",
    ),
    fault_kinds: str = typer.Option(
        "html502,drop,hang,egw00002",
        "--fault-kinds",
        metavar="KIND,...",
        help="Fault kinds to draw from at random, comma-separated: html502, "
        "drop, hang, egw00002.",
    ),
    hang_seconds: float = typer.Option(
        60.0,
        "--hang-seconds",
        metavar="SECONDS",
        help="Seconds a 'hang' fault holds a request before closing the connection.",
    ),
    seed: int = typer.Option(
        0, "--seed", metavar="N", help="Seed for latency and fault draws."
    ),
    keys: list[str] = typer.Option(
        [],
        "--key",
        metavar="KEY:SECRET[:real|paper]",
        help="Accept only this app key and secret, issued for real or paper "
        "[default: --flavor]; repeatable. Without --key, any key is accepted "
        "and bound to the first secret it sends.",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at debug level."),
) -> None:
    """Run a local simulator of the KIS Open API quotation gateway.

    Prints 'listening on http://HOST:PORT' once ready and serves until
    Ctrl-C or SIGTERM. Exits 2 for an invalid option or missing master
    files, and 1 when it cannot listen on HOST:PORT.
    """
    import logging

    from kis_fetch.errors import EXIT_USAGE, InputError
    from kis_fetch.sim.config import (
        MAX_PORT,
        Flavor,
        SimConfig,
        parse_fault_kinds,
        parse_key,
        parse_latency,
    )
    from kis_fetch.sim.runner import run

    # Checked here for a one-line error. SimConfig rejects the port too, but
    # that error goes through typer.BadParameter, which adds the usage text.
    if not 0 <= port <= MAX_PORT:
        typer.echo(
            f"kis-fetch sim: invalid --port {port}: use 1 to {MAX_PORT}, "
            "or 0 for a free port",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if flavor not in ("real", "paper"):
        raise typer.BadParameter(
            f"invalid flavor {flavor!r}: use real or paper", param_hint="--flavor"
        )
    server_flavor: Flavor = "real" if flavor == "real" else "paper"
    try:
        latency_min, latency_max = parse_latency(latency)
        key_specs = tuple(parse_key(text, server_flavor) for text in keys)
        config = SimConfig(
            master_dir=master_dir,
            host=host,
            port=port,
            flavor=server_flavor,
            rate_limit=rate_limit,
            latency_min=latency_min,
            latency_max=latency_max,
            arrival_jitter=arrival_jitter,
            token_lifetime=token_lifetime,
            same_token_window=same_token_window,
            issuance_interval=issuance_interval,
            fault_rate=fault_rate,
            fault_kinds=parse_fault_kinds(fault_kinds),
            hang_seconds=hang_seconds,
            seed=seed,
            keys=key_specs,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        run(config)
    except (FileNotFoundError, InputError) as exc:
        typer.echo(f"kis-fetch sim: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except OSError as exc:
        # bind() fails when the address is in use or needs privileges, and
        # getaddrinfo() when the host name does not resolve.
        typer.echo(
            f"kis-fetch sim: cannot listen on {host}:{port}: {exc}; choose "
            "another --host or --port, or --port 0 for a free port",
            err=True,
        )
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    app.command(name="sim")(sim)
