"""Parsers for the cells of import files: each returns a value or raises ValueError(reason)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from qunyun.core.money import parse_yuan

E = TypeVar("E", bound=StrEnum)

_PHONE_NOISE = str.maketrans("", "", " -()（）—")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}(?:-\d{1,6})?")
_SERVICE = re.compile(r"[48]00-?\d{3}-?\d{4}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def text(value: str) -> str:
    """Return free text as given (already stripped); refuse control characters.

    A line break inside a cell (Alt+Enter in Excel) becomes a space.
    """
    if _CONTROL.search(value):
        value = " ".join(part.strip() for part in value.splitlines() if part.strip())
        if _CONTROL.search(value):
            raise ValueError("含有控制字符")
    return value


def identifier(value: str) -> str:
    """Return an id: no control characters or inner line breaks."""
    if _CONTROL.search(value):
        raise ValueError("编号含有控制字符")
    return value


def phone(value: str) -> str:
    """Return a Chinese phone number normalised (mobile as 11 digits).

    Accept mobiles with ``+86`` / ``0086`` / ``86``, landlines ``020-12345678`` and 400/800
    numbers; raise ValueError for anything else.
    """
    compact = value.translate(_PHONE_NOISE)
    if compact.startswith("+") and not compact.startswith("+86"):
        raise ValueError(f"不是有效的电话号码：{value!r}（手机 11 位，或座机如 020-12345678）")
    digits = compact.removeprefix("+")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    if _MOBILE.fullmatch(digits):
        return digits
    landline = value.strip().replace(" ", "").replace("（", "").replace("）", "-")
    landline = landline.replace("(", "").replace(")", "-")
    if _LANDLINE.fullmatch(landline) or _SERVICE.fullmatch(landline):
        return landline
    raise ValueError(f"不是有效的电话号码：{value!r}（手机 11 位，或座机如 020-12345678）")


def choice(
    enum: type[E], labels: Mapping[E, str], aliases: Mapping[str, E] | None = None
) -> Callable[[str], E]:
    """Return a parser accepting the enum's values, their labels and aliases, in any case."""
    accepted: dict[str, E] = {member.value.lower(): member for member in enum}
    accepted.update({label.lower(): member for member, label in labels.items()})
    accepted.update({alias.lower(): member for alias, member in (aliases or {}).items()})
    shown = "、".join(
        f"{labels[member]}/{member.value}" if member in labels else member.value for member in enum
    )

    def parse(value: str) -> E:
        member = accepted.get(value.lower())
        if member is None:
            raise ValueError(f"{value!r} 不是可选值（可选：{shown}）")
        return member

    return parse


def integer_between(low: int, high: int) -> Callable[[str], int]:
    """Return a parser of whole numbers in ``low..high`` (``3.0`` from a spreadsheet is 3)."""

    def parse(value: str) -> int:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} 不是整数") from None
        if not math.isfinite(number) or number != int(number):
            raise ValueError(f"{value!r} 不是整数")
        if not low <= number <= high:
            raise ValueError(f"{value} 超出范围 {low}–{high}")
        return int(number)

    return parse


def tier(value: str) -> int:
    """Return a distributor tier from ``1`` / ``一级`` / ``一级经销商`` / ``T1``."""
    cleaned = value.strip().upper().removeprefix("T").removesuffix("经销商").removesuffix("分销商")
    cleaned = cleaned.removesuffix("级")
    numerals = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6}
    if cleaned in numerals:
        return numerals[cleaned]
    try:
        return integer_between(1, 9)(cleaned)
    except ValueError:
        raise ValueError(f"{value!r} 不是经销商级别（1/2/3 或 一级/二级/三级）") from None


def coordinate(low: float, high: float, what: str) -> Callable[[str], float]:
    """Return a parser of a decimal coordinate in ``low..high`` (China's extent)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} 不是数字") from None
        if not (math.isfinite(number) and low <= number <= high):
            raise ValueError(f"{what} {value} 不在中国境内（{low}–{high}）")
        return number

    return parse


latitude = coordinate(3.0, 54.0, "纬度")
longitude = coordinate(73.0, 136.0, "经度")


MAX_PURCHASE_YUAN = 10_000_000_000
"""Largest annual purchase a store row may state (100 亿元); more is a typo."""


def yuan(value: str) -> int:
    """Return fen from a yuan amount (``12345.6``, ``¥12,345``) of at most 100 亿元."""
    fen = parse_yuan(value)
    if fen > MAX_PURCHASE_YUAN * 100:
        raise ValueError(f"金额过大：{value}（上限 {MAX_PURCHASE_YUAN:,} 元）")
    return fen


def local_moment(zone: str) -> Callable[[str], datetime]:
    """Return a parser of ``2024-05-01`` or ``2024-05-01 18:00`` in ``zone``, giving UTC."""
    tz = ZoneInfo(zone)

    def parse(value: str) -> datetime:
        cleaned = value.strip().replace("/", "-")
        try:
            moment = datetime.fromisoformat(cleaned)
        except ValueError:
            raise ValueError(f"{value!r} 不是日期（如 2024-05-01）") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return moment.astimezone(UTC)

    return parse


def tag_list(value: str) -> tuple[str, ...]:
    """Return tag names from ``a;b`` / ``a，b`` / ``a|b`` (order kept, duplicates dropped)."""
    for separator in "；;，,|、":
        value = value.replace(separator, "\n")
    names = [name.strip() for name in value.split("\n") if name.strip()]
    for name in names:
        if len(name) > 40:
            raise ValueError(f"标签“{name[:20]}…”超过 40 个字符")
    return tuple(dict.fromkeys(names))
