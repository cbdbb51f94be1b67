"""The group-health rollup: each group's health figures as of the lake's last day.

Group health (``analytics.group_health``) judges a group by sums of its group daily over
three windows ending on the as-of day — the 28 recent days, the 28 before them, the 90-day
life — and by its distinct customer senders of the recent days. For the lake's last day
these figures are stored (``group_health/part-….npy``), one row per group key, so that
health on the newest day is a read of one small file rather than a query over 90 days.

Every refresh of day rollups updates them from what changed: a window sum moves by the
refreshed days' new group daily minus their old, and, when the last day moves on, by the
days that enter or leave a window (three old days per day added), so the cost follows the
days, not the window. The senders come from the recent-customers rollup the same refresh
updated. Without stored figures, after many days at once (a rebuild) or when a refreshed
day's customer messages went down (only a change of the rollup's definition can do that),
they are computed from the window's group daily.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from qunyun.events.id_index import day_name, day_number, day_numbers, distinct_days
from qunyun.events.lake import LakeWriter, Manifest
from qunyun.events.recent import RECENT_DAYS
from qunyun.events.sorted_arrays import search_sorted

LIFE_DAYS = 90
"""The window in which a customer message keeps a group from being dead (local days)."""

SUMS = (
    "customer_messages",
    "active_days",
    "staff_messages",
    "previous_customer_messages",
    "life_messages",
)
"""The figures that are sums of group daily over a window, in the order stored."""

FIGURES = (*SUMS, "customer_senders", "last_customer_message")
"""The stored rows of ``group_health/part-….npy``, one column per group key; the last
customer message is a day number, -1 for none in the 90 days."""

INCREMENTAL_DAYS = 8
"""Refreshes of more days than this (or moving the last day further) compute from scratch."""

_READ = ["day", "group_key", "customer_messages", "staff_messages"]


def group_health_figures(
    writer: LakeWriter, old_daily: dict[str, list[Path]], previous: dict[str, str]
) -> np.ndarray | None:
    """Return the health figures as of the lake's last day after a refresh of day rollups.

    Call after the refreshed days' group daily are in the manifest. ``old_daily`` holds the
    group daily files the refreshed days had before (still on disk: retired files go at the
    commit), ``previous`` the stored figures' entry before the refresh. The senders' row is
    left for ``store_group_health``. None for an empty lake.
    """
    manifest = writer.manifest
    if not manifest.events:
        return None
    last = day_number(max(manifest.events))
    groups = manifest.group_count
    if previous and len(old_daily) <= INCREMENTAL_DAYS:
        before = day_number(previous["day"])
        if before <= last <= before + INCREMENTAL_DAYS:
            figures = _moved(writer, old_daily, previous, before, last, groups)
            if figures is not None:
                return figures
    return _from_scratch(writer.lake.folder, manifest, last, groups)


def store_group_health(
    writer: LakeWriter, figures: np.ndarray, senders: np.ndarray, previous: dict[str, str]
) -> None:
    """Stage ``figures`` with each group's customer senders (from the recent customers), publish."""
    manifest = writer.manifest
    figures[FIGURES.index("customer_senders")] = senders
    folder = writer.scratch("group_health")
    np.save(folder / "part.npy", figures)
    if previous:
        writer.retire([previous["file"]])
    ((_, name),) = writer.publish(folder, "group_health")
    manifest.group_health = {"file": name, "day": max(manifest.events)}


def read_group_health(path: Path) -> np.ndarray:
    """Return the stored figures: one row per name of ``FIGURES``, one column per group key."""
    figures: np.ndarray = np.load(path, mmap_mode="r")
    return figures


def _moved(
    writer: LakeWriter,
    old_daily: dict[str, list[Path]],
    previous: dict[str, str],
    before: int,
    last: int,
    groups: int,
) -> np.ndarray | None:
    """Return the stored figures moved from ``before`` to ``last``, or None to start afresh."""
    manifest = writer.manifest
    stored = read_group_health(writer.lake.folder / previous["file"])
    figures = np.zeros((len(FIGURES), groups), dtype=np.int64)
    figures[len(FIGURES) - 1] = -1
    figures[:, : stored.shape[1]] = stored
    refreshed = {day_number(day) for day in old_daily}
    # days outside the refresh whose place in a window changes as the last day moves
    moving = [
        day
        for day in range(before - LIFE_DAYS + 1, last + 1)
        if day not in refreshed and _windows(day, before) != _windows(day, last)
    ]
    old = _read(
        [path for paths in old_daily.values() for path in paths] + _files(writer, manifest, moving)
    )
    new = _read(_files(writer, manifest, [*sorted(refreshed), *moving]))
    old_spoke, new_spoke = _spoke_by_day(old), _spoke_by_day(new)
    for day in refreshed:
        # customer messages only go down when the rollup's definition changed
        _, kept = search_sorted(new_spoke.get(day, _NONE), old_spoke.get(day, _NONE))
        if not kept.all():
            return None
    figures[: len(SUMS)] += _sums(new, last, groups) - _sums(old, before, groups)
    ends = figures[len(FIGURES) - 1]
    ends[ends < last - LIFE_DAYS + 1] = -1
    _latest(ends, new, last)
    return figures


_NONE = np.zeros(0, dtype=np.int64)


def _spoke_by_day(rows: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """Return the group keys with customer messages of each day in ``rows``."""
    spoke = rows["customer_messages"] > 0
    result: dict[int, np.ndarray] = {}
    for day in distinct_days(rows["day"]).tolist():
        result[day] = np.sort(rows["group_key"][spoke & (rows["day"] == day)])
    return result


def _windows(day: int, last: int) -> tuple[bool, bool, bool]:
    """Return whether ``day`` is in the recent, the previous and the life window of ``last``."""
    age = last - day
    return (
        0 <= age < RECENT_DAYS,
        RECENT_DAYS <= age < 2 * RECENT_DAYS,
        0 <= age < LIFE_DAYS,
    )


def _from_scratch(folder: Path, manifest: Manifest, last: int, groups: int) -> np.ndarray:
    days = [day for day in manifest.group_daily if day_number(day) > last - LIFE_DAYS]
    rows = _read([folder / name for day in sorted(days) for name in manifest.group_daily[day]])
    figures = np.zeros((len(FIGURES), groups), dtype=np.int64)
    figures[: len(SUMS)] = _sums(rows, last, groups)
    figures[len(FIGURES) - 1] = -1
    _latest(figures[len(FIGURES) - 1], rows, last)
    return figures


def _sums(rows: dict[str, np.ndarray], last: int, groups: int) -> np.ndarray:
    """Return the window sums of group-daily ``rows`` as of ``last``, one row per of ``SUMS``."""
    age = last - rows["day"]
    group = rows["group_key"]
    customer = rows["customer_messages"]
    recent = (age >= 0) & (age < RECENT_DAYS)
    earlier = (age >= RECENT_DAYS) & (age < 2 * RECENT_DAYS)
    life = (age >= 0) & (age < LIFE_DAYS)

    def total(where: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(group[where], weights=values[where], minlength=groups)

    return np.round(
        np.stack(
            [
                total(recent, customer),
                total(recent, (customer > 0).astype(np.int64)),
                total(recent, rows["staff_messages"]),
                total(earlier, customer),
                total(life, customer),
            ]
        )
    ).astype(np.int64)


def _latest(ends: np.ndarray, rows: dict[str, np.ndarray], last: int) -> None:
    """Raise each group's last customer-message day to the latest of ``rows`` in the life."""
    age = last - rows["day"]
    spoke = (rows["customer_messages"] > 0) & (age >= 0) & (age < LIFE_DAYS)
    np.maximum.at(ends, rows["group_key"][spoke], rows["day"][spoke])


def _files(writer: LakeWriter, manifest: Manifest, days: list[int]) -> list[Path]:
    names = [day_name(day) for day in days]
    return [
        writer.lake.folder / name for day in names for name in manifest.group_daily.get(day, [])
    ]


def _read(paths: list[Path]) -> dict[str, np.ndarray]:
    """Return the columns health needs of group-daily files (day as day numbers)."""
    if paths:
        table = ds.dataset([str(path) for path in paths], format="parquet").to_table(columns=_READ)
    else:
        table = pa.table(
            {
                "day": pa.array([], pa.date32()),
                "group_key": pa.array([], pa.int32()),
                "customer_messages": pa.array([], pa.int64()),
                "staff_messages": pa.array([], pa.int64()),
            }
        )
    columns = {
        name: np.asarray(table.column(name).to_numpy(), dtype=np.int64)
        for name in _READ
        if name != "day"
    }
    columns["day"] = day_numbers(table.column("day"))
    return columns
