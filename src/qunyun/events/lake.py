"""The event lake: append-only Parquet files per tenant and local day, published by a manifest.

Layout under ``$QUNYUN_HOME/lake/``::

    tenant=<slug>.lock                 one writer per tenant at a time (flock)
    tenant=<slug>/manifest.json        the files that exist for readers, replaced atomically
    tenant=<slug>/.writing             present while a writer works; left by one that died
    tenant=<slug>/events/day=YYYY-MM-DD/part-<uuid>.parquet   events (zstd)
    tenant=<slug>/ids/part-<uuid>.npy                          id index: sorted id hashes with
                                                               their day (deduplication), and
                                                               each run's directory
    tenant=<slug>/member_daily/day=YYYY-MM-DD/part-<uuid>.parquet  rollup: counts per member,
                                                               group and day
    tenant=<slug>/group_daily/day=YYYY-MM-DD/part-<uuid>.parquet   rollup: group daily
    tenant=<slug>/recent_customers/part-<uuid>.npy            rollup: customers' last message
                                                               day per group, last 28 days
                                                               (the base)
    tenant=<slug>/recent_customers/day=YYYY-MM-DD/part-<uuid>.npy  its day runs: a day's
                                                               customer pairs not yet in the base
    tenant=<slug>/group_health/part-<uuid>.npy                rollup: health figures per
                                                               group as of the last day
    tenant=<slug>/members/part-<uuid>.parquet                 member dictionary (dense keys)
    tenant=<slug>/groups/part-<uuid>.parquet                  group dictionary (dense keys)
    tenant=<slug>/key_index/part-<uuid>.arrow                 each dictionary's entries sorted by
                                                               hash (Arrow IPC): imports look
                                                               keys up here

A writer stages new files, moves them beside the published ones and then replaces the
manifest in one ``os.replace``: until that moment readers do not see them, and a writer that
fails leaves only files that no manifest names, which the next writer deletes (it looks for
them only when ``.writing`` is left over, so that a small write does not list the whole lake).
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from qunyun.core.errors import Conflict
from qunyun.core.settings import get_settings
from qunyun.events.sorted_arrays import is_sorted

if TYPE_CHECKING:
    import duckdb

    from qunyun.org.models import Tenant

LOCK_WAIT_SECONDS = 10.0
"""How long a writer waits for another writer of the same tenant (small batches queue up)."""

RETIRED_SECONDS = 15 * 60
"""How long files replaced by a write stay readable for readers of the previous manifest."""

COMPACT_FILES = 8
"""A day (or id bucket) with this many files or more is merged into one after an import."""

_DUCKDB_MEMORY = "4GB"


_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
_MIX = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))


def id_hashes(event_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Return a 64-bit hash (``uint64``) of each event id (no nulls).

    FNV-1a over every UTF-8 byte and the length, then the MurmurHash3 finaliser, computed
    here rather than by an engine's hash function: the id index stores these hashes, so they
    must never change with a library version. Equal hashes are only candidates; the index
    confirms a repeat against the stored ids.

    One step per byte position over the ids long enough to have it, in place: every id takes
    the positions below the shortest length, and only the longer ones the rest (ids of one
    length, as feeds send them, take no mask at all).
    """
    if isinstance(event_ids, pa.ChunkedArray):
        event_ids = event_ids.combine_chunks()
    count = len(event_ids)
    if count == 0:
        return np.zeros(0, dtype=np.uint64)
    if not pa.types.is_large_string(event_ids.type):
        event_ids = event_ids.cast(pa.string())
    wide = np.int64 if pa.types.is_large_string(event_ids.type) else np.int32
    offsets = np.frombuffer(event_ids.buffers()[1], dtype=wide)[
        event_ids.offset : event_ids.offset + count + 1
    ].astype(np.int64)
    data = np.frombuffer(event_ids.buffers()[2] or b"\0", dtype=np.uint8)
    starts = offsets[:-1]
    lengths = offsets[1:] - starts
    hashed = np.full(count, _FNV_OFFSET, dtype=np.uint64)
    rows: np.ndarray | None = None  # every row while all of them have the position
    at = starts.copy()
    shortest, longest = int(lengths.min()), int(lengths.max())
    for position in range(longest):
        if position >= shortest:
            live = (
                np.flatnonzero(lengths > position)
                if rows is None
                else rows[lengths[rows] > position]
            )
            rows, at = live, starts[live] + position
            values = hashed[rows]
            values ^= data[at]
            values *= _FNV_PRIME
            hashed[rows] = values
            continue
        np.bitwise_xor(hashed, data[at], out=hashed)
        hashed *= _FNV_PRIME
        at += 1
    hashed ^= lengths.astype(np.uint64)
    hashed *= _FNV_PRIME
    for multiplier in _MIX:
        hashed ^= hashed >> np.uint64(33)
        hashed *= multiplier
    hashed ^= hashed >> np.uint64(33)
    return hashed


def sql_path(path: Path) -> str:
    """Return ``path`` as a quoted SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def sql_paths(paths: list[Path]) -> str:
    """Return ``paths`` as a SQL list literal for ``read_parquet``."""
    return "[" + ", ".join(sql_path(path) for path in paths) + "]"


def read_parquet_sql(paths: list[Path]) -> str:
    """Return a ``read_parquet`` call over ``paths`` that takes no columns from folder names.

    The lake's folders (``tenant=…``, ``day=…``) look like Hive partitions; every column the
    lake needs is inside its files.
    """
    return f"read_parquet({sql_paths(paths)}, hive_partitioning = false)"


@dataclass
class Manifest:
    """The published files of one tenant's lake (paths relative to the tenant folder)."""

    tenant_created: str
    version: int = 0
    events: dict[str, list[str]] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)
    """Event ids by bucket, as lakes written before the id index held them (upgraded on write)."""
    id_runs: list[dict[str, Any]] = field(default_factory=list)
    """The id index: runs of ``{"file", "count", "directory"}``, oldest (largest) first (runs
    written before directories have none until the next write)."""
    member_daily: dict[str, list[str]] = field(default_factory=dict)
    group_daily: dict[str, list[str]] = field(default_factory=dict)
    recent_customers: dict[str, str] = field(default_factory=dict)
    """The recent-customers rollup's base: ``{"file", "day"}`` (the lake's last day), or empty."""
    recent_customer_runs: dict[str, str] = field(default_factory=dict)
    """The recent customers' day runs not yet folded into the base: day → file."""
    group_health: dict[str, str] = field(default_factory=dict)
    """The group-health figures as of the lake's last day: ``{"file", "day"}``, or empty."""
    members: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    key_index: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """The key index of each dictionary (``members``, ``groups``): runs of ``{"file",
    "count"}``, oldest (largest) first; only writers read it."""
    member_count: int = 0
    group_count: int = 0
    event_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the manifest as JSON-ready data."""
        return {
            "tenant_created": self.tenant_created,
            "version": self.version,
            "event_count": self.event_count,
            "member_count": self.member_count,
            "group_count": self.group_count,
            "events": self.events,
            "ids": self.ids,
            "id_runs": self.id_runs,
            "member_daily": self.member_daily,
            "group_daily": self.group_daily,
            "recent_customers": self.recent_customers,
            "recent_customer_runs": self.recent_customer_runs,
            "group_health": self.group_health,
            "members": self.members,
            "groups": self.groups,
            "key_index": self.key_index,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """Return the manifest stored as ``data``."""
        return cls(
            tenant_created=data["tenant_created"],
            version=data["version"],
            events={day: list(files) for day, files in data["events"].items()},
            ids={bucket: list(files) for bucket, files in data.get("ids", {}).items()},
            id_runs=[dict(run) for run in data.get("id_runs", [])],
            member_daily={day: list(files) for day, files in data.get("member_daily", {}).items()},
            group_daily={day: list(files) for day, files in data.get("group_daily", {}).items()},
            recent_customers=dict(data.get("recent_customers", {})),
            recent_customer_runs=dict(data.get("recent_customer_runs", {})),
            group_health=dict(data.get("group_health", {})),
            members=list(data["members"]),
            groups=list(data["groups"]),
            key_index={
                name: [dict(run) for run in runs]
                for name, runs in data.get("key_index", {}).items()
            },
            member_count=data["member_count"],
            group_count=data["group_count"],
            event_count=data["event_count"],
        )

    def files(self) -> set[str]:
        """Return every file the manifest names."""
        named = set(self.members) | set(self.groups) | {run["file"] for run in self.id_runs}
        named.update(run["directory"] for run in self.id_runs if "directory" in run)
        named.update(self.recent_customer_runs.values())
        named.update(run["file"] for runs in self.key_index.values() for run in runs)
        for stored in (self.recent_customers, self.group_health):
            if stored:
                named.add(stored["file"])
        for area in (self.events, self.ids, self.member_daily, self.group_daily):
            for files in area.values():
                named.update(files)
        return named


def tenant_lake(tenant: Tenant, root: Path | None = None) -> TenantLake:
    """Return the lake of ``tenant`` (under ``$QUNYUN_HOME/lake`` unless ``root`` is given)."""
    return TenantLake(root or get_settings().home / "lake", tenant.slug, tenant.created_at)


@functools.lru_cache(maxsize=4)
def _group_ids(paths: tuple[str, ...]) -> pa.Array:
    files = [
        pq.read_table(path, columns=["group_key", "group_id"], partitioning=None) for path in paths
    ]
    if not files:
        return pa.array([], pa.string())
    groups = pa.concat_tables(files)
    keys = np.asarray(groups.column("group_key").to_numpy(), dtype=np.int64)
    ids = groups.column("group_id").combine_chunks()
    # the files hold their keys in order, one after the other: mostly nothing to sort
    return ids if is_sorted(keys) else ids.take(pa.array(np.argsort(keys)))


class TenantLake:
    """One tenant's folder of the lake.

    ``created`` (the tenant's creation time) tells this tenant from a deleted one that had the
    same slug: a lake left by the deleted one is set aside, never mixed in.
    """

    def __init__(self, root: Path, slug: str, created: datetime) -> None:
        self.root = root
        self.slug = slug
        self.created = created.isoformat()
        self.folder = root / f"tenant={slug}"
        self.lock_path = root / f"tenant={slug}.lock"

    # --- reading --------------------------------------------------------------------------

    def manifest(self) -> Manifest:
        """Return the published manifest, empty when nothing (of this tenant) was written."""
        path = self.folder / "manifest.json"
        if not path.exists():
            return Manifest(self.created)
        stored = Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if stored.tenant_created != self.created:
            return Manifest(self.created)
        return stored

    def paths(self, names: list[str]) -> list[Path]:
        """Return the absolute paths of manifest entries."""
        return [self.folder / name for name in names]

    def group_ids(self, manifest: Manifest) -> pa.Array:
        """Return every group id of the dictionary at the position of its dense key.

        Dictionary files never change (a new version has new names), so the ids of one list
        of files are read once per process: what follows an import (that day's group daily,
        then health) asks twice.
        """
        return _group_ids(tuple(str(path) for path in self.paths(manifest.groups)))

    def member_daily_files(self, manifest: Manifest) -> list[Path]:
        """Return the member-daily rollup files, oldest day first."""
        return self._rollup_files(manifest.member_daily)

    def group_daily_files(self, manifest: Manifest) -> list[Path]:
        """Return the group-daily rollup files, oldest day first."""
        return self._rollup_files(manifest.group_daily)

    def _rollup_files(self, files_of_day: dict[str, list[str]]) -> list[Path]:
        return [self.folder / name for day in sorted(files_of_day) for name in files_of_day[day]]

    def event_files(self, manifest: Manifest, days: list[str] | None = None) -> list[Path]:
        """Return the event files of ``days`` (every day when None), oldest day first."""
        chosen = sorted(manifest.events) if days is None else sorted(days)
        return [self.folder / name for day in chosen for name in manifest.events.get(day, [])]

    # --- writing --------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[LakeWriter]:
        """Hold the tenant's write lock and yield a writer whose work ``commit`` publishes.

        Raise Conflict when another writer still holds the lake after ``LOCK_WAIT_SECONDS``.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as lock:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Conflict(
                            f"租户 {self.slug} 的事件库正被另一个进程写入，请稍后再试"
                        ) from None
                    time.sleep(0.05)
            try:
                self._set_aside_stale()
                manifest = self.manifest()
                writing = self.folder / ".writing"
                if writing.exists():
                    # the last writer did not finish cleanly: sweep what it may have left
                    self._remove_unpublished(manifest)
                else:
                    self._expire_retired()
                staging = self.folder / ".staging" / uuid.uuid4().hex
                staging.mkdir(parents=True)
                writing.touch()
                writer = LakeWriter(self, manifest, staging)
                try:
                    yield writer
                finally:
                    writer.close()
                    shutil.rmtree(staging, ignore_errors=True)
                writing.unlink()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _set_aside_stale(self) -> None:
        path = self.folder / "manifest.json"
        if not path.exists():
            return
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("tenant_created") != self.created:
            aside = self.root / ".deleted" / f"tenant={self.slug}-{uuid.uuid4().hex[:8]}"
            aside.parent.mkdir(parents=True, exist_ok=True)
            self.folder.rename(aside)

    def _expire_retired(self) -> None:
        """Delete retired files older than ``RETIRED_SECONDS`` (caller holds the lock)."""
        expired = time.time() - RETIRED_SECONDS
        folder = self.folder / ".retired"
        if not folder.is_dir():
            return
        # scandir rather than glob: every write looks, and a busy hour retires thousands
        with os.scandir(folder) as entries:
            for retired in entries:
                if int(retired.name.split("-", 1)[0]) < expired:
                    os.unlink(retired.path)

    def _remove_unpublished(self, manifest: Manifest) -> None:
        """Delete files that a failed writer left and no manifest names (caller holds the lock)."""
        if not self.folder.exists():
            return
        shutil.rmtree(self.folder / ".staging", ignore_errors=True)
        for temporary in self.folder.glob("manifest.json.*"):
            temporary.unlink()
        self._expire_retired()
        named = manifest.files()
        for kind in (
            "events",
            "ids",
            "member_daily",
            "group_daily",
            "recent_customers",
            "group_health",
            "members",
            "groups",
            "key_index",
        ):
            for path in (self.folder / kind).rglob("*.*"):
                if path.is_file() and str(path.relative_to(self.folder)) not in named:
                    path.unlink()


class LakeWriter:
    """Stages files for one tenant and publishes them all at once (see ``TenantLake.writing``)."""

    def __init__(self, lake: TenantLake, manifest: Manifest, staging: Path) -> None:
        self.lake = lake
        self.manifest = manifest
        self.staging = staging
        self.moved: list[Path] = []
        self.obsolete: list[Path] = []
        self.unread: list[Path] = []
        self._connection: duckdb.DuckDBPyConnection | None = None

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The writer's DuckDB session, opened on first use (a rollup refresh needs none)."""
        if self._connection is None:
            import duckdb  # on first use: a plan only asks the lake whether it has events

            self._connection = duckdb.connect(
                config={
                    "memory_limit": _DUCKDB_MEMORY,
                    "temp_directory": str(self.staging / "spill"),
                    "preserve_insertion_order": False,
                }
            )
        return self._connection

    def close(self) -> None:
        """Release the DuckDB connection; moved files that were not published are removed."""
        if self._connection is not None:
            self._connection.close()
        for path in self.moved:
            path.unlink(missing_ok=True)

    def scratch(self, name: str) -> Path:
        """Return a fresh folder inside the staging area."""
        path = self.staging / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def publish(self, staged: Path, kind: str) -> list[tuple[str, str]]:
        """Move the files under ``staged`` into the tenant folder's ``kind`` area.

        Return ``(partition, relative path)`` per file; the partition is the ``day=…`` or
        ``bucket=…`` folder name's value, or ``""``.
        """
        placed = []
        for path in sorted(path for path in staged.rglob("*") if path.is_file()):
            partition_folder = path.parent.relative_to(staged)
            partition = (
                str(partition_folder).split("=", 1)[1] if "=" in str(partition_folder) else ""
            )
            target_folder = self.lake.folder / kind / partition_folder
            target_folder.mkdir(parents=True, exist_ok=True)
            target = target_folder / f"part-{uuid.uuid4().hex}{path.suffix}"
            os.replace(path, target)
            self.moved.append(target)
            placed.append((partition, str(target.relative_to(self.lake.folder))))
        return placed

    def place(self, kind: str, partition: str, suffix: str) -> tuple[Path, str]:
        """Return the path of a new file of ``kind`` beside the published ones, and its name.

        ``partition`` is a folder such as ``day=…``, or "". For a file written there directly instead of staged and published: like a published
        file it is removed if the writer closes without a commit, and a writer that dies
        leaves it unnamed by any manifest, so the next writer deletes it.
        """
        folder = self.lake.folder / kind / partition
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"part-{uuid.uuid4().hex}{suffix}"
        self.moved.append(target)
        return target, str(target.relative_to(self.lake.folder))

    def retire(self, names: list[str]) -> None:
        """Mark published files to delete once the new manifest is in place."""
        self.obsolete.extend(self.lake.folder / name for name in names)

    def drop(self, names: list[str]) -> None:
        """Mark published files that only writers read (the id index) to delete at commit.

        Readers never open them, so they need no time in ``.retired``.
        """
        self.unread.extend(self.lake.folder / name for name in names)

    def commit(self) -> None:
        """Publish the staged changes: replace the manifest atomically, then retire old files.

        Retired files (merged by compaction, replaced rollups) move to ``.retired/`` and are
        deleted ``RETIRED_SECONDS`` later, so that a reader that took the previous manifest
        a moment ago can still read them.
        """
        self.manifest.version += 1
        folder = self.lake.folder
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f"manifest.json.{uuid.uuid4().hex}"
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(self.manifest.as_dict(), handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, folder / "manifest.json")
        self.moved = []
        for path in self.unread:
            path.unlink(missing_ok=True)
        self.unread = []
        retired = folder / ".retired"
        retired.mkdir(exist_ok=True)
        stamp = int(time.time())
        for path in self.obsolete:
            if path.exists():
                os.replace(path, retired / f"{stamp}-{uuid.uuid4().hex}{path.suffix}")
        self.obsolete = []
