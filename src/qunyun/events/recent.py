"""The recent-customers rollup: who spoke as a customer in each group lately, and when last.

One row per (group, member) pair whose member is not staff and sent a message in the group
on one of the ``RECENT_DAYS`` local days ending on the lake's last day, with the last such
day. Group health counts a group's customer senders of the 28 days ending on any as-of day
from the lake's last day on as the pairs whose last day is in those 28 days: a count over
this table instead of a distinct over 28 days of the member-daily rollup.

It is kept by every refresh of day rollups, from the refreshed days' pairs alone: events are
only ever added, so a day's pairs only grow and "the last day" of a pair is the largest day
it was seen on. When the lake's last day moves on, pairs last seen before the new window
drop out. The file and each day's pairs are sorted, so an update is a merge of sorted runs.
The rollup is a NumPy file (``recent_customers/part-….npy``: a 2 × n int64 array of the
sorted pairs and their last day numbers), memory-mapped when read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qunyun.events.id_index import day_name, day_number, day_numbers
from qunyun.events.lake import LakeWriter, Manifest

RECENT_DAYS = 28
"""The window of group health's recent figures (local days, the as-of day included)."""

RECENT_CUSTOMERS_SCHEMA = pa.schema(
    [("group_key", pa.int32()), ("member_key", pa.int32()), ("last_day", pa.date32())]
)


def customer_pairs(member_daily: pa.Table) -> np.ndarray:
    """Return the sorted ``group_key << 32 | member_key`` of a day's customers who spoke."""
    spoke = pc.and_(
        pc.and_(pc.is_valid(member_daily.column("group_key")), pc.invert(member_daily["is_staff"])),
        pc.greater(member_daily.column("messages"), 0),
    )
    rows = member_daily.filter(spoke)
    group = np.asarray(rows.column("group_key").to_numpy(), dtype=np.int64)
    member = np.asarray(rows.column("member_key").to_numpy(), dtype=np.int64)
    return np.sort((group << 32) | member)


def _read_pairs(writer: LakeWriter, names: list[str]) -> list[np.ndarray]:
    return [
        customer_pairs(pq.read_table(str(path), columns=_PAIR_COLUMNS, partitioning=None))
        for path in writer.lake.paths(names)
    ]


_PAIR_COLUMNS = ["group_key", "member_key", "is_staff", "messages"]


def recent_window(manifest: Manifest) -> list[str]:
    """Return the ``RECENT_DAYS`` days (YYYY-MM-DD) ending on the lake's last day, or none."""
    if not manifest.events:
        return []
    end = day_number(max(manifest.events))
    return [day_name(day) for day in range(end - (RECENT_DAYS - 1), end + 1)]


def update_recent_customers(
    writer: LakeWriter, refreshed: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Merge the customer pairs of the ``refreshed`` days (day → pairs) into the rollup.

    The other days of the window must have their member daily in the manifest. Without a
    stored rollup (or when every day of the window was refreshed) it is built from the
    window's days. The refresh runs this on a worker thread beside the health figures: it
    touches only its own staging folder and the manifest's ``recent_customers``.
    Return the rollup's sorted pairs and their last days (day numbers), None for an empty lake.
    """
    manifest = writer.manifest
    window = recent_window(manifest)
    if not window:
        return None
    last = window[-1]
    start = day_number(window[0])
    stored = manifest.recent_customers
    runs: list[tuple[np.ndarray, np.ndarray]] = []
    if stored and not all(day in refreshed for day in window if day in manifest.member_daily):
        keys, days = read_recent_customers(writer.lake.folder / stored["file"])
        inside = days >= start
        runs.append((keys, days) if inside.all() else (keys[inside], days[inside]))
    else:
        for day in window:
            if day not in refreshed and day in manifest.member_daily:
                for pairs in _read_pairs(writer, manifest.member_daily[day]):
                    runs.append((pairs, np.full(len(pairs), day_number(day))))
    runs += [
        (pairs, np.full(len(pairs), day_number(day)))
        for day, pairs in sorted(refreshed.items())
        if day in window
    ]
    if not runs:
        merged = np.zeros((2, 0), np.int64)
    elif len(runs) <= 3:
        keys, days = runs[0]
        if len(runs) == 1:
            merged = np.stack([keys, days])
        for pairs, seen in runs[1:]:
            merged = _merge_run(keys, days, pairs, seen)
            keys, days = merged[0], merged[1]
    else:
        keys = np.concatenate([keys for keys, _ in runs])
        days = np.concatenate([days for _, days in runs])
        # every run is sorted: a stable sort merges them; a pair of several days keeps the last
        order = np.argsort(keys, kind="stable")
        keys, days = keys[order], days[order]
        if len(keys):
            starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            keys, days = keys[starts], np.maximum.reduceat(days, starts)
        merged = np.stack([keys, days])
    folder = writer.scratch("recent_customers")
    # raw arrays, not Parquet: the rollup is rewritten by every refresh (4 M pairs at 10^8
    # events), and a NumPy file is written and memory-mapped back at the speed of a copy
    np.save(folder / "part.npy", merged)
    if stored:
        writer.retire([stored["file"]])
    ((_, name),) = writer.publish(folder, "recent_customers")
    manifest.recent_customers = {"file": name, "day": last}
    return merged[0], merged[1]


def read_recent_customers(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return the stored rollup's sorted ``group_key << 32 | member_key`` and last day numbers.

    A rollup stored as Parquet (by lakes written before the NumPy file) is read as well.
    """
    if path.suffix == ".npy":
        stored = np.load(path, mmap_mode="r")
        # plain arrays over the mapping: a memmap's indexing adds a Python wrapper per call
        return np.asarray(stored[0]), np.asarray(stored[1])
    table = pq.read_table(str(path), partitioning=None)
    keys = (np.asarray(table.column("group_key").to_numpy(), dtype=np.int64) << 32) | (
        np.asarray(table.column("member_key").to_numpy(), dtype=np.int64)
    )
    return keys, day_numbers(table.column("last_day"))


def recent_customers_table(path: Path) -> pa.Table:
    """Return the stored rollup as a table of ``RECENT_CUSTOMERS_SCHEMA``."""
    keys, days = read_recent_customers(path)
    return pa.Table.from_arrays(
        [
            pa.array((keys >> 32).astype(np.int32)),
            pa.array((keys & 0xFFFFFFFF).astype(np.int32)),
            pa.array(np.asarray(days, dtype=np.int32)).cast(pa.date32()),
        ],
        schema=RECENT_CUSTOMERS_SCHEMA,
    )


def _merge_run(
    keys: np.ndarray, days: np.ndarray, pairs: np.ndarray, seen: np.ndarray
) -> np.ndarray:
    """Merge sorted unique ``pairs`` seen on ``seen`` days into sorted unique ``keys``.

    A pair already there keeps the later of its two days; the others are placed in order.
    Return the merged keys and days as the two rows of one array.
    """
    at = np.searchsorted(keys, pairs)
    found = at < len(keys)
    found[found] = keys[at[found]] == pairs[found]
    new = np.flatnonzero(~found)
    place = at[new] + np.arange(len(new))
    merged = np.empty((2, len(keys) + len(new)), dtype=np.int64)
    # row views: NumPy's mixed (row, mask) indexing is ten times slower than a mask on a row
    merged_keys, merged_days = merged[0], merged[1]
    old = np.ones(len(merged_keys), dtype=bool)
    old[place] = False
    merged_keys[place], merged_days[place] = pairs[new], seen[new]
    merged_keys[old], merged_days[old] = keys, days
    if found.any():
        # where the old keys went among the merged, for those seen again
        target = np.flatnonzero(old)[at[found]]
        merged_days[target] = np.maximum(merged_days[target], seen[found])
    return merged
