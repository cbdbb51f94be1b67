"""Column types shared by the domain tables."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import Enum, String

ID_LENGTH = 64
"""Longest id a tenant may give a staff member, distributor, store, consumer or group."""


def ExternalId() -> String:
    """Return the column type of a tenant-given id (``S0001``, ``R-12``…)."""
    return String(ID_LENGTH)


def enum_column(enum: type[StrEnum], name: str) -> Enum:
    """Return a portable enum type: a VARCHAR with a CHECK constraint on its values."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum),
        values_callable=_values,
        validate_strings=True,
    )


def _values(enum: Any) -> list[str]:
    return [member.value for member in enum]
