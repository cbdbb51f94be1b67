"""The README documents every command and every setting (it fails when one is added silently)."""

from __future__ import annotations

from pathlib import Path

import typer.main

from qunyun.channel.imports import ENTITIES
from qunyun.cli.main import app
from qunyun.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(group: object, prefix: str = "qunyun") -> list[str]:
    found = []
    for name, command in sorted(group.commands.items()):  # type: ignore[attr-defined]
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            found.extend(_commands(command, path))
        else:
            found.append(path)
    return found


def test_every_command_is_in_the_readme() -> None:
    commands = _commands(typer.main.get_command(app))

    missing = [command for command in commands if command not in README]

    assert "qunyun import stores" in commands
    assert missing == []


def test_every_setting_is_in_the_readme() -> None:
    variables = [f"QUNYUN_{name.upper()}" for name in Settings.model_fields]

    assert variables == [
        "QUNYUN_HOME",
        "QUNYUN_DATABASE_URL",
        "QUNYUN_TIMEZONE",
        "QUNYUN_SECRET_KEY",
    ]
    assert [variable for variable in variables if f"`{variable}`" not in README] == []


def test_every_import_column_is_in_the_readme() -> None:
    missing = [
        f"{entity}.{item.column.name}"
        for entity, spec in ENTITIES.items()
        for item in spec.fields
        if f"`{item.column.name}`" not in README
    ]

    assert missing == []


def test_quick_start_is_exactly_make_demo_and_make_test() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("## ", 1)[0]
    block = quick_start.split("```", 2)[1]

    assert block.strip().splitlines() == ["make demo", "make test"]
