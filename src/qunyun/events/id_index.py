"""The lake's id index: which event ids a tenant already has, as runs of sorted 64-bit hashes.

A run is one ``.npy`` file of shape (2, n), ``uint64``: the sorted hashes (``id_hashes``) of n
stored event ids and, beside each, the local day of its event (days since 1970-01-01), with
a **directory** (another ``.npy``: where each hash prefix of about log2 n bits starts). A
probe looks each of the batch's hashes up among the one or two entries of its prefix in
every run, memory-mapped, so that it reads the pages it touches rather than the lake; a hash found is only a candidate, which
the ids of that day's event files confirm or refute, so a collision never drops an event.

An import adds one run; the new run is merged into the newest stored one while it is at
least half that one's size and the two hold at most ``MAX_RUN_IDS``: a lake of n ids keeps
a few runs per doubling, and each hash is rewritten a few times over its life.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qunyun.events.lake import LakeWriter, id_hashes

MERGE_RATIO = 2
"""A new run is merged into the newest stored run while ``new * MERGE_RATIO >= stored``."""

_EPOCH = np.datetime64("1970-01-01", "D")


def day_name(day: int) -> str:
    """Return the partition name (YYYY-MM-DD) of a day given as days since 1970-01-01."""
    return str(_EPOCH + np.timedelta64(int(day), "D"))


def day_number(day: str) -> int:
    """Return the day of a partition name (YYYY-MM-DD) as days since 1970-01-01."""
    return int((np.datetime64(day, "D") - _EPOCH).astype(np.int64))


def day_numbers(days: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Return ``date32`` values as days since 1970-01-01 (``int64``)."""
    return np.asarray(days.cast(pa.int32()).to_numpy(), dtype=np.int64)


def distinct_days(days: np.ndarray) -> np.ndarray:
    """Return the distinct day numbers of ``days``, in order.

    A count over the days' span rather than ``np.unique``, which hashes (NumPy 2.4 took
    0.06 s for the one day of 1.1 M events, 0.66 s for 1.1 M values of 50,000).
    """
    if not len(days):
        return np.zeros(0, dtype=np.int64)
    numbers = np.asarray(days, dtype=np.int64)
    low = int(numbers.min())
    return np.flatnonzero(np.bincount(numbers - low)) + low


MAX_RUN_IDS = 1 << 26
"""Runs are not merged beyond this many ids (1 GiB), so that a merge needs bounded memory:
a lake of 10^9 events keeps about 15 full runs, and a probe searches each."""


def _merged(runs: list[np.ndarray]) -> np.ndarray:
    """Return one run holding the entries of ``runs`` (each sorted), sorted by hash."""
    merged = np.asarray(runs[0])
    for run in runs[1:]:
        newer = np.asarray(run)
        # each newer entry goes after the older entries with a hash not above its own
        at = np.searchsorted(merged[0], newer[0], "right") + np.arange(newer.shape[1])
        out = np.empty((2, merged.shape[1] + newer.shape[1]), dtype=np.uint64)
        older = np.ones(out.shape[1], dtype=bool)
        older[at] = False
        for row in range(2):
            # row views: NumPy's mixed (row, index) indexing of the 2-D array was 5 times
            # slower (a run of 1.1 M ids into one of 20 M: 1.89 s of CPU, 0.33 s by rows)
            target = out[row]
            target[at] = newer[row]
            target[older] = merged[row]
        merged = out
    return merged


PROBE_THREADS = 2
"""Threads that search a batch's hashes in the runs (the machines have 2 cores)."""

PROBE_SPLIT_IDS = 1 << 16
"""Batches of at least this many ids are searched in parts on ``PROBE_THREADS`` threads: the
search of 1.1 M hashes in the runs of 10^8 ids is the largest step of an import."""


def directory(hashes: np.ndarray) -> np.ndarray:
    """Return a run's directory: where each ``2^k`` prefix of its sorted hashes starts.

    ``k`` is the largest with ``2^k`` at most the run's size, so a prefix holds one or two
    hashes on average (hashes are uniform); the directory has ``2^k + 1`` entries (``uint32``:
    runs stop at ``MAX_RUN_IDS``), about 2 bytes per id.
    """
    bits = _prefix_bits(len(hashes))
    counts = np.bincount((hashes >> np.uint64(64 - bits)).astype(np.int64), minlength=1 << bits)
    starts = np.zeros(len(counts) + 1, dtype=np.uint32)
    np.cumsum(counts, out=starts[1:])
    return starts


def _prefix_bits(count: int) -> int:
    return max(int(count).bit_length() - 1, 1)


def _candidates(
    run: np.ndarray, starts: np.ndarray, wanted: np.ndarray, start: int, end: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the positions of ``wanted[start:end]`` whose hash ``run`` holds.

    A position comes once per equal entry of the run, with that entry's day; positions count
    from the start of ``wanted``. ``starts`` is the run's directory: each hash is compared
    with the few entries of its prefix only, one round per entry, instead of a binary
    search (a 61 M-id run: 1.1 M hashes looked up in 0.09–0.13 s against 0.40 s, whose ~26
    dependent reads per hash miss the cache).
    """
    hashes = np.asarray(run[0])  # a plain array over the mapping: no memmap wrapper per call
    part = wanted[start:end]
    prefix = (part >> np.uint64(64 - _prefix_bits(len(hashes)))).astype(np.int64)
    at = starts[prefix].astype(np.int64)
    stop = starts[prefix + 1].astype(np.int64)
    live = np.flatnonzero(at < stop)
    at, stop = at[live], stop[live]
    found: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    while len(live):
        stored = hashes[at]
        needed = part[live]
        same = stored == needed
        if same.any():
            # hits are rare (repeats and collisions); equal hashes are neighbours
            found.append(live[same])
            positions.append(at[same])
        more = (stored <= needed) & (at + 1 < stop)
        live, at, stop = live[more], at[more] + 1, stop[more]
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.astype(np.uint64)
    days = np.asarray(run[1])[np.concatenate(positions)]
    return np.concatenate(found) + start, days


class IdIndex:
    """The id index of one writer: the published runs and the runs of the current import.

    ``staged_files(day)`` returns the event files this import has written for ``day`` so far;
    their ids confirm repeats of ids seen earlier in the same import.
    """

    def __init__(self, writer: LakeWriter, staged_files: Callable[[str], list[Path]]) -> None:
        self.writer = writer
        self.staged_files = staged_files
        self.retired_files = 0
        self.stored_runs = [
            np.load(writer.lake.folder / run["file"], mmap_mode="r")
            for run in writer.manifest.id_runs
        ]
        # runs written before directories existed get one here, published by ``write``
        self.directories = [
            np.load(writer.lake.folder / run["directory"], mmap_mode="r")
            if "directory" in run
            else None
            for run in writer.manifest.id_runs
        ]
        self.added: list[np.ndarray] = []
        if writer.manifest.ids:
            self._upgrade()

    def _upgrade(self) -> None:
        """Index a lake written before the id index (ids by bucket) from its event files."""
        manifest = self.writer.manifest
        hashes, days = [], []
        for path in self.writer.lake.event_files(manifest):
            table = pq.read_table(str(path), columns=["event_id", "day"], partitioning=None)
            hashes.append(id_hashes(table.column("event_id")))
            days.append(day_numbers(table.column("day")))
        buckets = [name for files in manifest.ids.values() for name in files]
        self.writer.retire(buckets)
        self.retired_files += len(buckets)
        self.writer.drop([run["file"] for run in manifest.id_runs])
        self.writer.drop([run["directory"] for run in manifest.id_runs if "directory" in run])
        manifest.ids = {}
        manifest.id_runs = []
        self.stored_runs = []
        self.directories = []
        if hashes:
            entries = np.stack([np.concatenate(hashes), np.concatenate(days).astype(np.uint64)])
            self._publish(entries[:, np.argsort(entries[0])])

    def candidates(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the positions in ``wanted`` (sorted hashes) that a run holds, with its days.

        A position comes once per equal entry of a run; a candidate is a repeated id or a
        collision, which only the stored ids tell apart.
        """
        for number, run in enumerate(self.stored_runs):
            if self.directories[number] is None:
                self.directories[number] = directory(np.asarray(run[0]))
        runs = [
            (run, np.asarray(starts))
            for run, starts in zip(
                [*self.stored_runs, *self.added],
                [*self.directories, *(directory(run[0]) for run in self.added)],
                strict=True,
            )
            if run.shape[1] and starts is not None
        ]
        # NumPy's loops leave the GIL: a large batch is searched in halves on two threads
        pieces = PROBE_THREADS if len(wanted) >= PROBE_SPLIT_IDS else 1
        bounds = np.linspace(0, len(wanted), pieces + 1).astype(np.int64).tolist()
        tasks = [
            (run, starts, start, end)
            for run, starts in runs
            for start, end in itertools.pairwise(bounds)
        ]
        with ThreadPoolExecutor(pieces) as pool:
            found = list(
                pool.map(
                    lambda task: _candidates(task[0], task[1], wanted, task[2], task[3]), tasks
                )
            )
        empty = np.zeros(0, dtype=np.int64)
        rows = np.concatenate([empty, *(rows for rows, _ in found)])
        days = np.concatenate([empty.astype(np.uint64), *(days for _, days in found)])
        return rows, days

    def stored(self, event_ids: pa.Array, wanted: np.ndarray, order: np.ndarray) -> np.ndarray:
        """Return which of the rows ``order`` the tenant already has.

        The rows are positions in ``event_ids``, ``wanted`` their hashes (sorted); the result
        is a mask over ``order``.
        """
        rows, days = self.candidates(wanted)
        known = np.zeros(len(order), dtype=bool)
        for day in distinct_days(days):
            picked = np.unique(rows[days == day])
            stored = self._ids_of_day(day_name(int(day)))
            same = pc.is_in(event_ids.take(pa.array(order[picked])), value_set=stored)
            known[picked] |= np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
        return known

    def _ids_of_day(self, day: str) -> pa.Array:
        manifest = self.writer.manifest
        files = [*self.writer.lake.event_files(manifest, [day]), *self.staged_files(day)]
        chunks = [
            chunk
            for path in files
            for chunk in pq.read_table(str(path), columns=["event_id"], partitioning=None)
            .column(0)
            .chunks
        ]
        return pa.chunked_array(chunks, pa.string()).combine_chunks()

    def add(self, hashes: np.ndarray, days: np.ndarray) -> None:
        """Remember the ids of new events (``hashes`` sorted) for the rest of the import."""
        self.added.append(np.stack([hashes, days.astype(np.uint64)]))

    def write(self, *, merge_all: bool = False) -> None:
        """Add the import's run to the manifest, merged with the newest runs of similar size.

        With ``merge_all`` every run becomes one (compaction).
        """
        runs = self.writer.manifest.id_runs
        if self.added:
            pending = _merged(self.added)
            self.added = []
        elif merge_all and len(runs) >= 2 and runs[-1]["count"] + runs[-2]["count"] <= MAX_RUN_IDS:
            pending = self._take_newest_run()
        else:
            return
        while (
            runs
            and (merge_all or pending.shape[1] * MERGE_RATIO >= runs[-1]["count"])
            and pending.shape[1] + runs[-1]["count"] <= MAX_RUN_IDS
        ):
            pending = _merged([self._take_newest_run(), pending])
        for number, run in enumerate(runs):
            starts = self.directories[number]
            if "directory" not in run and starts is not None:
                # a run of a lake written before directories: store the one computed here
                run["directory"] = self._save("id-directory", np.asarray(starts))
        self._publish(pending)

    def _take_newest_run(self) -> np.ndarray:
        run = self.writer.manifest.id_runs.pop()
        self.stored_runs.pop()
        self.directories.pop()
        self.writer.drop([run["file"], *([run["directory"]] if "directory" in run else [])])
        self.retired_files += 1
        return np.asarray(np.load(self.writer.lake.folder / run["file"]))

    def _save(self, name: str, array: np.ndarray) -> str:
        folder = self.writer.scratch(name)
        np.save(folder / "part.npy", array)
        ((_, published),) = self.writer.publish(folder, "ids")
        return published

    def _publish(self, run: np.ndarray) -> None:
        starts = directory(run[0])
        name = self._save("id-run", run)
        self.writer.manifest.id_runs.append(
            {
                "file": name,
                "count": int(run.shape[1]),
                "directory": self._save("id-directory", starts),
            }
        )
        self.stored_runs.append(np.load(self.writer.lake.folder / name, mmap_mode="r"))
        self.directories.append(starts)
