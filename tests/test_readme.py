"""The README's examples agree with the code: the profile example with the
`config init` template, and the simulator's master download command runs."""

from __future__ import annotations

import re
from pathlib import Path

from sim_fixture import MASTER_DIR
from typer.testing import CliRunner

from kis_fetch.cli import app
from kis_fetch.commands.config import TEMPLATE

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def toml_blocks(text: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL)


def test_profile_rate_matches_template() -> None:
    (example,) = toml_blocks(README)
    readme_rates = re.findall(r"^rate = (\S+)", example, flags=re.MULTILINE)
    template_rates = re.findall(r"^# rate = (\S+)", TEMPLATE, flags=re.MULTILINE)
    assert readme_rates == ["18"]
    assert template_rates == readme_rates


def test_sim_master_download_command_runs(sim, tmp_path, monkeypatch) -> None:
    documented = re.search(
        r"^kis-fetch symbols update --base-url http://127\.0\.0\.1:8080(/\S+)",
        README,
        flags=re.MULTILINE,
    )
    assert documented is not None
    assert documented.group(1) == "/common/master"
    monkeypatch.delenv("KIS_FETCH_MASTER_URL", raising=False)
    target = tmp_path / "masters"
    result = CliRunner().invoke(
        app,
        ["symbols", "update", "kospi", "nas", "--master-dir", str(target),
         "--base-url", sim.base_url + documented.group(1)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    kospi = next(MASTER_DIR.rglob("kospi_code.mst"))
    assert (target / "kospi_code.mst").read_bytes() == kospi.read_bytes()
    assert (target / "NASMST.COD").is_file()
