"""Every setting and every CLI command is documented in README.md."""

import typer.main

from dailypapers.cli import app
from dailypapers.config import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_readme():
    missing = [
        f"DAILYPAPERS_{name.upper()}"
        for name in Settings.model_fields
        if f"`DAILYPAPERS_{name.upper()}`" not in README
    ]
    assert missing == []


def test_every_cli_command_is_in_the_readme():
    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names += [f"dailypapers {name} {sub}" for sub in command.commands]
        elif name != "version":
            names.append(f"dailypapers {name}")
    assert [n for n in names if n not in README] == []
