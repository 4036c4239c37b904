"""Run the simulator: python -m kis_fetch.sim --port 0 --master-dir DIR."""

import typer

from kis_fetch.commands.sim import register

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(app)
app(prog_name="python -m kis_fetch.sim")
