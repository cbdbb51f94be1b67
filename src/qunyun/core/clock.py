"""Time: stored in UTC, shown and bucketed by day in the tenant's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"


def utcnow() -> datetime:
    """Return the current time, tz-aware in UTC."""
    return datetime.now(UTC)


def to_local(moment: datetime, zone: str = DEFAULT_ZONE) -> datetime:
    """Return ``moment`` in ``zone``; raise ValueError when it is naive."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: Qunyun only handles tz-aware times")
    return moment.astimezone(ZoneInfo(zone))


def local_date(moment: datetime, zone: str = DEFAULT_ZONE) -> date:
    """Return the calendar date of ``moment`` in ``zone``."""
    return to_local(moment, zone).date()


def format_local(moment: datetime | None, zone: str = DEFAULT_ZONE) -> str:
    """Return ``moment`` as ``YYYY-MM-DD HH:MM`` local time, or an empty string."""
    if moment is None:
        return ""
    return to_local(moment, zone).strftime("%Y-%m-%d %H:%M")
