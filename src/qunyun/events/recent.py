"""The recent-customers rollup: who spoke as a customer in each group lately, and when last.

One row per (group, member) pair whose member is not staff and sent a message in the group
on one of the ``RECENT_DAYS`` local days ending on the lake's last day, with the last such
day. Group health counts a group's customer senders of the 28 days ending on any as-of day
from the lake's last day on as the pairs whose last day is in those 28 days: a count over
this table instead of a distinct over 28 days of the member-daily rollup.

It is kept by every refresh of day rollups, from the refreshed days' pairs alone: events are
only ever added, so a day's pairs only grow and "the last day" of a pair is the largest day
it was seen on. When the lake's last day moves on, pairs last seen before the new window
drop out.

Stored as NumPy files, memory-mapped when read: a **base** (``recent_customers/part-….npy``,
a 2 × n int64 array of sorted pairs and their last day numbers) and one **day run** per day
refreshed since the base was written (``recent_customers/day=…/part-….npy``, 2 × m: that
day's sorted customer pairs and, beside each, its day in the base or -1). The table is the
base's pairs inside the window merged with the runs, each pair at its largest day. A refresh
writes only its days' runs (a refreshed day's run replaces the one it had: its pairs only
grow) and folds the runs into a new base once they hold ``RUN_SHARE`` of the base's pairs,
so the base (65 MB at 10^8 events) is rewritten every few days instead of every day. The
base day beside each run pair tells whether the base's window already counts it, so a
group's customer senders are the base's pairs in the window plus the runs' distinct pairs
that it lacks: a search of the refreshed days' pairs in the base, not a merge.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qunyun.events.id_index import day_name, day_number, day_numbers
from qunyun.events.lake import LakeWriter, Manifest
from qunyun.events.sorted_arrays import first_of_runs, is_sorted, search_sorted

RECENT_DAYS = 28
"""The window of group health's recent figures (local days, the as-of day included)."""

RUN_SHARE = 0.25
"""The day runs are folded into a new base once they hold this share of the base's pairs."""

MERGED_RUNS = 8
"""Up to this many runs are united by merging them one by one, more by one stable sort (the
28 days of a rebuild): folding three day runs of 270k pairs into the base took 0.30–0.36 s
of CPU with the sort, 0.10–0.16 s merged one by one (10^8 events)."""

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
    pairs = (group << 32) | member
    # a day's rollup from a file in pair order is sorted already
    return pairs if is_sorted(pairs) else np.sort(pairs)


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
) -> np.ndarray | None:
    """Bring the rollup to the ``refreshed`` days' customer pairs (day → sorted pairs).

    The other days of the window must have their member daily in the manifest. Without a
    stored base (or when every day of the window was refreshed) the base is built from the
    window's days. The refresh runs this on a worker thread beside the health figures: it
    touches only its own staging folders and the manifest's recent-customers entries.
    Return each group key's customer senders of the window, None for an empty lake.
    """
    manifest = writer.manifest
    window = recent_window(manifest)
    if not window:
        return None
    start = day_number(window[0])
    groups = manifest.group_count
    folder = writer.lake.folder
    fresh = {day: pairs for day, pairs in refreshed.items() if day in window}
    stored = manifest.recent_customers
    if not stored or all(day in fresh for day in window if day in manifest.member_daily):
        runs: list[tuple[np.ndarray, np.ndarray]] = []
        for day in window:
            if day not in fresh and day in manifest.member_daily:
                for pairs in _read_pairs(writer, manifest.member_daily[day]):
                    runs.append((pairs, np.full(len(pairs), day_number(day))))
        runs += [
            (pairs, np.full(len(pairs), day_number(day))) for day, pairs in sorted(fresh.items())
        ]
        keys, days = _union(runs)
        return _store_base(writer, keys, days, window[-1], groups)
    base_keys, base_days = read_recent_customers(folder / stored["file"])
    kept = {
        day: name
        for day, name in manifest.recent_customer_runs.items()
        if day >= window[0] and day not in fresh
    }
    day_runs = {day: _read_run(folder / name) for day, name in kept.items()}
    for day, pairs in fresh.items():
        if len(pairs):
            replaced = manifest.recent_customer_runs.get(day)
            known = _read_run(folder / replaced) if replaced else None
            day_runs[day] = np.stack([pairs, _base_days(base_keys, base_days, pairs, known)])
    if sum(run.shape[1] for run in day_runs.values()) > RUN_SHARE * len(base_keys):
        keys, days = _merged(base_keys, base_days, day_runs, start)
        return _store_base(writer, keys, days, window[-1], groups)
    writer.retire([name for day, name in manifest.recent_customer_runs.items() if day not in kept])
    staged = writer.scratch("recent_customer_runs")
    for day in sorted(fresh):
        if day in day_runs:
            (staged / f"day={day}").mkdir()
            np.save(staged / f"day={day}" / "part.npy", day_runs[day])
    manifest.recent_customer_runs = dict(kept)
    manifest.recent_customer_runs.update(writer.publish(staged, "recent_customers"))
    manifest.recent_customers = {"file": stored["file"], "day": window[-1]}
    return _senders(base_keys, base_days, list(day_runs.values()), start, groups)


def _store_base(
    writer: LakeWriter, keys: np.ndarray, days: np.ndarray, last: str, groups: int
) -> np.ndarray:
    """Stage ``keys`` and ``days`` as the new base without day runs; return the senders."""
    manifest = writer.manifest
    folder = writer.scratch("recent_customers")
    # raw arrays, not Parquet: the base is rewritten every few refreshes (4 M pairs at 10^8
    # events), and a NumPy file is written and memory-mapped back at the speed of a copy
    np.save(folder / "part.npy", np.stack([keys, days]))
    if manifest.recent_customers:
        writer.retire([manifest.recent_customers["file"]])
    writer.retire(list(manifest.recent_customer_runs.values()))
    ((_, name),) = writer.publish(folder, "recent_customers")
    manifest.recent_customers = {"file": name, "day": last}
    manifest.recent_customer_runs = {}
    return np.diff(np.searchsorted(keys, _group_starts(groups)))


def _group_starts(groups: int) -> np.ndarray:
    """Return the smallest pair of each group key and of the one after the last."""
    return np.arange(groups + 1, dtype=np.int64) << 32


def _base_days(
    base_keys: np.ndarray, base_days: np.ndarray, pairs: np.ndarray, known: np.ndarray | None
) -> np.ndarray:
    """Return the base's day of each of the sorted ``pairs``, -1 for those it lacks.

    ``known`` is the run the day had (a subset of ``pairs``: they only grow), whose pairs
    need no search in the base (a search among 4 M pairs at 10^8 events).
    """
    days = np.full(len(pairs), -1, dtype=np.int64)
    wanted = np.arange(len(pairs))
    if known is not None and known.shape[1]:
        at, found = search_sorted(pairs, known[0])
        days[at[found]] = known[1][found]
        seen = np.zeros(len(pairs), dtype=bool)
        seen[at[found]] = True
        wanted = np.flatnonzero(~seen)
    at, found = search_sorted(base_keys, pairs[wanted])
    days[wanted[found]] = base_days[at[found]]
    return days


def _senders(
    base_keys: np.ndarray,
    base_days: np.ndarray,
    day_runs: list[np.ndarray],
    start: int,
    groups: int,
) -> np.ndarray:
    """Return each group's distinct pairs in the base's window (from ``start``) and the runs."""
    senders = np.diff(np.searchsorted(base_keys, _group_starts(groups)))
    # the base's pairs last seen before the window
    senders -= np.bincount(base_keys[base_days < start] >> 32, minlength=groups)
    lacking = [run[0][run[1] < start] for run in day_runs]
    if lacking:
        # sorted runs: a stable sort merges them (np.unique hashes, 50 times slower here)
        added = np.sort(np.concatenate(lacking), kind="stable")
        senders += np.bincount(added[first_of_runs(added)] >> 32, minlength=groups)
    return senders


def _merged(
    base_keys: np.ndarray, base_days: np.ndarray, day_runs: dict[str, np.ndarray], start: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the sorted pairs of the base inside the window and of the runs, at their last day."""
    inside = base_days >= start
    keys, days = (base_keys, base_days) if inside.all() else (base_keys[inside], base_days[inside])
    if not day_runs:
        return keys, days
    runs = [
        (run[0], np.full(run.shape[1], day_number(day))) for day, run in sorted(day_runs.items())
    ]
    pairs, seen = _union(runs)
    merged_keys, merged_days = _merge_run(keys, days, pairs, seen)
    return merged_keys, merged_days


def _union(runs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct pairs of sorted ``runs`` of (pairs, days), each at its largest day."""
    if len(runs) == 1:
        return runs[0]
    if len(runs) <= MERGED_RUNS:
        # a few runs (the folding of day runs): merged one by one, each into the smaller union
        keys, days = runs[0]
        for pairs, seen in runs[1:]:
            keys, days = _merge_run(keys, days, pairs, seen)
        return keys, days
    keys = np.concatenate([np.zeros(0, np.int64), *(keys for keys, _ in runs)])
    days = np.concatenate([np.zeros(0, np.int64), *(days for _, days in runs)])
    if not len(keys):
        return keys, days
    # every run is sorted: a stable sort merges them; a pair of several days keeps the last
    order = np.argsort(keys, kind="stable")
    keys, days = keys[order], days[order]
    starts = np.flatnonzero(first_of_runs(keys))
    return keys[starts], np.maximum.reduceat(days, starts)


def _read_run(path: Path) -> np.ndarray:
    run: np.ndarray = np.load(path, mmap_mode="r")
    return np.asarray(run)


def recent_customers(folder: Path, manifest: Manifest) -> tuple[np.ndarray, np.ndarray]:
    """Return the rollup as sorted ``group_key << 32 | member_key`` and last day numbers.

    ``folder`` is the tenant's folder of the lake; an empty rollup gives empty arrays.
    """
    stored = manifest.recent_customers
    if not stored:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    base_keys, base_days = read_recent_customers(folder / stored["file"])
    start = day_number(stored["day"]) - (RECENT_DAYS - 1)
    day_runs = {
        day: _read_run(folder / name) for day, name in manifest.recent_customer_runs.items()
    }
    return _merged(base_keys, base_days, day_runs, start)


def read_recent_customers(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return a stored base's sorted ``group_key << 32 | member_key`` and last day numbers.

    A base stored as Parquet (by lakes written before the NumPy file) is read as well.
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


def recent_customers_table(folder: Path, manifest: Manifest) -> pa.Table:
    """Return the rollup as a table of ``RECENT_CUSTOMERS_SCHEMA``."""
    keys, days = recent_customers(folder, manifest)
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
    at, found = search_sorted(keys, pairs)
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
