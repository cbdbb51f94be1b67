"""Local times of day: red-packet windows and 接龙 cutoffs."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_time(text: str) -> time:
    """Return the local time in ``HH:MM``; raise ValueError for anything else."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"时间应为 HH:MM（收到 {text!r}）")
    return time(int(match.group(1)), int(match.group(2)))


def parse_cutoffs(text: str) -> list[time]:
    """Return the sorted cutoff times of ``12:00,20:00``; raise ValueError when none or bad."""
    parts = [part for part in text.replace("，", ",").split(",") if part.strip()]
    if not parts:
        raise ValueError("至少需要一个截单时间（如 12:00,20:00）")
    times = sorted({parse_time(part) for part in parts})
    return times


def local_moment(day: date, at: time, zone: str) -> datetime:
    """Return the aware UTC-comparable moment of ``at`` on ``day`` in ``zone``."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone))


def in_window(moment: datetime, start: time, end: time, zone: str) -> bool:
    """Return whether ``moment``'s local time lies in ``[start, end)`` (may wrap past midnight).

    ``start == end`` is the whole day (``00:00``–``00:00``).
    """
    local = moment.astimezone(ZoneInfo(zone)).time()
    if start == end:
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_day(day: date) -> date:
    """Return the day after ``day``."""
    return day + timedelta(days=1)
